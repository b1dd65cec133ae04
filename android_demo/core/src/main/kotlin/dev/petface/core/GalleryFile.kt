package dev.petface.core

import java.io.ByteArrayOutputStream
import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter
import java.time.temporal.ChronoUnit
import java.util.zip.CRC32
import java.util.zip.ZipEntry
import java.util.zip.ZipException
import java.util.zip.ZipFile
import java.util.zip.ZipOutputStream

/**
 * The gallery file of `petface_edge/runtime/gallery_file.py`, schema version 1, read and
 * written byte-compatibly so a gallery enrolled on the phone opens in Python and vice versa:
 *
 * an uncompressed (STORED) ZIP with `gallery.json`
 * (`{"schema": "petface-gallery", "schema_version": 1, "fingerprint", "dim", "artifact",
 * "created", "updated", "pets": [{"name", "templates": count}, ...]}`) and `templates.npy`
 * (numpy v1 header, little-endian float32, shape (sum of counts, dim), each pet's rows
 * consecutive in `pets` order). Saving writes a temporary file and renames it over the
 * old one, so a crash mid-save keeps the previous gallery.
 */
object GalleryFile {
    const val SCHEMA = "petface-gallery"
    const val SCHEMA_VERSION = 1
    private const val META = "gallery.json"
    private const val TEMPLATES = "templates.npy"
    private val NPY_MAGIC = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte())

    fun write(file: File, gallery: Gallery) {
        val dir = file.absoluteFile.parentFile
        if (dir == null || !dir.isDirectory) throw GalleryException("$file: folder ${file.absoluteFile.parent} does not exist")
        val entries = gallery.entries()
        val now = isoNow()
        val meta = linkedMapOf(
            "schema" to SCHEMA,
            "schema_version" to SCHEMA_VERSION,
            "fingerprint" to gallery.fingerprint,
            "dim" to gallery.dim,
            "artifact" to gallery.artifact,
            "created" to gallery.created.ifEmpty { now },
            "updated" to now,
            "pets" to entries.map { (name, t) -> linkedMapOf("name" to name, "templates" to t.size) },
        )
        val rows = entries.flatMap { it.second }
        val tmp = File.createTempFile(".${file.name}.", ".tmp", dir)
        try {
            FileOutputStream(tmp).use { fos ->
                ZipOutputStream(fos).use { zip ->
                    stored(zip, META, Json.write(meta, indent = 1).toByteArray(Charsets.UTF_8))
                    stored(zip, TEMPLATES, npy(rows, gallery.dim))
                    zip.finish()
                    fos.flush()
                    fos.fd.sync()
                }
            }
            if (!tmp.renameTo(file)) throw IOException("cannot rename $tmp to $file")
        } finally {
            tmp.delete()
        }
    }

    /**
     * Reads and validates a gallery file. With [fingerprint] / [dim], refuses a gallery made by a
     * different model, like the Python `Gallery.load(path, embedder)`.
     */
    fun read(file: File, fingerprint: String? = null, dim: Int? = null): Gallery {
        if (!file.isFile) throw GalleryException("$file: no such gallery file")
        val (metaText, npyBytes) = try {
            ZipFile(file).use { zip ->
                val meta = zip.getEntry(META) ?: throw GalleryException("$file: not a petface gallery (no $META inside)")
                val metaText = zip.getInputStream(meta).use { String(it.readBytes(), Charsets.UTF_8) }
                val npy = zip.getEntry(TEMPLATES)?.let { e -> zip.getInputStream(e).use { it.readBytes() } }
                metaText to npy
            }
        } catch (e: ZipException) {
            throw GalleryException("$file: not a petface gallery or corrupt (${e.message})")
        }
        val meta = try {
            JsonFields.parse(metaText, "$file:$META")
        } catch (e: JsonFields.FieldException) {
            throw GalleryException("$file: corrupt gallery (${e.message})")
        }
        if (meta.raw("schema") != SCHEMA) throw GalleryException("$file: not a petface gallery (expected schema '$SCHEMA')")
        val gallery = try {
            val version = meta.int("schema_version")
            if (version < 1) throw GalleryException("$file: corrupt gallery (schema_version $version)")
            if (version > SCHEMA_VERSION) {
                throw GalleryException("$file: gallery schema version $version is newer than this app reads ($SCHEMA_VERSION)")
            }
            if (npyBytes == null) throw GalleryException("$file: corrupt gallery ($TEMPLATES missing)")
            val galleryDim = meta.int("dim")
            val pets = meta.objects("pets").map { it.string("name") to it.int("templates") }
            val total = pets.sumOf { it.second }
            val rows = readNpy(npyBytes, total, galleryDim, file)
            if (pets.map { it.first }.toSet().size != pets.size || pets.any { it.second < 1 }) {
                throw GalleryException("$file: corrupt gallery (duplicate pet names or pets without templates)")
            }
            if (rows.any { r -> r.any { !it.isFinite() } || kotlin.math.abs(kotlin.math.sqrt(Vectors.dot(r, r)) - 1) > 1e-3 }) {
                throw GalleryException("$file: corrupt gallery (templates are not finite unit vectors)")
            }
            Gallery(meta.string("fingerprint"), galleryDim, meta.optString("artifact", ""), meta.optString("created", "")).also { g ->
                var start = 0
                for ((name, count) in pets) {
                    g.restore(name, rows.subList(start, start + count))
                    start += count
                }
            }
        } catch (e: JsonFields.FieldException) {
            throw GalleryException("$file: corrupt gallery (${e.message})")
        }
        if (fingerprint != null && fingerprint != gallery.fingerprint) {
            throw GalleryException(
                "$file: enrolled with model ${gallery.fingerprint.take(12)}, but the current model is ${fingerprint.take(12)}; " +
                    "embeddings of different models are not comparable: re-enroll the pets with this model",
            )
        }
        if (dim != null && dim != gallery.dim) throw GalleryException("$file: holds ${gallery.dim}-d templates, the model gives $dim-d")
        return gallery
    }

    private fun stored(zip: ZipOutputStream, name: String, data: ByteArray) {
        val entry = ZipEntry(name)
        entry.method = ZipEntry.STORED
        entry.size = data.size.toLong()
        entry.compressedSize = data.size.toLong()
        entry.crc = CRC32().apply { update(data) }.value
        zip.putNextEntry(entry)
        zip.write(data)
        zip.closeEntry()
    }

    /** numpy `.npy` v1.0: magic, version, little-endian header length, a Python-literal header padded to 64 bytes. */
    private fun npy(rows: List<FloatArray>, dim: Int): ByteArray {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (${rows.size}, $dim), }"
        val unpadded = NPY_MAGIC.size + 2 + 2 + header.length + 1
        header += " ".repeat((64 - unpadded % 64) % 64) + "\n"
        val out = ByteArrayOutputStream()
        out.write(NPY_MAGIC)
        out.write(byteArrayOf(1, 0, (header.length and 0xFF).toByte(), (header.length shr 8).toByte()))
        out.write(header.toByteArray(Charsets.US_ASCII))
        val body = ByteBuffer.allocate(rows.size * dim * 4).order(ByteOrder.LITTLE_ENDIAN)
        for (r in rows) for (v in r) body.putFloat(v)
        out.write(body.array())
        return out.toByteArray()
    }

    private fun readNpy(bytes: ByteArray, rows: Int, dim: Int, file: File): List<FloatArray> {
        fun corrupt(why: String): Nothing = throw GalleryException("$file: corrupt gallery ($TEMPLATES $why)")
        if (bytes.size < 10 || !bytes.copyOfRange(0, 6).contentEquals(NPY_MAGIC)) corrupt("is not a .npy array")
        val buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
        val major = bytes[6].toInt()
        val (headerLen, start) = when (major) {
            1 -> (buf.getShort(8).toInt() and 0xFFFF) to 10
            2, 3 -> buf.getInt(8) to 12
            else -> corrupt("has .npy version $major")
        }
        if (start + headerLen > bytes.size) corrupt("is truncated")
        val header = String(bytes, start, headerLen, Charsets.ISO_8859_1)
        val descr = Regex("'descr':\\s*'([^']*)'").find(header)?.groupValues?.get(1)
        val fortran = Regex("'fortran_order':\\s*(True|False)").find(header)?.groupValues?.get(1)
        val shape = Regex("'shape':\\s*\\(([^)]*)\\)").find(header)?.groupValues?.get(1)
            ?.split(',')?.map { it.trim() }?.filter { it.isNotEmpty() }?.map { it.toIntOrNull() ?: corrupt("has shape ($it)") }
        if (descr != "<f4" || fortran != "False" || shape != listOf(rows, dim)) {
            corrupt("are $descr $shape, $META says float32 ($rows, $dim)")
        }
        val data = start + headerLen
        if (bytes.size - data < rows.toLong() * dim * 4) corrupt("is truncated")
        buf.position(data)
        return List(rows) { FloatArray(dim) { buf.getFloat() } }
    }

    private fun isoNow(): String =
        ISO_SECONDS.format(Instant.now().truncatedTo(ChronoUnit.SECONDS).atOffset(ZoneOffset.UTC))

    // Python's datetime.isoformat(): "+00:00", not "Z".
    private val ISO_SECONDS = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ssxxx")
}
