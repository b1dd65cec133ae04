package dev.petface.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/** Thread confinement of the interpreter, with the real LiteRT C API runner doing the work. */
class ConfinedRunnerTest {
    private val golden = Golden.instance
    private val artifact = golden.manifest.artifact("tflite-fp32")

    /** Records the thread of every call the real runner receives, and how many overlap. */
    private class Recorder(private val inner: TensorRunner) : TensorRunner {
        val threads: MutableList<Thread> = Collections.synchronizedList(ArrayList())
        val active = AtomicInteger()
        val mostAtOnce = AtomicInteger()
        @Volatile var closedOn: Thread? = null
        override val description get() = inner.description

        override fun run(input: ByteBuffer, output: ByteBuffer) {
            threads += Thread.currentThread()
            mostAtOnce.accumulateAndGet(active.incrementAndGet(), ::maxOf)
            try {
                inner.run(input, output)
            } finally {
                active.decrementAndGet()
            }
        }

        override fun close() {
            closedOn = Thread.currentThread()
            inner.close()
        }
    }

    private fun realRunner() = LiteRtRunner(golden.modelFile(artifact.id), Golden.litertLibrary)

    @Test
    fun `creation, every call from concurrent callers, and close run on one thread`() {
        var createdOn: Thread? = null
        lateinit var recorder: Recorder
        val confined = ConfinedRunner { createdOn = Thread.currentThread(); Recorder(realRunner()).also { recorder = it } }
        val python = golden.embeddings(artifact.id)
        val callers = Executors.newFixedThreadPool(8)
        val callerThreads = Collections.synchronizedSet(HashSet<Thread>())
        val jobs = (0 until 8).map { c ->
            callers.submit {
                callerThreads += Thread.currentThread()
                val embedder = PetEmbedder(artifact, confined) // not closed here: the runner is shared
                for (image in golden.images.drop(c * 5).take(5)) {
                    val v = embedder.embedPixels(golden.pixels(image))
                    assertTrue(Vectors.cosine(v, python.getValue(image.id)) >= 0.9999, image.id)
                }
            }
        }
        jobs.forEach { it.get(120, TimeUnit.SECONDS) }
        callers.shutdown()
        confined.close()
        assertTrue(confined.awaitClosed(30, TimeUnit.SECONDS))
        assertEquals(40, recorder.threads.size)
        assertEquals(setOf(confined.thread), recorder.threads.toSet())
        assertEquals(confined.thread, createdOn)
        assertEquals(confined.thread, recorder.closedOn)
        assertEquals(1, recorder.mostAtOnce.get(), "calls overlapped inside the runner")
        assertFalse(confined.thread in callerThreads)
        println("confined: 40 inferences from ${callerThreads.size} caller threads, all on '${confined.thread.name}'")
    }

    @Test
    fun `close waits for the work in flight, then refuses new calls`() {
        lateinit var recorder: Recorder
        val confined = ConfinedRunner { Recorder(realRunner()).also { recorder = it } }
        val started = CountDownLatch(1)
        val release = CountDownLatch(1)
        val image = golden.images.first()
        val pool = Executors.newSingleThreadExecutor()
        val inFlight = pool.submit<FloatArray> {
            confined.call { runner ->
                started.countDown()
                release.await()
                PetEmbedder(artifact, runner).embedPixels(golden.pixels(image))
            }
        }
        assertTrue(started.await(30, TimeUnit.SECONDS))
        confined.close() // returns at once: the inference is still running
        assertEquals(null, recorder.closedOn)
        assertThrows<IllegalStateException> { confined.run(ByteBuffer.allocate(0), ByteBuffer.allocate(0)) }
        release.countDown()
        val v = inFlight.get(60, TimeUnit.SECONDS)
        assertTrue(Vectors.cosine(v, golden.embeddings(artifact.id).getValue(image.id)) >= 0.9999)
        assertTrue(confined.awaitClosed(30, TimeUnit.SECONDS))
        assertEquals(confined.thread, recorder.closedOn)
        assertEquals(listOf(confined.thread), recorder.threads)
        pool.shutdown()
    }

    @Test
    fun `a runner that cannot be built fails the constructor with its own Error and ends the thread`() {
        val thrown = assertThrows<UnsatisfiedLinkError> { ConfinedRunner { throw UnsatisfiedLinkError("no libLiteRtGpu.so") } }
        assertEquals("no libLiteRtGpu.so", thrown.message)
        val caller = Thread.currentThread()
        val confined = ConfinedRunner { realRunner() }
        assertNotSame(caller, confined.call { Thread.currentThread() })
        assertEquals(confined.thread, confined.call { confined.call { Thread.currentThread() } }, "nested call on the same thread")
        confined.close()
        assertTrue(confined.awaitClosed(30, TimeUnit.SECONDS))
    }
}
