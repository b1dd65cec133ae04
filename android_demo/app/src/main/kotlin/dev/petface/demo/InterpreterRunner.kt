package dev.petface.demo

import dev.petface.core.Artifact
import dev.petface.core.DType
import dev.petface.core.TensorRunner
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.nio.ByteBuffer

/**
 * [TensorRunner] on LiteRT's `Interpreter` (Maven `com.google.ai.edge.litert`, which keeps the
 * `org.tensorflow.lite` package names): the GPU delegate, or XNNPACK on the CPU. Tensors arrive
 * already in the artifact's contract, encoded by the core ([dev.petface.core.TensorCodec]).
 *
 * Not thread-safe, and the GPU delegate must stay on the thread that created it: the app builds,
 * runs and closes it only inside a [dev.petface.core.ConfinedRunner], and chooses GPU or CPU
 * with [dev.petface.core.RunnerFallback].
 */
class InterpreterRunner private constructor(
    private val interpreter: Interpreter,
    private val gpu: GpuDelegate?,
    override val description: String,
) : TensorRunner {

    override fun run(input: ByteBuffer, output: ByteBuffer) {
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
    }

    override fun close() {
        try {
            interpreter.close()
        } finally {
            gpu?.close()
        }
    }

    /** Whether the GPU delegate can be tried here; [reason] says why not when its library does not even load. */
    data class GpuSupport(val listed: Boolean, val reason: String?)

    companion object {
        /**
         * Whether this device's GPU is on the LiteRT GPU delegate's allow list. Any Throwable (a
         * missing native library raises `UnsatisfiedLinkError` or `NoClassDefFoundError`) means no GPU.
         */
        fun gpuSupport(): GpuSupport = try {
            GpuSupport(CompatibilityList().use { it.isDelegateSupportedOnThisDevice }, null)
        } catch (t: Throwable) {
            GpuSupport(false, "${t.javaClass.simpleName}: ${t.message}")
        }

        /** The GPU delegate running [model]; the delegate is freed if anything after its creation throws. */
        fun openGpu(model: ByteBuffer, artifact: Artifact): InterpreterRunner {
            val delegate = CompatibilityList().use { GpuDelegate(it.bestOptionsForThisDevice) }
            val interpreter = try {
                Interpreter(model, Interpreter.Options().addDelegate(delegate))
            } catch (t: Throwable) {
                delegate.close()
                throw t
            }
            return checked(InterpreterRunner(interpreter, delegate, "LiteRT GPU delegate"), artifact)
        }

        /** XNNPACK on [threads] CPU threads. */
        fun openCpu(model: ByteBuffer, artifact: Artifact, threads: Int): InterpreterRunner {
            val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true)
            return checked(InterpreterRunner(Interpreter(model, options), null, "LiteRT CPU, XNNPACK, $threads threads"), artifact)
        }

        /** Refuses a model whose tensors disagree with its manifest entry (a stale or mixed-up asset). */
        private fun checked(runner: InterpreterRunner, artifact: Artifact): InterpreterRunner {
            val problems = try {
                val input = runner.interpreter.getInputTensor(0)
                val output = runner.interpreter.getOutputTensor(0)
                buildList {
                    val size = artifact.input.size
                    if (!input.shape().contentEquals(intArrayOf(1, size, size, 3))) add("input shape ${input.shape().toList()}")
                    if (input.dataType() != dataType(artifact.input.dtype)) add("input type ${input.dataType()}")
                    if (output.dataType() != dataType(artifact.output.dtype)) add("output type ${output.dataType()}")
                    if (output.numElements() != artifact.output.dim) add("output size ${output.numElements()}")
                    artifact.input.quantization?.let { q ->
                        if (input.quantizationParams().zeroPoint != q.zeroPoint) add("input zero point ${input.quantizationParams().zeroPoint}")
                    }
                }
            } catch (t: Throwable) {
                runner.close()
                throw t
            }
            if (problems.isNotEmpty()) {
                runner.close()
                throw IllegalStateException("${artifact.path} does not match its manifest entry ${artifact.id}: ${problems.joinToString()}")
            }
            return runner
        }

        private fun dataType(d: DType): DataType = when (d) {
            DType.FLOAT32 -> DataType.FLOAT32
            DType.INT8 -> DataType.INT8
            DType.UINT8 -> DataType.UINT8
        }
    }
}
