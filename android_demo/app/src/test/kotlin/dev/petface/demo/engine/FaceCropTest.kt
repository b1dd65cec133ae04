package dev.petface.demo.engine

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class FaceCropTest {
    @Test
    fun `the guide is the centred square of its fraction of the previewed field`() {
        // A portrait 960x1280 capture cut to a 3:4 preview: 0.72 of 960.
        assertEquals(Square(134, 294, 691), FaceCrop.guideSquare(960, 1280))
        // The same camera in a tall 9:16 preview: the ViewPort crop rect leaves 720x1280.
        assertEquals(Square(101, 381, 518), FaceCrop.guideSquare(720, 1280))
        assertEquals(Square(0, 0, 5), FaceCrop.guideSquare(5, 5, 1f))
    }
}
