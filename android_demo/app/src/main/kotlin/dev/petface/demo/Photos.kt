package dev.petface.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.net.Uri
import androidx.camera.core.ImageProxy
import dev.petface.core.RgbImage
import dev.petface.demo.engine.FaceCrop
import dev.petface.demo.engine.Square

/** Camera frames and picked photos to upright, face-cropped [RgbImage]s for the core. */
object Photos {
    /** A capture, rotated upright and cut to the on-screen face guide (preview aspect [viewAspect]). */
    fun fromCapture(image: ImageProxy, viewAspect: Float): Bitmap {
        val raw = image.toBitmap()
        val upright = Matrix().apply { postRotate(image.imageInfo.rotationDegrees.toFloat()) }
            .let { Bitmap.createBitmap(raw, 0, 0, raw.width, raw.height, it, true) }
        return crop(upright, FaceCrop.guideSquare(upright.width, upright.height, viewAspect))
    }

    /** A photo from the picker: decoded upright (ImageDecoder applies EXIF orientation), centre square. */
    fun fromUri(resolver: ContentResolver, uri: Uri): Bitmap {
        val bitmap = ImageDecoder.decodeBitmap(ImageDecoder.createSource(resolver, uri)) { decoder, info, _ ->
            decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            // Phone photos are 12+ MP; the model sees 112 px, so decode at most ~1500 px on the short side.
            val short = minOf(info.size.width, info.size.height)
            if (short > 1500) decoder.setTargetSampleSize(short / 1500)
        }
        return crop(bitmap, FaceCrop.centerSquare(bitmap.width, bitmap.height))
    }

    private fun crop(bitmap: Bitmap, s: Square): Bitmap = Bitmap.createBitmap(bitmap, s.left, s.top, s.size, s.size)

    /** ARGB_8888 pixels to the core's RGB image (hardware bitmaps are copied to software first). */
    fun toRgb(bitmap: Bitmap): RgbImage {
        val soft = if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
        val pixels = IntArray(soft.width * soft.height)
        soft.getPixels(pixels, 0, soft.width, 0, 0, soft.width, soft.height)
        return RgbImage.fromArgb(soft.width, soft.height, pixels)
    }
}
