package dev.petface.demo.engine

import dev.petface.core.Artifact
import dev.petface.core.DType
import dev.petface.core.Manifest
import dev.petface.core.ManifestException

/** Where the user asked the model to run (the settings sheet). */
enum class Accelerator { AUTO, CPU, GPU }

/** The runtime settings the user can change: where the model runs and how many CPU threads it gets. */
data class RunnerSettings(val accelerator: Accelerator = Accelerator.AUTO, val threads: Int = DEFAULT_THREADS) {
    init {
        require(threads in 1..MAX_THREADS) { "threads must be 1 to $MAX_THREADS, got $threads" }
    }

    companion object {
        const val MAX_THREADS = 8
        val DEFAULT_THREADS: Int = Runtime.getRuntime().availableProcessors().coerceIn(1, 4)
    }
}

/**
 * How the app will run the model, decided before the interpreter is built; [note] says why the
 * GPU is not used when it was asked for (null otherwise).
 */
data class Plan(val artifact: Artifact, val useGpu: Boolean, val note: String? = null)

/**
 * Picks the artifact to ship work to. Every TFLite artifact in the manifest comes from the
 * same trained weights (one fingerprint), so galleries stay valid whichever is chosen.
 *
 * With a usable GPU delegate: the float artifact on the GPU (the delegate computes in float;
 * a full-integer model gains nothing there). On CPU: the INT8 artifact when present
 * (XNNPACK's int8 kernels are the fast path on ARM and the file is ~4x smaller), else FP32.
 * [forced] (an artifact id) overrides the choice. [accelerator] CPU keeps the model off the GPU;
 * GPU asks for it even off the allow list (when [gpuAvailable] is false only because the device is
 * not listed: [gpuUnavailableReason] null), and the runtime check still falls back when it fails.
 */
object ArtifactChoice {
    fun plan(
        manifest: Manifest,
        fileExists: (String) -> Boolean,
        gpuAvailable: Boolean,
        forced: String? = null,
        accelerator: Accelerator = Accelerator.AUTO,
        gpuUnavailableReason: String? = null,
    ): Plan {
        val usable = manifest.artifacts.filter { it.format == "tflite" && it.shippable && fileExists(it.path) }
        if (usable.isEmpty()) {
            throw ManifestException("the manifest lists no verified TFLite artifact whose file is bundled; have " +
                manifest.artifacts.map { "${it.id} (${it.status})" } + ", skipped " + manifest.skipped.keys)
        }
        val float = usable.firstOrNull { it.input.dtype == DType.FLOAT32 && it.precision == "fp32" }
            ?: usable.firstOrNull { it.input.dtype == DType.FLOAT32 }
        val int8 = usable.firstOrNull { it.input.dtype == DType.INT8 }
        // The GPU is tried when the device is on the allow list (AUTO), or asked for and its library loads (GPU).
        val gpu = when (accelerator) {
            Accelerator.CPU -> false
            Accelerator.AUTO -> gpuAvailable
            Accelerator.GPU -> gpuAvailable || gpuUnavailableReason == null
        }
        val artifact = when {
            forced != null -> usable.firstOrNull { it.id == forced }
                ?: throw ManifestException("artifact '$forced' is not a bundled verified TFLite artifact; have ${usable.map { it.id }}")
            gpu && float != null -> float
            else -> int8 ?: float ?: usable.first()
        }
        val useGpu = gpu && artifact.input.dtype == DType.FLOAT32
        val note = when {
            accelerator != Accelerator.GPU || useGpu -> null
            gpuUnavailableReason != null -> "GPU not used: $gpuUnavailableReason"
            else -> "GPU not used: ${artifact.id} has ${artifact.input.dtype.name.lowercase()} input and the GPU delegate runs float models"
        }
        return Plan(artifact, useGpu, note)
    }
}
