package dev.petface.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.zip.ZipEntry
import java.util.zip.ZipFile
import java.util.zip.ZipOutputStream

class GalleryTest {
    private fun v(vararg x: Float) = floatArrayOf(*x)

    private fun gallery() = Gallery("fp-123", 3, "tflite-fp32").apply {
        enroll("Milo", listOf(v(1f, 0f, 0f), v(0f, 1f, 0f)))
        enroll("Luna", listOf(v(0f, 0f, 1f)))
        enroll("Abby", listOf(v(0f, 1f, 0f)))
    }

    @Test
    fun `score is the max over templates, ties go to the earlier name`() {
        val g = gallery()
        val m = g.identify(v(0f, 2f, 0f), threshold = 0.5)
        // Milo's second template and Abby's only one both score 1: tie broken by name.
        assertEquals(listOf("Abby", "Milo", "Luna"), m.map { it.name })
        assertEquals(listOf(1.0, 1.0, 0.0), m.map { it.score })
        assertEquals(listOf(true, true, false), m.map { it.accepted })
        assertEquals(listOf("Abby"), g.identify(v(0f, 1f, 0f), 0.5, topK = 1).map { it.name })
    }

    @Test
    fun `accepted means score at or above the threshold`() {
        val g = gallery()
        val q = v(1f, 1f, 0f) // cosine 1/sqrt(2) with Milo
        val score = g.identify(q, 0.0).first().score
        assertTrue(g.verify("Milo", q, score).accepted)
        assertFalse(g.verify("Milo", q, Math.nextUp(score)).accepted)
        assertEquals(score, g.verify("Milo", q, 0.0).score)
    }

    @Test
    fun `enroll adds templates, rename keeps the order, remove forgets`() {
        val g = gallery()
        assertEquals(3, g.enroll("  Luna ", listOf(v(1f, 1f, 1f), v(1f, 0f, 1f))))
        assertEquals(listOf("Abby", "Luna", "Milo"), g.names())
        g.rename("Luna", "Nala")
        assertEquals(listOf("Milo", "Nala", "Abby"), g.entries().map { it.first })
        assertThrows<GalleryException> { g.rename("Nala", "Milo") }
        g.remove("Milo")
        assertFalse("Milo" in g)
        assertThrows<NoSuchElementException> { g.remove("Milo") }
        assertThrows<GalleryException> { g.enroll(" ", listOf(v(1f, 0f, 0f))) }
        assertThrows<GalleryException> { g.enroll("Tab\tby", listOf(v(1f, 0f, 0f))) }
        assertThrows<GalleryException> { g.enroll("Rex", listOf(v(1f, 0f))) }
        assertThrows<GalleryException> { g.enroll("Rex", listOf(v(Float.NaN, 0f, 0f))) }
        assertThrows<GalleryException> { g.enroll("Rex", emptyList()) }
    }

    @Test
    fun `file round trip is exact and keeps pet order`(@TempDir dir: File) {
        val g = gallery()
        val file = File(dir, "pets.gallery")
        GalleryFile.write(file, g)
        val back = GalleryFile.read(file, fingerprint = "fp-123", dim = 3)
        assertEquals(g.entries().map { it.first }, back.entries().map { it.first })
        for ((name, templates) in g.entries()) {
            templates.zip(back.templates(name)).forEach { (a, b) -> assertArrayEquals(a, b) }
        }
        assertEquals("tflite-fp32", back.artifact)
        assertEquals(g.identify(v(0.3f, 0.5f, 0.1f), 0.5), back.identify(v(0.3f, 0.5f, 0.1f), 0.5))
        ZipFile(file).use { zip ->
            assertEquals(listOf("gallery.json", "templates.npy"), zip.entries().toList().map { it.name })
            assertTrue(zip.entries().toList().all { it.method == ZipEntry.STORED })
        }
        assertEquals(listOf("pets.gallery"), dir.list()!!.toList(), "no temporary file left behind")
    }

    @Test
    fun `a gallery from another model or a damaged file is refused with the file name`(@TempDir dir: File) {
        val file = File(dir, "pets.gallery")
        GalleryFile.write(file, gallery())
        val other = assertThrows<GalleryException> { GalleryFile.read(file, fingerprint = "fp-999") }
        assertTrue(other.message!!.contains("re-enroll") && other.message!!.startsWith(file.toString()), other.message)
        assertThrows<GalleryException> { GalleryFile.read(file, dim = 128) }
        assertTrue(assertThrows<GalleryException> { GalleryFile.read(File(dir, "none")) }.message!!.contains("no such gallery file"))
        val garbage = File(dir, "garbage.gallery").apply { writeText("not a zip") }
        assertTrue(assertThrows<GalleryException> { GalleryFile.read(garbage) }.message!!.contains("not a petface gallery"))
        val wrongCount = File(dir, "count.gallery")
        ZipFile(file).use { zip ->
            ZipOutputStream(wrongCount.outputStream()).use { out ->
                for (e in zip.entries()) {
                    out.putNextEntry(ZipEntry(e.name))
                    val bytes = zip.getInputStream(e).readBytes()
                    out.write(if (e.name == "gallery.json") String(bytes).replace("\"templates\": 1", "\"templates\": 2").toByteArray() else bytes)
                    out.closeEntry()
                }
            }
        }
        val e = assertThrows<GalleryException> { GalleryFile.read(wrongCount) }
        assertTrue(e.message!!.contains("corrupt gallery"), e.message)
    }
}
