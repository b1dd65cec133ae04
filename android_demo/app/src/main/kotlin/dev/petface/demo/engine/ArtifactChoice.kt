package dev.petface.demo.engine

import dev.petface.core.Artifact
import dev.petface.core.DType
import dev.petface.core.Manifest
import dev.petface.core.ManifestException

/** How the app will run the model, decided before the interpreter is built. */
data class Plan(val artifact: Artifact, val useGpu: Boolean)

/**
 * Picks the artifact to ship work to. Every TFLite artifact in the manifest comes from the
 * same trained weights (one fingerprint), so galleries stay valid whichever is chosen.
 *
 * With a usable GPU delegate: the float artifact on the GPU (the delegate computes in float;
 * a full-integer model gains nothing there). On CPU: the INT8 artifact when present
 * (XNNPACK's int8 kernels are the fast path on ARM and the file is ~4x smaller), else FP32.
 * [forced] (an artifact id) overrides the choice, e.g. from the settings screen.
 */
object ArtifactChoice {
    fun plan(manifest: Manifest, fileExists: (String) -> Boolean, gpuAvailable: Boolean, forced: String? = null): Plan {
        val usable = manifest.artifacts.filter { it.format == "tflite" && it.shippable && fileExists(it.path) }
        if (usable.isEmpty()) {
            throw ManifestException("the manifest lists no verified TFLite artifact whose file is bundled; have " +
                manifest.artifacts.map { "${it.id} (${it.status})" } + ", skipped " + manifest.skipped.keys)
        }
        val float = usable.firstOrNull { it.input.dtype == DType.FLOAT32 && it.precision == "fp32" }
            ?: usable.firstOrNull { it.input.dtype == DType.FLOAT32 }
        val int8 = usable.firstOrNull { it.input.dtype == DType.INT8 }
        val artifact = when {
            forced != null -> usable.firstOrNull { it.id == forced }
                ?: throw ManifestException("artifact '$forced' is not a bundled verified TFLite artifact; have ${usable.map { it.id }}")
            gpuAvailable && float != null -> float
            else -> int8 ?: float ?: usable.first()
        }
        return Plan(artifact, useGpu = gpuAvailable && artifact.input.dtype == DType.FLOAT32)
    }
}
