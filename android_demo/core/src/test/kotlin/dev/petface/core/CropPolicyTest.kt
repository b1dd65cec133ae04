package dev.petface.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.math.abs

/**
 * The crop policy against Python's (`petface_edge/imaging.py`): the same squares and, after the
 * resize, the same bytes on every golden image; and a gallery enrolled through the Kotlin policy
 * and the real .tflite answers Python's queries as Python's gallery does.
 */
class CropPolicyTest {
    private val golden = Golden.instance
    private val crops = GoldenCrops.instance

    @Test
    fun `no face box gives the centred square, never a squashed photo`() {
        assertEquals(Box(10, 0, 40, 40), CropPolicy.cropBox(60, 40))
        assertEquals(Box(0, 10, 40, 40), CropPolicy.cropBox(40, 61)) // odd difference: the extra row stays below
        val square = RgbImage(3, 3, ByteArray(27))
        assertSame(square, CropPolicy.crop(square))
        assertThrows<IllegalArgumentException> { CropPolicy.cropBox(0, 5) }
    }

    @Test
    fun `a face box is squared, grown, shifted inside and shrunk only to the photo`() {
        // The cases of tests/test_imaging.py, answered by Python.
        assertEquals(Box(0, 0, 28, 28), CropPolicy.cropBox(60, 40, Box(2, 5, 20, 10)))
        assertEquals(Box(30, 10, 11, 11), CropPolicy.cropBox(60, 40, Box(30, 10, 10, 10), margin = 0.05))
        assertEquals(Box(20, 0, 40, 40), CropPolicy.cropBox(60, 40, Box(40, 20, 30, 30)))
    }

    @Test
    fun `every golden image gives Python's square and Python's pixels, without and with a face box`() {
        val size = golden.imageSize
        for (image in golden.images) {
            val decoded = golden.decoded(image)
            assertArrayBytes(golden.pixels(image), PilResize.resizeSquare(CropPolicy.crop(decoded), size), "${image.id} centred")
        }
        for (case in crops.cases) {
            val decoded = golden.decoded(case.image)
            assertEquals(case.crop, CropPolicy.cropBox(decoded.width, decoded.height, case.face, case.margin), case.image.id)
            val ours = PilResize.resizeSquare(CropPolicy.crop(decoded, case.face, case.margin), size)
            assertArrayBytes(crops.pixels(case, size), ours, "${case.image.id} with ${case.face}")
        }
        println("crop policy: ${golden.images.size} centred squares and ${crops.cases.size} face-box squares " +
            "byte-identical to Python's")
    }

    @Test
    fun `a gallery enrolled through the Kotlin crop policy identifies Python's queries as Python does`() {
        val artifact = golden.manifest.artifact(crops.artifact)
        val byId = crops.cases.associateBy { it.image.id }
        val kotlin = PetEmbedder(artifact, LiteRtRunner(golden.modelFile(artifact.id), Golden.litertLibrary)).use { e ->
            crops.enrolled.flatMap { it.second }.associateWith { id ->
                val case = byId.getValue(id)
                e.embed(golden.decoded(case.image), case.face, case.margin)
            }
        }
        val gallery = Gallery(golden.manifest.fingerprint, artifact.output.dim, artifact.id)
        for ((name, images) in crops.enrolled) gallery.enroll(name, images.map { kotlin.getValue(it) })
        var worst = 0.0
        for (q in crops.queries) {
            // The query as Python enrolled and embedded it.
            val ours = gallery.identify(crops.embedding(q.image), crops.threshold, q.matches.size)
            assertEquals(q.matches.map { it.name to it.accepted }, ours.map { it.name to it.accepted }, "query ${q.image}")
            worst = maxOf(worst, q.matches.zip(ours).maxOf { (a, b) -> abs(a.score - b.score) })
        }
        assertTrue(worst < 1e-4, "scores differ from Python's by up to $worst")
        println("crop-policy gallery: ${crops.queries.size} Python queries, identical names and decisions, " +
            "max score difference ${"%.1e".format(worst)}")
    }

    private fun assertArrayBytes(expected: RgbImage, actual: RgbImage, what: String) {
        assertEquals(expected.width to expected.height, actual.width to actual.height, what)
        assertTrue(expected.bytes.contentEquals(actual.bytes), "$what: pixels differ from Python's")
    }
}
