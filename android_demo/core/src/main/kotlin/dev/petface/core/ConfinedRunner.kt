package dev.petface.core

import java.nio.ByteBuffer
import java.util.concurrent.Callable
import java.util.concurrent.ExecutionException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * A [TensorRunner] confined to one dedicated thread from creation to close: [open] builds the
 * runner on that thread, every [run] and [call] executes there (callers on any thread wait for
 * their turn), and [close] runs there after the work already accepted.
 *
 * LiteRT's GPU delegate must be created, run and closed on one thread ("GpuDelegate must run on
 * the same thread where it was initialized", tensorflow#32330, when it falls back to OpenGL);
 * an `Interpreter` is not thread-safe either. Coroutine dispatchers hop between threads, so the
 * app reaches its interpreter only through this class, as Google's samples confine theirs.
 */
class ConfinedRunner(name: String = "petface-inference", open: () -> TensorRunner) : TensorRunner {
    @Volatile
    private var worker: Thread? = null
    private val executor: ExecutorService = Executors.newSingleThreadExecutor { task ->
        Thread(task, name).apply { isDaemon = true }.also { worker = it }
    }
    private val lock = Any()
    private var closed = false
    private val runner: TensorRunner

    init {
        runner = try {
            submit(open)
        } catch (t: Throwable) {
            executor.shutdown()
            throw t
        }
    }

    /** The one thread every call runs on. */
    val thread: Thread get() = worker!!

    override val description: String get() = runner.description

    override fun run(input: ByteBuffer, output: ByteBuffer) = call { it.run(input, output) }

    /** Runs [block] with the runner on the confining thread and returns its result; refused once closed. */
    fun <R> call(block: (TensorRunner) -> R): R {
        if (Thread.currentThread() === worker) return block(runner) // already confined: a nested call
        return submit { block(runner) }
    }

    /**
     * Refuses new calls and closes the runner on its thread once the work accepted before has
     * finished. Does not wait (it may be called on the main thread while an inference runs);
     * [awaitClosed] does.
     */
    override fun close() {
        synchronized(lock) {
            if (closed) return
            closed = true
            executor.execute { runner.close() }
            executor.shutdown()
        }
    }

    /** Whether the runner was closed and the thread ended within [timeout]. */
    fun awaitClosed(timeout: Long, unit: TimeUnit): Boolean = executor.awaitTermination(timeout, unit)

    private fun <R> submit(block: () -> R): R {
        val future = synchronized(lock) {
            check(!closed) { "the model was closed" }
            executor.submit(Callable(block))
        }
        try {
            return future.get()
        } catch (e: ExecutionException) {
            throw e.cause ?: e // the runner's own Throwable, Errors included, for the caller to handle
        }
    }
}
