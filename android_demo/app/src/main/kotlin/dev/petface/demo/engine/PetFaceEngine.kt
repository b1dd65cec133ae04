package dev.petface.demo.engine

import dev.petface.core.Gallery
import dev.petface.core.GalleryException
import dev.petface.core.GalleryFile
import dev.petface.core.Manifest
import dev.petface.core.Match
import dev.petface.core.PetEmbedder
import dev.petface.core.RgbImage
import dev.petface.core.TensorRunner
import java.io.File

data class PetSummary(val name: String, val photos: Int)

data class Identification(val matches: List<Match>, val threshold: Double, val embedMillis: Double) {
    /** The accepted best match, or null for "not an enrolled pet". */
    val best: Match? get() = matches.firstOrNull()?.takeIf { it.accepted }
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
    val threshold: Double = artifact.defaultThreshold
    val runnerDescription: String get() = embedder.runnerDescription

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

    /** Adds [photos] of one pet under [name] (several angles and lightings help); returns its photo count. */
    fun enroll(name: String, photos: List<RgbImage>): Int {
        require(photos.isNotEmpty()) { "take at least one photo of $name" }
        val count = gallery.enroll(name, photos.map(embedder::embed))
        save()
        return count
    }

    /** The [topK] enrolled pets most like the face in [photo], best first, with the embedding time. */
    fun identify(photo: RgbImage, topK: Int = 5): Identification {
        val start = System.nanoTime()
        val query = embedder.embed(photo)
        val millis = (System.nanoTime() - start) / 1e6
        return Identification(gallery.identify(query, threshold, topK), threshold, millis)
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
