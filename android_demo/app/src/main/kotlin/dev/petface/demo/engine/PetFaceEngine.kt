package dev.petface.demo.engine

import dev.petface.core.DecisionTables
import dev.petface.core.Gallery
import dev.petface.core.GalleryException
import dev.petface.core.GalleryFile
import dev.petface.core.Manifest
import dev.petface.core.Match
import dev.petface.core.OperatingPoint
import dev.petface.core.PetEmbedder
import dev.petface.core.RgbImage
import dev.petface.core.TensorRunner
import java.io.File

data class PetSummary(val name: String, val photos: Int)

/** One photo's embedding and the time the model took to compute it (crop, resize and inference). */
class Embedded(val embedding: FloatArray, val millis: Double)

data class Identification(val matches: List<Match>, val operatingPoint: OperatingPoint, val embedMillis: Double) {
    /** The accepted best match, or null for "not an enrolled pet". */
    val best: Match? get() = matches.firstOrNull()?.takeIf { it.accepted }

    /** The identify threshold used: calibrated for the target FPIR at the gallery's photo count. */
    val threshold: Double get() = operatingPoint.threshold
}

/**
 * The app's whole recognition logic, free of Android classes: embed with the chosen artifact,
 * enroll and identify against the on-device gallery, persist it after every change.
 * The Android layer supplies the [TensorRunner] (LiteRT Interpreter) and the photos as [RgbImage].
 *
 * The gallery file is the Python runtime's format ([GalleryFile]); one enrolled with another
 * model is set aside (renamed, never deleted) and a fresh gallery started, since embeddings
 * of different models are not comparable.
 */
class PetFaceEngine(
    val manifest: Manifest,
    plan: Plan,
    runner: TensorRunner,
    private val galleryFile: File,
) : AutoCloseable {
    val artifact = plan.artifact
    private val embedder = PetEmbedder(artifact, runner)
    /** Verify / identify policies from the manifest (identify: FPIR 1e-2 at the gallery's size). */
    val decisions: DecisionTables = artifact.decisions
    val runnerDescription: String get() = embedder.runnerDescription

    /** What the manifest says about the running artifact, in words for the UI. */
    val verification: String = verificationLabel(artifact.status)

    /** Set when an old gallery could not be used; shown once to the user. */
    var notice: String? = null
        private set

    private val gallery: Gallery = openGallery()

    private fun openGallery(): Gallery {
        val fresh = Gallery(manifest.fingerprint, embedder.dim, artifact.id)
        if (!galleryFile.exists()) return fresh
        return try {
            GalleryFile.read(galleryFile, fingerprint = manifest.fingerprint, dim = embedder.dim)
        } catch (e: GalleryException) {
            val aside = File(galleryFile.path + ".unusable-" + System.currentTimeMillis())
            galleryFile.renameTo(aside)
            notice = "${e.message} (kept as ${aside.name})"
            fresh
        }
    }

    fun pets(): List<PetSummary> = gallery.names().map { PetSummary(it, gallery.templateCount(it)) }

    /** The embedding of an upright [photo], by the crop policy (its centred square), timed. */
    fun embed(photo: RgbImage): Embedded {
        val start = System.nanoTime()
        val vector = embedder.embed(photo)
        return Embedded(vector, (System.nanoTime() - start) / 1e6)
    }

    /** Adds [photos] of one pet under [name] (several angles and lightings help); returns its photo count. */
    fun enroll(name: String, photos: List<RgbImage>): Int = enrollEmbeddings(name, photos.map { embed(it).embedding })

    /** Adds embeddings made by [embed] as [name]'s photos (the app embeds each photo when it is taken). */
    fun enrollEmbeddings(name: String, embeddings: List<FloatArray>): Int {
        require(embeddings.isNotEmpty()) { "take at least one photo of $name" }
        val count = gallery.enroll(name, embeddings)
        save()
        return count
    }

    /** The [topK] enrolled pets most like the face in [photo], best first, with the embedding time. */
    fun identify(photo: RgbImage, topK: Int = 5): Identification {
        val query = embed(photo)
        val result = gallery.identify(query.embedding, decisions, topK)
        return Identification(result.matches, result.operatingPoint, query.millis)
    }

    fun remove(name: String) {
        gallery.remove(name)
        save()
    }

    fun rename(old: String, new: String) {
        gallery.rename(old, new)
        save()
    }

    private fun save() = GalleryFile.write(galleryFile, gallery)

    override fun close() = embedder.close()
}

/** A manifest status in words: "passed" is the only one the app ships (see [ArtifactChoice]). */
fun verificationLabel(status: String): String =
    if (status == "passed") "verified against PyTorch (parity passed)" else "not verified: $status"

