package dev.petface.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.math.ln

class ManifestTest {
    private val golden = Golden.instance

    @Test
    fun `reads the exported manifest's tflite contracts`() {
        val m = golden.manifest
        assertEquals(golden.fingerprint, m.fingerprint)
        assertEquals(golden.imageSize, m.imageSize)
        val fp32 = m.artifact("tflite-fp32")
        assertEquals(Layout.NHWC, fp32.input.layout)
        assertEquals(DType.FLOAT32, fp32.input.dtype)
        assertNull(fp32.input.quantization)
        val int8 = m.artifact("tflite-int8")
        assertEquals(DType.INT8, int8.input.dtype)
        assertEquals(DType.INT8, int8.output.dtype)
        assertTrue(int8.input.quantization!!.scale > 0 && int8.output.quantization!!.scale > 0)
        for (a in listOf(fp32, int8)) {
            assertEquals(m.imageSize, a.input.size)
            assertEquals(m.embeddingDim, a.output.dim)
            assertTrue(a.decisions.verifyPoint().threshold in -1.0..1.0, "threshold ${a.decisions.verifyPoint()}")
        }
        val templates = golden.enrolled.sumOf { it.second.size }
        assertEquals(golden.galleryThreshold, m.artifact(golden.galleryArtifact).decisions.identifyPoint(templates).threshold, 1e-12)
    }

    @Test
    fun `the contract in the manifest is the contract inside the tflite file`() {
        for (id in listOf("tflite-fp32", "tflite-int8")) {
            val artifact = golden.manifest.artifact(id)
            LiteRtRunner(golden.modelFile(id), Golden.litertLibrary).use { runner ->
                val s = artifact.input.size
                // The model declares batch -1 where the manifest says "any batch" (null).
                assertEquals(listOf(artifact.input.batch ?: -1, s, s, 3), runner.input.shape, "$id input shape")
                assertEquals(artifact.input.dtype.name.lowercase(), runner.input.dtype, "$id input dtype")
                assertEquals(artifact.output.dtype.name.lowercase(), runner.output.dtype, "$id output dtype")
                assertEquals(artifact.output.dim, runner.output.shape.last(), "$id output dim")
                for ((fromManifest, fromModel) in listOf(artifact.input.quantization to runner.input.quantization,
                    artifact.output.quantization to runner.output.quantization)) {
                    assertEquals(fromManifest?.zeroPoint, fromModel?.zeroPoint, "$id zero point")
                    if (fromManifest != null) assertEquals(fromModel!!.scale, fromManifest.scale, fromModel.scale * 1e-6, "$id scale")
                }
            }
        }
    }

    private val minimal = """{"schema": "petface-manifest", "schema_version": 1,
        "model": {"checkpoint_sha256": "abc", "image_size": 112, "embedding_dim": 128},
        "artifacts": [ARTIFACTS]}"""

    private fun artifact(id: String, dtype: String) = """{"id": "$id", "format": "onnx", "precision": "x", "path": "m", "status": "passed",
        "input": {"name": "pixels", "layout": "NCHW", "dtype": "$dtype", "size": 112, "batch": null},
        "output": {"name": "e", "dtype": "float32", "dim": 128}, "thresholds": {"best_accuracy": 0.4, "source": "s"}}"""

    @Test
    fun `unusable artifacts are skipped with the reason, the rest stay usable`() {
        val m = Manifest.parse(minimal.replace("ARTIFACTS", artifact("onnx-fp16", "float16") + "," + artifact("onnx-fp32", "float32")))
        assertEquals(listOf("onnx-fp32"), m.artifacts.map { it.id })
        assertNull(m.artifact("onnx-fp32").input.batch)
        assertEquals(0.4, m.artifact("onnx-fp32").thresholds["best_accuracy"])
        // Exported before the decision tables: deciding with it says to re-export.
        assertTrue("re-export" in assertThrows<ManifestException> { m.artifact("onnx-fp32").decisions }.message!!)
        val e = assertThrows<ManifestException> { m.artifact("onnx-fp16") }
        assertTrue("float16" in e.message!!, e.message)
    }

