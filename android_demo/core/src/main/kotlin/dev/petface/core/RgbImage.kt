package dev.petface.core

/**
 * An 8-bit RGB image, row-major, 3 bytes per pixel, no padding: the platform-neutral
 * equivalent of an Android `Bitmap` (the app converts ARGB_8888 pixels into this) and the
 * layout of the golden files under `decoded/` and `pixels/`.
 */
class RgbImage(val width: Int, val height: Int, val bytes: ByteArray) {
    init {
        require(width > 0 && height > 0) { "image size must be positive, got ${width}x$height" }
        require(bytes.size.toLong() == width.toLong() * height * 3) {
            "expected ${width}x${height}x3 = ${width.toLong() * height * 3} bytes of RGB, got ${bytes.size}"
        }
    }

    /** Channel [c] (0 = R, 1 = G, 2 = B) of pixel ([x], [y]) as 0..255. */
    operator fun get(x: Int, y: Int, c: Int): Int = bytes[(y * width + x) * 3 + c].toInt() and 0xFF

    /** The sub-image [left, left + w) x [top, top + h); must lie inside this image. */
    fun crop(left: Int, top: Int, w: Int, h: Int): RgbImage {
        require(left >= 0 && top >= 0 && w > 0 && h > 0 && left + w <= width && top + h <= height) {
            "crop ($left, $top, ${w}x$h) is outside the ${width}x$height image"
        }
        val out = ByteArray(w * h * 3)
        for (y in 0 until h) System.arraycopy(bytes, ((top + y) * width + left) * 3, out, y * w * 3, w * 3)
        return RgbImage(w, h, out)
    }

    companion object {
        /** From packed ARGB ints (Android `Bitmap.getPixels`, Java `BufferedImage.getRGB`); alpha is dropped. */
        fun fromArgb(width: Int, height: Int, argb: IntArray): RgbImage {
            require(argb.size == width * height) { "expected ${width * height} ARGB pixels, got ${argb.size}" }
            val out = ByteArray(argb.size * 3)
            for (i in argb.indices) {
                val p = argb[i]
                out[i * 3] = (p shr 16).toByte()
                out[i * 3 + 1] = (p shr 8).toByte()
                out[i * 3 + 2] = p.toByte()
            }
            return RgbImage(width, height, out)
        }
    }
}
