package dev.petface.demo.engine

import dev.petface.core.Golden
import dev.petface.core.ManifestException
import dev.petface.core.assertThrows
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/** The artifact choice on the exported manifest of the golden set (tflite-fp32 and tflite-int8). */
class ArtifactChoiceTest {
    private val exported = Golden.instance.manifest
    private val bundled = { path: String -> File(Golden.instance.dir, path).isFile }

    /** The exported manifest with the TFLite artifacts' statuses set: the choice, not the export, is under test. */
    private fun withStatus(vararg status: Pair<String, String>) =
        exported.copy(artifacts = exported.artifacts.map { a -> status.toMap()[a.id]?.let { a.copy(status = it) } ?: a })

    private val manifest = withStatus("tflite-fp32" to "passed", "tflite-int8" to "passed")

    @Test
    fun `CPU runs INT8, a supported GPU runs FP32 on the delegate`() {
        val cpu = ArtifactChoice.plan(manifest, bundled, gpuAvailable = false)
        assertEquals("tflite-int8", cpu.artifact.id)
        assertFalse(cpu.useGpu)
        val gpu = ArtifactChoice.plan(manifest, bundled, gpuAvailable = true)
        assertEquals("tflite-fp32", gpu.artifact.id)
        assertTrue(gpu.useGpu)
        val forced = ArtifactChoice.plan(manifest, bundled, gpuAvailable = true, forced = "tflite-int8")
        assertEquals("tflite-int8" to false, forced.artifact.id to forced.useGpu)
    }

    @Test
    fun `an INT8 artifact that failed its parity gate is never chosen`() {
        val failed = withStatus("tflite-fp32" to "passed", "tflite-int8" to "failed parity")
        assertEquals("tflite-fp32", ArtifactChoice.plan(failed, bundled, gpuAvailable = false).artifact.id)
        assertThrows<ManifestException> { ArtifactChoice.plan(failed, bundled, false, forced = "tflite-int8") }
    }

    @Test
    fun `only artifacts whose file is bundled are candidates`() {
        val int8Path = manifest.artifact("tflite-int8").path
        assertEquals("tflite-fp32", ArtifactChoice.plan(manifest, { it != int8Path && bundled(it) }, false).artifact.id)
        val none = assertThrows<ManifestException> { ArtifactChoice.plan(manifest, { false }, false) }
        assertTrue(none.message!!.contains("no verified TFLite artifact"), none.message)
        assertThrows<ManifestException> { ArtifactChoice.plan(manifest, bundled, false, forced = "onnx-fp32") }
    }

    @Test
    fun `the settings keep the model off the GPU, or ask for it with the reason shown when it cannot be`() {
        val cpu = ArtifactChoice.plan(manifest, bundled, gpuAvailable = true, accelerator = Accelerator.CPU)
        assertEquals("tflite-int8" to false, cpu.artifact.id to cpu.useGpu)
        // Asked for off the allow list: tried (the runtime check falls back if it fails).
        val unlisted = ArtifactChoice.plan(manifest, bundled, gpuAvailable = false, accelerator = Accelerator.GPU)
        assertEquals("tflite-fp32" to true, unlisted.artifact.id to unlisted.useGpu)
        // Asked for, but the GPU library does not even load: the CPU, and why.
        val broken = ArtifactChoice.plan(manifest, bundled, false, accelerator = Accelerator.GPU,
            gpuUnavailableReason = "UnsatisfiedLinkError: no libLiteRtGpu.so")
        assertEquals("tflite-int8" to false, broken.artifact.id to broken.useGpu)
        assertEquals("GPU not used: UnsatisfiedLinkError: no libLiteRtGpu.so", broken.note)
        val int8Only = ArtifactChoice.plan(manifest, bundled, true, forced = "tflite-int8", accelerator = Accelerator.GPU)
        assertFalse(int8Only.useGpu)
        assertTrue(int8Only.note!!.contains("int8 input"), int8Only.note)
        assertThrows<IllegalArgumentException> { RunnerSettings(threads = 0) }
    }
}