    private val tables = """{"best_accuracy": 0.3,
        "verify": {"default_far": 0.001, "thresholds": {"1e-2": 0.3, "1e-3": 0.4, "1e-4": 0.5, "1e-5": null}},
        "identify": {"default_fpir": 0.01, "template_counts": [1, 2, 5, 10, 20],
                     "thresholds": {"1e-1": [0.2, 0.25, 0.3, 0.35, 0.4], "1e-2": [0.3, 0.35, 0.4, 0.45, null]}}}"""

    @Test
    fun `decision tables interpolate on log N and refuse what the calibration cannot support`() {
        val m = Manifest.parse(minimal.replace("ARTIFACTS", artifact("onnx-fp32", "float32")
            .replace("{\"best_accuracy\": 0.4, \"source\": \"s\"}", tables)))
        val d = m.artifact("onnx-fp32").decisions
        assertEquals(OperatingPoint("verify", 0.4, 0.001, null), d.verifyPoint())
        assertEquals(OperatingPoint("identify", 0.4, 0.01, 5), d.identifyPoint(5))
        assertEquals(0.3, d.identifyPoint(0).threshold)  // an empty gallery decides like one template
        val seven = d.identifyPoint(7).threshold
        assertEquals(0.4 + ln(7.0 / 5) / ln(2.0) * 0.05, seven, 1e-12)
        val rising = (1..10).map { d.identifyPoint(it).threshold }
        assertEquals(rising.sorted(), rising)
        assertEquals(0.4, d.identifyPoint(20, fpir = 0.1).threshold)
        for (refused in listOf({ d.identifyPoint(11) }, { d.identifyPoint(3, fpir = 0.02) }, { d.verifyPoint(1e-5) })) {
            val e = assertThrows<UnsupportedTargetException> { refused() }
            assertTrue("onnx-fp32" in e.message!! && "\n" !in e.message!!, e.message)
        }
        assertEquals("1e-3", DecisionTables.rateKey(0.001))
    }

    @Test
    fun `a newer minor schema opens and its unknown fields are ignored`() {
        val newer = minimal.replace("\"schema_version\": 1,", "\"schema_version\": 1, \"schema_minor\": 42, \"future\": {\"x\": [1, 2]},")
            .replace("ARTIFACTS", artifact("onnx-fp32", "float32").replace("\"status\"", "\"identify_thresholds\": [{\"n\": 1}], \"status\""))
        val m = Manifest.parse(newer)
        assertEquals(1, m.schemaVersion)
        assertEquals(0.4, m.artifact("onnx-fp32").thresholds["best_accuracy"])
    }

    @Test
    fun `bad manifests fail with a message naming the file and the field`() {
        fun failure(text: String) = assertThrows<ManifestException> { Manifest.parse(text, "export/manifest.json") }.message!!
        assertTrue(failure("{}").contains("export/manifest.json: not a petface manifest"))
        assertTrue(failure("[1, 2").startsWith("export/manifest.json: not valid JSON"))
        val major = failure(minimal.replace("\"schema_version\": 1", "\"schema_version\": 2").replace("ARTIFACTS", ""))
        assertEquals("export/manifest.json: manifest schema version 2 is not supported: this app reads version 1 (any minor)", major)
        val noSize = failure(minimal.replace(", \"image_size\": 112", "").replace("ARTIFACTS", ""))
        assertTrue(noSize.contains("export/manifest.json.model") && noSize.contains("'image_size'"), noSize)
        val unquantized = minimal.replace("ARTIFACTS", artifact("tflite-int8", "int8"))
        assertTrue(Manifest.parse(unquantized).skipped.getValue("tflite-int8").contains("without quantization"))
    }
}
