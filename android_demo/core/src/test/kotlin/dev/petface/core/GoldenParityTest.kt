package dev.petface.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.concurrent.TimeUnit
import kotlin.math.abs

/**
 * The Kotlin core against the Python runtime's golden results, end to end: decoded RGB ->
 * PIL-exact resize -> contract -> the real exported .tflite in LiteRT -> embedding -> gallery.
 */
class GoldenParityTest {
    private val golden = Golden.instance

    private fun kotlinEmbeddings(artifactId: String): Map<String, FloatArray> = kotlinEmbeddings.getOrPut(artifactId) {
        PetEmbedder(golden.manifest.artifact(artifactId), LiteRtRunner(golden.modelFile(artifactId), Golden.litertLibrary)).use { e ->
            golden.images.associate { it.id to e.embed(golden.decoded(it)) }
        }
    }

    private fun checkCosines(artifactId: String, minimum: Double) {
        val python = golden.embeddings(artifactId)
        val kotlin = kotlinEmbeddings(artifactId)
        val cosines = golden.images.associate { it.id to Vectors.cosine(kotlin.getValue(it.id), python.getValue(it.id)) }
        val worst = cosines.minByOrNull { it.value }!!
        println("$artifactId: ${cosines.size} images, min cosine to Python ${"%.7f".format(worst.value)} (${worst.key})")
        for ((id, c) in cosines) assertTrue(c >= minimum, "$artifactId $id: cosine $c to Python's embedding < $minimum")
    }

    @Test
    fun `FP32 tflite embeddings match Python per image`() = checkCosines("tflite-fp32", 0.9999)

    @Test
    fun `INT8 tflite embeddings match Python's INT8 per image`() = checkCosines("tflite-int8", 0.999)

    @Test
    fun `identify gives Python's top-1 and accepted flags on the golden gallery`() {
        val artifact = golden.manifest.artifact(golden.galleryArtifact)
        val threshold = golden.galleryThreshold
        val vectors = kotlinEmbeddings(artifact.id)
        val gallery = Gallery(golden.manifest.fingerprint, artifact.output.dim, artifact.id)
        for ((name, images) in golden.enrolled) gallery.enroll(name, images.map { vectors.getValue(it) })
        var worstScore = 0.0
        var correct = 0
        for (q in golden.queries) {
            val ours = gallery.identify(vectors.getValue(q.image), threshold, topK = q.matches.size)
            assertEquals(q.matches.first().name, ours.first().name, "query ${q.image}: top-1")
            val oursByName = ours.associateBy { it.name }
            for (expected in q.matches) {
                val mine = oursByName[expected.name] ?: continue // a near-tie at rank 5 may swap who is listed
                assertEquals(expected.accepted, mine.accepted, "query ${q.image}: accepted flag for ${expected.name}")
                worstScore = maxOf(worstScore, abs(expected.score - mine.score))
            }
            if (q.expected != null && ours.first().name == q.expected && ours.first().accepted) correct++
        }
        assertTrue(worstScore < 1e-3, "scores differ from Python's by up to $worstScore")
        println("identify: ${golden.queries.size} queries, top-1 and accepted flags identical to Python; " +
            "max score difference ${"%.2e".format(worstScore)}; $correct/${golden.queries.count { it.expected != null }} " +
            "enrolled pets identified and accepted at threshold ${"%.4f".format(threshold)}")
    }

    @Test
    fun `identify policy decides like Python for strangers and enrolled pets at two gallery sizes`() {
        val artifact = golden.manifest.artifact(golden.identifyArtifact)
        val vectors = kotlinEmbeddings(artifact.id)  // end to end: Kotlin's own LiteRT embeddings
        assertEquals(listOf(8, 24), golden.identifySizes.map { it.templates })
        for (size in golden.identifySizes) {
            val gallery = Gallery(golden.manifest.fingerprint, artifact.output.dim, artifact.id)
            for ((name, images) in golden.enrolled.take(size.pets)) gallery.enroll(name, images.map { vectors.getValue(it) })
            var strangersAccepted = 0
            var petsAccepted = 0
            for (d in size.decisions) {
                val result = gallery.identify(vectors.getValue(d.image), artifact.decisions, topK = 1)
                assertEquals(size.templates, result.operatingPoint.gallerySize)
                assertEquals(size.fpir, result.operatingPoint.target)
                assertEquals(size.threshold, result.operatingPoint.threshold, 1e-12, "${size.pets} pets: threshold")
                assertEquals(d.top1, result.matches.first().name, "${size.pets} pets, query ${d.image}: top-1")
                assertEquals(d.accepted, result.matches.first().accepted, "${size.pets} pets, query ${d.image}: accepted")
                if (d.accepted) { if (d.expected == null) strangersAccepted++ else petsAccepted++ }
            }
            println("identify at ${size.templates} templates (threshold ${"%.4f".format(size.threshold)}, FPIR ${size.fpir}): " +
                "${size.decisions.size} decisions identical to Python; strangers accepted $strangersAccepted/" +
                "${size.decisions.count { it.expected == null }}, enrolled accepted $petsAccepted/${size.decisions.count { it.expected != null }}")
        }
    }

