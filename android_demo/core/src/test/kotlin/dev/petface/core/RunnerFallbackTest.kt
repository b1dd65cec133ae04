package dev.petface.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer
import java.util.concurrent.TimeUnit

/**
 * GPU-or-CPU choice with the real LiteRT runner as the CPU: every failure of the preferred runner,
 * `Error`s included, falls back with the reason and closes what was built; a runner that
 * disagrees with the CPU is refused; one that agrees is kept and the CPU reference freed.
 */
class RunnerFallbackTest {
    private val golden = Golden.instance
    private val artifact = golden.manifest.artifact("tflite-fp32")

    private inner class Tracked(private val inner: TensorRunner, private val transform: (ByteBuffer) -> Unit = {}) : TensorRunner {
        var closed = 0
        override val description get() = "tracked ${inner.description}"
        override fun run(input: ByteBuffer, output: ByteBuffer) {
            inner.run(input, output)
            transform(output)
        }
        override fun close() {
            closed++
            inner.close()
        }
    }

    private fun real() = LiteRtRunner(golden.modelFile(artifact.id), Golden.litertLibrary)

    private fun works(choice: RunnerChoice) {
        val image = golden.images.first()
        val v = PetEmbedder(artifact, choice.runner).embedPixels(golden.pixels(image))
        assertTrue(Vectors.cosine(v, golden.embeddings(artifact.id).getValue(image.id)) >= 0.9999)
        choice.runner.close()
    }

    @Test
    fun `a missing GPU library (an Error, not an Exception) falls back to the CPU`() {
        for (error in listOf(UnsatisfiedLinkError("dlopen failed: libOpenCL.so"), NoClassDefFoundError("org/tensorflow/lite/gpu/GpuDelegate"))) {
            lateinit var cpu: TensorRunner
            val choice = RunnerFallback.choose(artifact, preferred = { throw error }, cpu = { real().also { cpu = it } })
            assertSame(cpu, choice.runner)
            assertEquals("GPU not used: ${error.javaClass.simpleName}: ${error.message}", choice.fallbackReason)
            works(choice)
        }
    }

    @Test
    fun `a GPU that fails its first run is closed and the CPU serves`() {
        lateinit var gpu: Tracked
        val choice = RunnerFallback.choose(artifact, preferred = {
            Tracked(real()) { throw OutOfMemoryError("GL out of memory") }.also { gpu = it }
        }, cpu = ::real)
        assertEquals(1, gpu.closed, "the delegate runner was not freed")
        assertTrue(choice.fallbackReason!!.contains("OutOfMemoryError: GL out of memory"), choice.fallbackReason)
        works(choice)
    }

    @Test
    fun `a GPU whose embeddings disagree with the CPU's, or are NaN, is refused`() {
        val wrongs = mapOf<String, (ByteBuffer) -> Unit>(
            "disagree" to { out -> for (i in 0 until out.capacity() / 4 step 2) out.putFloat(i * 4, 0f) }, // half the features lost
            "NaN" to { out -> out.putFloat(0, Float.NaN) },
        )
        for ((what, transform) in wrongs) {
            lateinit var gpu: Tracked
            val choice = RunnerFallback.choose(artifact, preferred = { Tracked(real(), transform).also { gpu = it } }, cpu = ::real)
            assertEquals(1, gpu.closed, what)
            assertTrue(choice.fallbackReason!!.contains("disagree with the CPU"), "$what: ${choice.fallbackReason}")
            works(choice)
        }
    }

    @Test
    fun `a GPU that agrees is kept and the CPU reference is freed, all on the confining thread`() {
        lateinit var cpu: Tracked
        lateinit var gpu: Tracked
        val threads = mutableSetOf<Thread>()
        var agreement: Double? = null
        val confined = ConfinedRunner {
            threads += Thread.currentThread()
            RunnerFallback.choose(artifact, preferred = { Tracked(real()).also { gpu = it } }, cpu = { Tracked(real()).also { cpu = it } })
                .also { assertNull(it.fallbackReason); agreement = it.agreement }.runner
        }
        assertEquals(setOf(confined.thread), threads)
        assertEquals(1, cpu.closed)
        assertEquals(0, gpu.closed)
        assertTrue(agreement!! >= 0.9999, "agreement $agreement")
        assertEquals(gpu.description, confined.description)
        confined.close()
        assertTrue(confined.awaitClosed(30, TimeUnit.SECONDS))
        assertEquals(1, gpu.closed)
    }

    @Test
    fun `the built-in check images are fixed, varied pixels`() {
        val a = RunnerFallback.checkImages(112)
        assertEquals(4, a.size)
        assertTrue(a.zip(RunnerFallback.checkImages(112)).all { (x, y) -> x.bytes.contentEquals(y.bytes) })
        assertEquals(4, a.map { it.bytes.toList() }.toSet().size)
        assertTrue(a.all { img -> img.bytes.map { it.toInt() and 0xFF }.let { it.max() - it.min() > 150 } })
    }
}
