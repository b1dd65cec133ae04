package dev.petface.core

import java.io.File

/**
 * The golden files written by `tests/golden.py` (schema `petface-golden` v1): source images as
 * PIL decoded them, PIL's resized pixels, the Python runtime's embeddings per artifact, and the
 * Python gallery's identify results. Located by the system property `petface.golden`; the
 * LiteRT library by `petface.litert` (both set by `run_core_tests.sh`).
 */
class Golden private constructor(val dir: File, root: JsonFields) {
    data class Image(val id: String, val width: Int, val height: Int, val decoded: File, val pixels: File)
    data class Expected(val name: String, val score: Double, val accepted: Boolean)
    data class Query(val image: String, val expected: String?, val matches: List<Expected>)
    data class Decision(val image: String, val expected: String?, val top1: String, val score: Double, val accepted: Boolean)
    /** Python's identify-policy decisions with the first [pets] golden pets enrolled. */
    data class GallerySize(val pets: Int, val templates: Int, val threshold: Double, val fpir: Double, val decisions: List<Decision>)

    val imageSize: Int = root.int("image_size")
    val fingerprint: String = root.string("fingerprint")
    val images: List<Image> = root.objects("images").map {
        Image(it.string("id"), it.int("width"), it.int("height"), File(dir, it.string("decoded")), File(dir, it.string("pixels")))
    }
    val manifest: Manifest = File(dir, "manifest.json").let { Manifest.parse(it.readText(), it.path) }

    private val embeddingsRoot = root.obj("embeddings")
    private val gallery = root.obj("gallery")
    val galleryArtifact: String = gallery.string("artifact")
    val galleryThreshold: Double = gallery.double("threshold")
    val enrolled: List<Pair<String, List<String>>> = gallery.objects("enrolled").map { it.string("name") to it.strings("images") }
    val queries: List<Query> = gallery.objects("queries").map { q ->
        Query(
            q.string("image"),
            q.raw("expected") as String?,
            q.objects("matches").map { Expected(it.string("name"), it.double("score"), it.bool("accepted", false)) },
        )
    }

    private val identify = root.obj("identify")
    val identifyArtifact: String = identify.string("artifact")
    val identifySizes: List<GallerySize> = identify.objects("sizes").map { s ->
        val point = s.obj("operating_point")
        GallerySize(s.int("pets"), s.int("templates"), point.double("threshold"), point.double("target"),
            s.objects("queries").map {
                Decision(it.string("image"), it.raw("expected") as String?, it.string("top1"), it.double("score"), it.bool("accepted", false))
            })
    }

    /** Python's embedding of every image for [artifactId]. */
    fun embeddings(artifactId: String): Map<String, FloatArray> {
        val byImage = embeddingsRoot.obj(artifactId)
        return images.associate { it.id to byImage.floats(it.id) }
    }

    fun decoded(image: Image): RgbImage = RgbImage(image.width, image.height, image.decoded.readBytes())

    fun pixels(image: Image): RgbImage = RgbImage(imageSize, imageSize, image.pixels.readBytes())

    fun modelFile(artifactId: String): File = File(dir, manifest.artifact(artifactId).path)

    companion object {
        val litertLibrary: File by lazy { File(property("petface.litert")) }

        /** Python (the project venv's) for the gallery-file interop checks. */
        val python: File by lazy { File(property("petface.python")) }

        val instance: Golden by lazy {
            val dir = File(property("petface.golden"))
            val file = File(dir, "golden.json")
            require(file.isFile) { "$file: no golden.json (build it with: python -m tests.pipeline build/test-pipeline)" }
            val root = JsonFields.parse(file.readText(), file.path)
            require(root.raw("schema") == "petface-golden" && root.int("schema_version") == 1) {
                "$file: expected schema petface-golden version 1"
            }
            Golden(dir, root)
        }

        private fun property(name: String): String =
            System.getProperty(name) ?: throw IllegalStateException("system property $name is not set (run android_demo/run_core_tests.sh)")
    }
}
