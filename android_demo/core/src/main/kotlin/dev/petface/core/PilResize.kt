package dev.petface.core

import kotlin.math.ceil

/**
 * `PIL.Image.resize((S, S), Image.BILINEAR)` for RGB images, reproduced operation by operation
 * from Pillow's `src/libImaging/Resample.c`, so Kotlin feeds the model the same pixels as the
 * Python runtime (`petface_edge.imaging.resize_pixels`).
 *
 * It is *not* textbook bilinear interpolation: it is a separable triangle filter whose support
 * widens with the downscale factor (antialiasing). Per output pixel the weights are computed in
 * double precision, normalized to sum 1, converted to 22-bit fixed point, and applied with
 * integer accumulation; the first pass is rounded to uint8 before the second. The horizontal
 * pass runs first unless the height shrinks much more than the width (Pillow 13's rule, below);
 * a pass is skipped when that dimension does not change.
 */
object PilResize {
    private const val PRECISION_BITS = 32 - 8 - 2
    private const val SUPPORT = 1.0 // bilinear (triangle) filter support

    private fun triangle(x: Double): Double {
        val a = if (x < 0.0) -x else x
        return if (a < 1.0) 1.0 - a else 0.0
    }

    /** Per output index: first input index, tap count, and the fixed-point weights. */
    private class Coefficients(val first: IntArray, val count: IntArray, val ksize: Int, val weights: IntArray)

    private fun coefficients(inSize: Int, outSize: Int): Coefficients {
        val scale = inSize.toDouble() / outSize
        val filterScale = if (scale < 1.0) 1.0 else scale
        val support = SUPPORT * filterScale
        val ksize = ceil(support).toInt() * 2 + 1
        val first = IntArray(outSize)
        val count = IntArray(outSize)
        val weights = IntArray(outSize * ksize)
        val k = DoubleArray(ksize)
        for (xx in 0 until outSize) {
            val center = (xx + 0.5) * scale
            val ss = 1.0 / filterScale
            // C's (int) cast truncates toward zero, as Kotlin's toInt() does.
            val xmin = maxOf((center - support + 0.5).toInt(), 0)
            val xmax = minOf((center + support + 0.5).toInt(), inSize) - xmin
            var ww = 0.0
            for (x in 0 until xmax) {
                val w = triangle((x + xmin - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for (x in 0 until xmax) {
                // Triangle weights are never negative, so PIL's round-half-away-from-zero is + 0.5 and truncate.
                val w = if (ww != 0.0) k[x] / ww else k[x]
                weights[xx * ksize + x] = (0.5 + w * (1 shl PRECISION_BITS)).toInt()
            }
            first[xx] = xmin
            count[xx] = xmax
        }
        return Coefficients(first, count, ksize, weights)
    }

    private fun clip8(acc: Int): Int {
        val v = acc shr PRECISION_BITS
        return if (v < 0) 0 else if (v > 255) 255 else v
    }

    /** Resizes [image] to [width] x [height] exactly as PIL's BILINEAR filter does. */
    fun resize(image: RgbImage, width: Int, height: Int): RgbImage {
        require(width > 0 && height > 0) { "target size must be positive, got ${width}x$height" }
        val w = image.width
        val h = image.height
        if (w == width && h == height) return RgbImage(width, height, image.bytes.copyOf())
        if (w == width) return RgbImage(width, height, vertical(image.bytes, w, coefficients(h, height), 0))
        val horiz = coefficients(w, width)
        if (h == height) return RgbImage(width, height, horizontal(image.bytes, w, horiz, 0, h))
        val vert = coefficients(h, height)
        // Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks by
        // more than twice as many pixels as the width; the order changes the uint8 rounding in between.
        // (Rule inferred from Pillow 13.0.0's output, matched on 170 random size pairs; Pillow <= 12
        // always went horizontal first.)
        if (height < h && h - height > 2 * (w - width)) {
            return RgbImage(width, height, horizontal(vertical(image.bytes, w, vert, 0), w, horiz, 0, height))
        }
        // Horizontal first, on only the source rows the vertical pass will read.
        val rowFirst = vert.first[0]
        val rowLast = vert.first[height - 1] + vert.count[height - 1]
        return RgbImage(width, height, vertical(horizontal(image.bytes, w, horiz, rowFirst, rowLast - rowFirst), width, vert, rowFirst))
    }

    /** Rows [rowFirst, rowFirst + rows) of a [srcWidth]-wide image, resampled horizontally. */
    private fun horizontal(src: ByteArray, srcWidth: Int, k: Coefficients, rowFirst: Int, rows: Int): ByteArray {
        val outWidth = k.first.size
        val out = ByteArray(outWidth * rows * 3)
        for (y in 0 until rows) {
            val inRow = (y + rowFirst) * srcWidth * 3
            for (xx in 0 until outWidth) {
                val base = xx * k.ksize
                var r = 1 shl (PRECISION_BITS - 1)
                var g = r
                var b = r
                for (x in 0 until k.count[xx]) {
                    val wt = k.weights[base + x]
                    val p = inRow + (x + k.first[xx]) * 3
                    r += (src[p].toInt() and 0xFF) * wt
                    g += (src[p + 1].toInt() and 0xFF) * wt
                    b += (src[p + 2].toInt() and 0xFF) * wt
                }
                val o = (y * outWidth + xx) * 3
                out[o] = clip8(r).toByte()
                out[o + 1] = clip8(g).toByte()
                out[o + 2] = clip8(b).toByte()
            }
        }
        return out
    }

    /** A [width]-wide image whose row 0 is source row [rowOffset], resampled vertically. */
    private fun vertical(src: ByteArray, width: Int, k: Coefficients, rowOffset: Int): ByteArray {
        val outHeight = k.first.size
        val out = ByteArray(width * outHeight * 3)
        for (yy in 0 until outHeight) {
            val base = yy * k.ksize
            val y0 = k.first[yy] - rowOffset
            for (xx in 0 until width) {
                var r = 1 shl (PRECISION_BITS - 1)
                var g = r
                var b = r
                for (y in 0 until k.count[yy]) {
                    val wt = k.weights[base + y]
                    val p = ((y0 + y) * width + xx) * 3
                    r += (src[p].toInt() and 0xFF) * wt
                    g += (src[p + 1].toInt() and 0xFF) * wt
                    b += (src[p + 2].toInt() and 0xFF) * wt
                }
                val o = (yy * width + xx) * 3
                out[o] = clip8(r).toByte()
                out[o + 1] = clip8(g).toByte()
                out[o + 2] = clip8(b).toByte()
            }
        }
        return out
    }

    /** The model's square input: [size] x [size]. */
    fun resizeSquare(image: RgbImage, size: Int): RgbImage = resize(image, size, size)
}
