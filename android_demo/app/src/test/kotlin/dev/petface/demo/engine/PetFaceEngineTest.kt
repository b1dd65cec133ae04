package dev.petface.demo.engine

import dev.petface.core.Golden
import dev.petface.core.LiteRtRunner
import dev.petface.core.Manifest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

/**
 * The app's engine end to end on the JVM, with the real FP32 .tflite standing in for the
 * Interpreter: enroll the golden pets from their decoded photos, identify the golden queries,
 * and keep the gallery across restarts.
 */
class PetFaceEngineTest {
    private val golden = Golden.instance

    private fun engine(manifest: Manifest, galleryFile: File): PetFaceEngine {
        val plan = ArtifactChoice.plan(manifest, { File(golden.dir, it).isFile }, gpuAvailable = false, forced = golden.galleryArtifact)
        return PetFaceEngine(manifest, plan, LiteRtRunner(golden.modelFile(plan.artifact.id), Golden.litertLibrary), galleryFile)
    }

    private fun photo(id: String) = golden.decoded(golden.images.first { it.id == id })

    @Test
    fun `enroll, identify like Python, and survive a restart`(@TempDir dir: File) {
        val file = File(dir, "pets.gallery")
        engine(golden.manifest, file).use { e ->
            assertNull(e.notice)
            for ((name, images) in golden.enrolled) e.enroll(name, images.map(::photo))
            assertEquals(golden.enrolled.map { it.first }.sorted(), e.pets().map { it.name })
            for (q in golden.queries) {
                val result = e.identify(photo(q.image), topK = q.matches.size)
                assertEquals(q.matches.first().name, result.matches.first().name, "query ${q.image}")
                assertEquals(q.matches.first().accepted, result.best != null, "query ${q.image}")
                assertTrue(result.embedMillis > 0)
            }
            e.rename(golden.enrolled[0].first, "Renamed")
            e.remove(golden.enrolled[1].first)
        }
        engine(golden.manifest, file).use { e ->
            val expected = (golden.enrolled.drop(2).map { it.first } + "Renamed").sorted()
            assertEquals(expected, e.pets().map { it.name })
            assertEquals(golden.enrolled[0].second.size, e.pets().first { it.name == "Renamed" }.photos)
        }
    }

    @Test
    fun `a gallery from another model is set aside, not mixed in`(@TempDir dir: File) {
        val file = File(dir, "pets.gallery")
        engine(golden.manifest, file).use { it.enroll("Luna", listOf(photo(golden.images[0].id))) }
        val retrained = golden.manifest.copy(fingerprint = "another-training-run")
        engine(retrained, file).use { e ->
            assertTrue(e.notice!!.contains("re-enroll"), e.notice)
            assertEquals(emptyList<PetSummary>(), e.pets())
        }
        assertEquals(1, dir.listFiles()!!.count { it.name.startsWith("pets.gallery.unusable-") }, "old gallery kept aside")
    }
}
