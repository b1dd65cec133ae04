package dev.petface.demo

import android.util.Log
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
 * `org.tensorflow.lite` package names): the GPU delegate when the device supports it and the
 * artifact is float, XNNPACK on the CPU otherwise. Tensors arrive already in the artifact's
 * contract, encoded by the core ([dev.petface.core.TensorCodec]).
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
        interpreter.close()
        gpu?.close()
    }

    companion object {
        /** Whether this device's GPU is on the LiteRT GPU delegate's allow list. */
        fun gpuSupported(): Boolean = CompatibilityList().use { it.isDelegateSupportedOnThisDevice }

        fun open(model: ByteBuffer, artifact: Artifact, useGpu: Boolean): InterpreterRunner {
            if (useGpu) {
                try {
                    val delegate = CompatibilityList().use { GpuDelegate(it.bestOptionsForThisDevice) }
                    val interpreter = Interpreter(model, Interpreter.Options().addDelegate(delegate))
                    return checked(InterpreterRunner(interpreter, delegate, "LiteRT GPU delegate"), artifact)
                } catch (e: Exception) {
                    // Some drivers pass the allow list but fail to compile the graph: fall back to the CPU.
                    Log.w("PetFace", "GPU delegate unavailable, using CPU: ${e.message}")
                }
            }
            val threads = Runtime.getRuntime().availableProcessors().coerceIn(1, 4)
            val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true)
            return checked(InterpreterRunner(Interpreter(model, options), null, "LiteRT CPU, XNNPACK, $threads threads"), artifact)
        }

        /** Refuses a model whose tensors disagree with its manifest entry (a stale or mixed-up asset). */
        private fun checked(runner: InterpreterRunner, artifact: Artifact): InterpreterRunner {
            val input = runner.interpreter.getInputTensor(0)
            val output = runner.interpreter.getOutputTensor(0)
            val problems = buildList {
                val size = artifact.input.size
                if (!input.shape().contentEquals(intArrayOf(1, size, size, 3))) add("input shape ${input.shape().toList()}")
                if (input.dataType() != dataType(artifact.input.dtype)) add("input type ${input.dataType()}")
                if (output.dataType() != dataType(artifact.output.dtype)) add("output type ${output.dataType()}")
                if (output.numElements() != artifact.output.dim) add("output size ${output.numElements()}")
                artifact.input.quantization?.let { q ->
                    if (input.quantizationParams().zeroPoint != q.zeroPoint) add("input zero point ${input.quantizationParams().zeroPoint}")
                }
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
