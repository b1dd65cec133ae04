package dev.petface.core

import kotlin.math.PI
import kotlin.math.sin

/** The runner that serves a model, and why the preferred one is not it (null when it is). */
class RunnerChoice(val runner: TensorRunner, val fallbackReason: String?, val agreement: Double?)

/**
 * Picks between a preferred runner (the GPU delegate) and the CPU, for one artifact.
 *
 * The preferred runner is used only when it can be built, runs, and agrees with the CPU running
 * the same artifact: minimum cosine of at least [MIN_COSINE] over [checkImages]. The GPU
 * delegate computes in FP16 and some drivers pass LiteRT's allow list yet compile the graph
 * wrongly, so its first answers are checked once per model load instead of trusted. Anything
 * thrown on that path, `Error`s included (a missing GPU library raises `UnsatisfiedLinkError`
 * or `NoClassDefFoundError`, LiteRT#6972), closes what was built (the delegate is freed on every
 * path) and gives the CPU runner, with the reason to show. A failure to build the CPU runner
 * itself propagates: there is nothing left to fall back to.
 *
 * Run it on the thread that will own the chosen runner ([ConfinedRunner]'s `open`), so the
 * delegate is created, checked and closed on one thread.
 */
object RunnerFallback {
    /** FP16 GPU arithmetic against the CPU's FP32 stays far above this on a working driver. */
    const val MIN_COSINE = 0.999

    fun choose(
        artifact: Artifact,
        preferred: () -> TensorRunner,
        cpu: () -> TensorRunner,
        images: List<RgbImage> = checkImages(artifact.input.size),
        minCosine: Double = MIN_COSINE,
    ): RunnerChoice {
        val reference = cpu()
        var candidate: TensorRunner? = null
        val failure: Throwable = try {
            val built = preferred().also { candidate = it }
            val agreement = agreement(built, reference, artifact, images)
            if (agreement >= minCosine) { // false for NaN: a GPU giving NaN is refused
                reference.close()
                return RunnerChoice(built, null, agreement)
            }
            IllegalStateException("its embeddings disagree with the CPU's (min cosine ${"%.5f".format(agreement)} < $minCosine)")
        } catch (t: Throwable) {
            t
        }
        candidate?.let { closeQuietly(it, failure) }
        return RunnerChoice(reference, "GPU not used: ${failure.javaClass.simpleName}: ${failure.message}", null)
    }

    /** The lowest cosine between [a] and [b]'s embeddings of [images], both running [artifact]. */
    fun agreement(a: TensorRunner, b: TensorRunner, artifact: Artifact, images: List<RgbImage>): Double {
        require(images.isNotEmpty()) { "no images to compare the runners on" }
        return images.minOf { image ->
            Vectors.cosine(PetEmbedder(artifact, a).embedPixels(image), PetEmbedder(artifact, b).embedPixels(image))
        }
    }

    /**
     * Four built-in [size] x [size] check images: smooth colour waves of different frequencies
     * with a fine pattern on top, so that every layer sees structure at several scales.
     * Deterministic: the same pixels on every device.
     */
    fun checkImages(size: Int): List<RgbImage> = (1..4).map { k ->
        val bytes = ByteArray(size * size * 3)
        for (y in 0 until size) for (x in 0 until size) for (c in 0 until 3) {
            val u = x.toDouble() / size
            val v = y.toDouble() / size
            val wave = sin(2 * PI * (k * u + (c + 1) * v) + k * c) * 90
            val fine = ((x * 7 + y * 13 + c * 29 + k * 31) % 17 - 8) * 3
            bytes[(y * size + x) * 3 + c] = (128 + wave + fine).toInt().coerceIn(0, 255).toByte()
        }
        RgbImage(size, size, bytes)
    }

    private fun closeQuietly(runner: TensorRunner, cause: Throwable) {
        try {
            runner.close()
        } catch (t: Throwable) {
            cause.addSuppressed(t)
        }
    }
}
