package dev.petface.demo.engine

import kotlin.math.roundToInt

/** A square region of an image, in pixels. */
data class Square(val left: Int, val top: Int, val size: Int)

/**
 * Where the pet's face is in a photo. There is no dog-face detector that ships with the app,
 * so the camera screen draws a square guide and the user frames the face in it; this maps
 * that guide onto the captured image (and picks the centred square of a picked photo).
 *
 * The preview shows the camera frame centre-cropped to the preview's aspect ratio
 * (PreviewView FILL_CENTER; preview and capture share the 4:3 sensor crop), and the guide is
 * a centred square of [GUIDE_FRACTION] of the preview's shorter side, so on the upright
 * captured image it is the centred square of that fraction of the visible region's shorter side.
 */
object FaceCrop {
    const val GUIDE_FRACTION = 0.72f

    /**
     * The guide square on an upright [width] x [height] capture, for a preview of aspect
     * [viewAspect] (width / height) and a guide of [fraction] of the preview's shorter side.
     */
    fun guideSquare(width: Int, height: Int, viewAspect: Float, fraction: Float = GUIDE_FRACTION): Square {
        require(width > 0 && height > 0 && viewAspect > 0f && fraction > 0f && fraction <= 1f) {
            "bad crop request: ${width}x$height, view aspect $viewAspect, fraction $fraction"
        }
        val imageAspect = width.toFloat() / height
        // The part of the image the preview shows: full height and cropped sides, or the reverse.
        val visibleW = if (imageAspect > viewAspect) height * viewAspect else width.toFloat()
        val visibleH = if (imageAspect > viewAspect) height.toFloat() else width / viewAspect
        val size = (minOf(visibleW, visibleH) * fraction).roundToInt().coerceIn(1, minOf(width, height))
        return Square((width - size) / 2, (height - size) / 2, size)
    }

    /** The largest centred square of a [width] x [height] photo (picked photos: the face is expected centred). */
    fun centerSquare(width: Int, height: Int): Square = guideSquare(width, height, width.toFloat() / height, 1f)
}
