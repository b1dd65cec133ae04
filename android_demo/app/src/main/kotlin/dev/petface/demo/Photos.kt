package dev.petface.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.graphics.Rect
import android.net.Uri
import androidx.camera.core.ImageProxy
import dev.petface.core.CropPolicy
import dev.petface.core.RgbImage
import dev.petface.demo.engine.FaceCrop

/**
 * Camera frames and picked photos to upright [Bitmap]s for the core. Everything here decodes or
 * copies megapixels: call it off the main thread (the camera screen uses its own executor, the
 * photo picker Dispatchers.IO).
 */
object Photos {
    /** Picked photos are decoded subsampled by an integer factor to a short side of this to twice this: the model sees 112. */
    const val MAX_DECODE_SIDE = 1024

    /**
     * A capture cut to the preview's field (its crop rect: preview and capture share one ViewPort),
     * rotated upright, then cut to the on-screen face guide. `toBitmap()` decodes the whole JPEG and
     * applies neither the crop rect nor the rotation, so both are applied here.
     */
    fun fromCapture(image: ImageProxy): Bitmap {
        val raw = image.toBitmap()
        val field = Rect(image.cropRect).apply { if (!intersect(0, 0, raw.width, raw.height)) set(0, 0, raw.width, raw.height) }
        val rotate = Matrix().apply { postRotate(image.imageInfo.rotationDegrees.toFloat()) }
        val upright = Bitmap.createBitmap(raw, field.left, field.top, field.width(), field.height(), rotate, true)
        val s = FaceCrop.guideSquare(upright.width, upright.height)
        return Bitmap.createBitmap(upright, s.left, s.top, s.size, s.size)
    }

    /**
     * A photo from the picker: decoded upright (ImageDecoder applies EXIF orientation) at a bounded
     * size, then cut to the crop policy's centred square ([CropPolicy], rule 1: what the core would
     * cut, done before the pixels are copied again).
     */
    fun fromUri(resolver: ContentResolver, uri: Uri): Bitmap {
        val bitmap = ImageDecoder.decodeBitmap(ImageDecoder.createSource(resolver, uri)) { decoder, info, _ ->
            decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            val short = minOf(info.size.width, info.size.height)
            if (short > MAX_DECODE_SIDE) decoder.setTargetSampleSize(short / MAX_DECODE_SIDE)
        }
        val box = CropPolicy.cropBox(bitmap.width, bitmap.height)
        return Bitmap.createBitmap(bitmap, box.x, box.y, box.width, box.height)
    }

    /** A small copy for the screen: what the enroll screen keeps per photo, beside its embedding. */
    fun thumbnail(bitmap: Bitmap, side: Int = 160): Bitmap = Bitmap.createScaledBitmap(bitmap, side, side, true)

    /** ARGB_8888 pixels to the core's RGB image (hardware bitmaps are copied to software first). */
    fun toRgb(bitmap: Bitmap): RgbImage {
        val soft = if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
        val pixels = IntArray(soft.width * soft.height)
        soft.getPixels(pixels, 0, soft.width, 0, 0, soft.width, soft.height)
        return RgbImage.fromArgb(soft.width, soft.height, pixels)
    }
}
