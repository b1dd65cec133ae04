package dev.petface.demo.engine

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class FaceCropTest {
    @Test
    fun `guide maps onto the part of the capture the preview shows`() {
        // Portrait 960x1280 capture shown in a 3:4 preview: all of it is visible.
        assertEquals(Square(134, 294, 691), FaceCrop.guideSquare(960, 1280, 3f / 4f))
        // The same capture in a tall 9:16 preview (FILL_CENTER crops the sides): visible width 720.
        assertEquals(Square(221, 381, 518), FaceCrop.guideSquare(960, 1280, 9f / 16f))
        // A wide preview crops top and bottom instead: visible 960x540.
        assertEquals(Square(285, 445, 389), FaceCrop.guideSquare(960, 1280, 16f / 9f))
    }

    @Test
    fun `a picked photo gives its largest centred square`() {
        assertEquals(Square(100, 0, 300), FaceCrop.centerSquare(500, 300))
        assertEquals(Square(0, 0, 1), FaceCrop.centerSquare(1, 1))
    }
}
