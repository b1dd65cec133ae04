package dev.petface.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.sqrt

class TensorCodecTest {
    // 2x2 image, pixel k has channels (10k + 1, 10k + 2, 10k + 3).
    private val image = RgbImage(2, 2, ByteArray(12) { (10 * (it / 3) + it % 3 + 1).toByte() })

    private fun contract(layout: Layout, dtype: DType, q: Quantization? = null) = InputContract("x", layout, dtype, 2, 1, q)

    @Test
    fun `float32 NHWC and NCHW layouts`() {
        val nhwc = TensorCodec.encode(listOf(image), contract(Layout.NHWC, DType.FLOAT32))
        assertEquals(48, nhwc.capacity())
        assertEquals(ByteOrder.nativeOrder(), nhwc.order())
        assertEquals(listOf(1f, 2f, 3f, 11f, 12f, 13f, 21f, 22f, 23f, 31f, 32f, 33f), List(12) { nhwc.getFloat(it * 4) })
        val nchw = TensorCodec.encode(listOf(image), contract(Layout.NCHW, DType.FLOAT32))
        assertEquals(listOf(1f, 11f, 21f, 31f, 2f, 12f, 22f, 32f, 3f, 13f, 23f, 33f), List(12) { nchw.getFloat(it * 4) })
    }

    @Test
    fun `int8 input quantization rounds half to even and clamps, like numpy`() {
        // q = round(x / 2) - 128: 1 / 2 = 0.5 -> 0, 3 / 2 = 1.5 -> 2, 11 / 2 = 5.5 -> 6, 13 / 2 = 6.5 -> 6.
        val buf = TensorCodec.encode(listOf(image), contract(Layout.NHWC, DType.INT8, Quantization(2.0, -128)))
        assertEquals(listOf(-128, -127, -126, -122, -122, -122), List(6) { buf.get(it).toInt() })
        val clamped = TensorCodec.encode(listOf(image), contract(Layout.NHWC, DType.INT8, Quantization(0.1, 0)))
        assertEquals(127, clamped.get(11).toInt(), "33 / 0.1 = 330 clamps to 127")
        val u8 = TensorCodec.encode(listOf(image), contract(Layout.NHWC, DType.UINT8, Quantization(1.0, 0)))
        assertEquals(33, u8.get(11).toInt() and 0xFF)
    }

    @Test
    fun `int8 output is dequantized then re-normalized`() {
        val out = OutputContract("e", DType.INT8, 2, Quantization(0.5, 10))
        val raw = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).put(byteArrayOf(13, 14, 10, 10))
        val (a, b) = TensorCodec.decode(raw, out, 2)
        // (13 - 10) * 0.5 = 1.5, (14 - 10) * 0.5 = 2 -> (0.6, 0.8); the zero vector stays zero.
        assertEquals(0.6f, a[0], 1e-6f)
        assertEquals(0.8f, a[1], 1e-6f)
        assertEquals(listOf(0f, 0f), b.toList())
    }

    @Test
    fun `float32 output is re-normalized`() {
        val out = OutputContract("e", DType.FLOAT32, 3, null)
        val raw = TensorCodec.outputBuffer(out, 1)
        raw.putFloat(1f).putFloat(2f).putFloat(2f)
        val v = TensorCodec.decode(raw, out, 1)[0]
        assertArrayEquals(floatArrayOf(1 / 3f, 2 / 3f, 2 / 3f), v, 1e-7f)
        assertEquals(1.0, sqrt(Vectors.dot(v, v)), 1e-6)
    }
}
