package dev.petface.core

import java.io.File

/**
 * The `crop_policy` section of the golden files (`tests/golden.py`): per golden image, a face box,
 * its margin, the square Python cut and its resized pixels, Python's `tflite-fp32` embedding of
 * those pixels, and a gallery enrolled from the boxed crops with the top-5 matches of the boxed queries.
 */
class GoldenCrops private constructor(golden: Golden, section: JsonFields) {
    data class Case(val image: Golden.Image, val face: Box, val margin: Double, val crop: Box, val pixels: File)

    val artifact: String = section.string("artifact")
    val threshold: Double = section.double("threshold")
    val cases: List<Case> = section.objects("cases").map { c ->
        Case(golden.images.first { it.id == c.string("image") }, box(c.obj("box")), c.double("margin"), box(c.obj("crop")),
            File(golden.dir, c.string("pixels")))
    }
    private val embeddingsRoot = section.obj("embeddings")
    val enrolled: List<Pair<String, List<String>>> = section.objects("enrolled").map { it.string("name") to it.strings("images") }
    val queries: List<Golden.Query> = section.objects("queries").map { q ->
        Golden.Query(q.string("image"), q.raw("expected") as String?,
            q.objects("matches").map { Golden.Expected(it.string("name"), it.double("score"), it.bool("accepted", false)) })
    }

    /** Python's embedding of the crop of image [id]. */
    fun embedding(id: String): FloatArray = embeddingsRoot.floats(id)

    fun pixels(case: Case, size: Int): RgbImage = RgbImage(size, size, case.pixels.readBytes())

    companion object {
        val instance: GoldenCrops by lazy {
            val golden = Golden.instance
            val file = File(golden.dir, "golden.json")
            GoldenCrops(golden, JsonFields.parse(file.readText(), file.path).obj("crop_policy"))
        }

        private fun box(f: JsonFields) = Box(f.int("x"), f.int("y"), f.int("width"), f.int("height"))
    }
}