    /** The golden gallery built from Python's own embeddings, as the Python gallery would hold it. */
    private fun pythonGallery(): Gallery {
        val artifact = golden.manifest.artifact(golden.galleryArtifact)
        val python = golden.embeddings(artifact.id)
        return Gallery(golden.manifest.fingerprint, artifact.output.dim, artifact.id).apply {
            for ((name, images) in golden.enrolled) enroll(name, images.map { python.getValue(it) })
        }
    }

    @Test
    fun `a gallery file written by Python opens in Kotlin and answers alike`(@TempDir dir: File) {
        val file = File(dir, "python.gallery")
        python("write", file)
        val fromPython = GalleryFile.read(file, fingerprint = golden.manifest.fingerprint, dim = golden.manifest.embeddingDim)
        val expected = pythonGallery()
        assertEquals(expected.entries().map { it.first }, fromPython.entries().map { it.first })
        for ((name, templates) in expected.entries()) {
            templates.zip(fromPython.templates(name)).forEach { (a, b) -> assertArrayEquals(a, b, 1e-6f, name) }
        }
        val python = golden.embeddings(golden.galleryArtifact)
        for (q in golden.queries) {
            val ours = fromPython.identify(python.getValue(q.image), golden.galleryThreshold, q.matches.size)
            assertEquals(q.matches.map { it.name to it.accepted }, ours.map { it.name to it.accepted }, "query ${q.image}")
        }
    }

    @Test
    fun `a gallery file written by Kotlin opens in Python and answers alike`(@TempDir dir: File) {
        val file = File(dir, "kotlin.gallery")
        GalleryFile.write(file, pythonGallery())
        val answers = python("search", file).trim().lines()
        assertEquals(golden.queries.size, answers.size, "Python answered ${answers.size} queries")
        for ((q, line) in golden.queries.zip(answers)) {
            assertEquals(q.matches.joinToString(" ") { "${it.name}:${it.accepted}" }, line, "query ${q.image}")
        }
    }

    companion object {
        /** Kotlin embeddings of every golden image per artifact, computed once from the decoded (not pre-resized) pixels. */
        private val kotlinEmbeddings = HashMap<String, Map<String, FloatArray>>()
    }

    /**
     * Runs the project's Python gallery code (`petface_edge.runtime.gallery`) on [file]:
     * "write" saves the golden gallery from Python's embeddings; "search" loads [file] and prints,
     * per golden query, the top matches as `name:accepted`.
     */
    private fun python(command: String, file: File): String {
        val script = """
            import json, sys
            import numpy as np
            from petface_edge.runtime.gallery import Gallery
            from petface_edge.runtime.gallery_file import GalleryData, write_gallery
            command, path, golden_dir = sys.argv[1:4]
            g = json.load(open(golden_dir + "/golden.json"))
            emb = g["embeddings"][g["gallery"]["artifact"]]
            if command == "write":
                pets = {}
                for p in g["gallery"]["enrolled"]:
                    v = np.array([emb[i] for i in p["images"]], dtype=np.float32)
                    pets[p["name"]] = v / np.linalg.norm(v, axis=1, keepdims=True)
                write_gallery(path, GalleryData(g["fingerprint"], v.shape[1], pets, g["gallery"]["artifact"]))
            else:
                gallery = Gallery.load(path, search="exact")
                for q in g["gallery"]["queries"]:
                    matches = gallery.search(np.array(emb[q["image"]], dtype=np.float32), len(q["matches"]), g["gallery"]["threshold"])
                    print(" ".join(f"{m.name}:{'true' if m.accepted else 'false'}" for m in matches))
        """.trimIndent()
        val process = ProcessBuilder(Golden.python.path, "-c", script, command, file.path, golden.dir.path)
            .redirectErrorStream(true).start()
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "python $command timed out")
        assertEquals(0, process.exitValue(), "python $command failed:\n$output")
        return output
    }
}
