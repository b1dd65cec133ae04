package dev.petface.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Applies an artifact's contract, mirroring `petface_edge/runtime/contract.py`: resized RGB
 * pixels to the input tensor (layout, dtype, int8/uint8 quantization), and the raw output
 * tensor to unit vectors (dequantization, L2 re-normalization).
 *
 * Buffers are direct and in native byte order, as LiteRT's `Interpreter.run` and its C API
 * expect. Float math is in float32 like numpy's, and quantization rounds half to even like
 * `np.round`, so quantized inputs are bit-identical to the Python runtime's.
 */
object TensorCodec {
    /** Input tensor bytes for [batch] images of this contract. */
    fun inputBytes(contract: InputContract, batch: Int): Int = batch * contract.imageElements * contract.dtype.bytes

    fun outputBytes(contract: OutputContract, batch: Int): Int = batch * contract.dim * contract.dtype.bytes

    /** Encodes already-resized images ([InputContract.size] square) into a new input buffer. */
    fun encode(pixels: List<RgbImage>, contract: InputContract): ByteBuffer {
        val s = contract.size
        for (p in pixels) {
            require(p.width == s && p.height == s) { "expected ${s}x$s pixels for this model, got ${p.width}x${p.height}" }
        }
        val buf = ByteBuffer.allocateDirect(inputBytes(contract, pixels.size)).order(ByteOrder.nativeOrder())
        val q = contract.quantization
        val scale = q?.scale?.toFloat() ?: 1f
        val (lo, hi) = when (contract.dtype) {
            DType.INT8 -> -128 to 127
            DType.UINT8 -> 0 to 255
            DType.FLOAT32 -> 0 to 0
        }
        for (p in pixels) {
            for (i in 0 until contract.imageElements) {
                // i enumerates the tensor in its own layout; find the pixel channel it holds.
                val src = when (contract.layout) {
                    Layout.NHWC -> i
                    Layout.NCHW -> { val c = i / (s * s); (i % (s * s)) * 3 + c }
                }
                val v = (p.bytes[src].toInt() and 0xFF).toFloat()
                when (contract.dtype) {
                    DType.FLOAT32 -> buf.putFloat(v)
                    else -> {
                        val qv = Math.rint((v / scale).toDouble()).toInt() + q!!.zeroPoint
                        buf.put(qv.coerceIn(lo, hi).toByte())
                    }
                }
            }
        }
        buf.rewind()
        return buf
    }

    /** A buffer to receive [batch] outputs of this contract. */
    fun outputBuffer(contract: OutputContract, batch: Int): ByteBuffer =
        ByteBuffer.allocateDirect(outputBytes(contract, batch)).order(ByteOrder.nativeOrder())

    /** Raw output buffer to [batch] unit vectors (dequantized, then re-normalized). */
    fun decode(raw: ByteBuffer, contract: OutputContract, batch: Int): List<FloatArray> {
        val buf = raw.duplicate().order(raw.order())
        buf.rewind()
        require(buf.remaining() >= outputBytes(contract, batch)) {
            "output buffer holds ${buf.remaining()} bytes, expected ${outputBytes(contract, batch)}"
        }
        val q = contract.quantization
        return List(batch) {
            val y = FloatArray(contract.dim) {
                when (contract.dtype) {
                    DType.FLOAT32 -> buf.getFloat()
                    DType.INT8 -> (buf.get().toInt() - q!!.zeroPoint) * q.scale.toFloat()
                    DType.UINT8 -> ((buf.get().toInt() and 0xFF) - q!!.zeroPoint) * q.scale.toFloat()
                }
            }
            // int8 and fp16 outputs are only approximately unit length.
            Vectors.l2Normalize(y)
        }
    }
}
