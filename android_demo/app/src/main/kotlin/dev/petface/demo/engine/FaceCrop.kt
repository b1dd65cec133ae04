package dev.petface.demo.engine

import kotlin.math.roundToInt

/** A square region of an image, in pixels. */
data class Square(val left: Int, val top: Int, val size: Int)

/**
 * The camera screen's face guide on a capture. There is no dog-face detector that ships with the
 * app, so the screen draws a square guide and the user frames the face in it: the guide is
 * framing, not detection, and the capture cut to it is the photo the crop policy
 * ([dev.petface.core.CropPolicy]) then takes whole.
 *
 * Preview and capture are bound to one CameraX `ViewPort`, so the capture's crop rect is exactly
 * the field the preview shows; the guide is the centred square of [GUIDE_FRACTION] of that
 * field's shorter side.
 */
object FaceCrop {
    const val GUIDE_FRACTION = 0.72f

    /** The guide square on an upright [width] x [height] capture already cut to the preview's field. */
    fun guideSquare(width: Int, height: Int, fraction: Float = GUIDE_FRACTION): Square {
        require(width > 0 && height > 0 && fraction > 0f && fraction <= 1f) {
            "bad crop request: ${width}x$height, fraction $fraction"
        }
        val size = (minOf(width, height) * fraction).roundToInt().coerceIn(1, minOf(width, height))
        return Square((width - size) / 2, (height - size) / 2, size)
    }
}
