package dev.petface.core

import java.io.File
import java.nio.ByteBuffer
import java.security.MessageDigest

/** A model file that is not the one its manifest entry describes. */
class ModelIntegrityException(message: String) : IllegalStateException(message)

/**
 * The model file checked against its manifest entry's sha256 before it is run, as the Python
 * runtime does when it opens an export: a file changed or swapped after export (another
 * precision, another training run, a truncated copy) is refused with a message naming it,
 * instead of giving answers under the wrong contract and thresholds.
 */
object ModelIntegrity {
    fun sha256(bytes: ByteBuffer): String {
        val digest = MessageDigest.getInstance("SHA-256")
        digest.update(bytes.duplicate().apply { rewind() })
        return hex(digest.digest())
    }

    fun sha256(file: File): String {
        val digest = MessageDigest.getInstance("SHA-256")
        file.inputStream().use { input ->
            val block = ByteArray(1 shl 16)
            while (true) {
                val n = input.read(block)
                if (n < 0) break
                digest.update(block, 0, n)
            }
        }
        return hex(digest.digest())
    }

    /** Refuses [model] (the bytes of [artifact]'s file, named [where] in messages) unless its sha256 is the manifest's. */
    fun verify(artifact: Artifact, model: ByteBuffer, where: String = artifact.path) = check(artifact, sha256(model), where)

    fun verify(artifact: Artifact, file: File) = check(artifact, sha256(file), file.path)

    private fun check(artifact: Artifact, actual: String, where: String) {
        val expected = artifact.sha256.lowercase()
        if (expected.isEmpty()) {
            throw ModelIntegrityException("$where: the manifest gives no sha256 for ${artifact.id}, so the file cannot be " +
                "checked; re-export it with petface-export")
        }
        if (actual != expected) {
            throw ModelIntegrityException("$where: sha256 ${actual.take(12)}... is not the manifest's ${expected.take(12)}... " +
                "for ${artifact.id}: the file was changed or swapped after export; import the model again")
        }
    }

    private fun hex(bytes: ByteArray): String = bytes.joinToString("") { "%02x".format(it) }
}
