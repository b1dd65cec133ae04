package dev.petface.core

import kotlin.math.round

/** A pixel rectangle in an upright image, origin top-left: Python's `petface_edge.imaging.Box`. */
data class Box(val x: Int, val y: Int, val width: Int, val height: Int)

/**
 * What part of a photo the model sees: the crop policy of `petface_edge/imaging.py`, ported
 * operation by operation and tested against its golden crops, so a gallery enrolled on the
 * phone answers like one enrolled in Python.
 *
 * 1. No face box: the largest centred square (a non-square photo is cut, never squashed).
 * 2. A face box: the square around it grown by [margin] of its longer side on every side,
 *    shifted to stay inside the photo, shrunk only to the photo's shorter side (Python's
 *    `square_crop_box`, with its round-half-to-even).
 * 3. [PetEmbedder] resizes the square with [PilResize].
 *
 * The Android app has no detector: photos take rule 1, and the camera screen's capture is already
 * cut to its square guide (framing, not detection), which rule 1 leaves as it is.
 */
object CropPolicy {
    /** The margin for a tight face box (Python's `DEFAULT_MARGIN`). */
    const val FACE_MARGIN = 0.2

    fun cropBox(width: Int, height: Int, face: Box? = null, margin: Double = FACE_MARGIN): Box {
        require(width > 0 && height > 0) { "cannot crop a ${width}x$height image" }
        if (face == null) {
            val side = minOf(width, height)
            return Box((width - side) / 2, (height - side) / 2, side, side)
        }
        // kotlin.math.round rounds half to even, like Python's round().
        val side = round(maxOf(face.width, face.height) * (1 + 2 * margin)).toInt().coerceIn(1, minOf(width, height))
        val cx = face.x + face.width / 2.0
        val cy = face.y + face.height / 2.0
        val x = round(cx - side / 2.0).toInt().coerceIn(0, width - side)
        val y = round(cy - side / 2.0).toInt().coerceIn(0, height - side)
        return Box(x, y, side, side)
    }

    /** [image] cut to [cropBox]; a square image without a face box is returned as is. */
    fun crop(image: RgbImage, face: Box? = null, margin: Double = FACE_MARGIN): RgbImage {
        val box = cropBox(image.width, image.height, face, margin)
        if (box == Box(0, 0, image.width, image.height)) return image
        return image.crop(box.x, box.y, box.width, box.height)
    }
}
