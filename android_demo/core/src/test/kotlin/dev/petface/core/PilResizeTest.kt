package dev.petface.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import kotlin.math.abs
import kotlin.random.Random

class PilResizeTest {
    @Test
    fun `reproduces PIL's resize of every golden image's centred square`() {
        val golden = Golden.instance
        var exact = 0
        var worst = 0
        val sizes = HashSet<Pair<Int, Int>>()
        for (image in golden.images) {
            // The golden pixels are the crop policy's: the centred square (a cut of any non-square photo), resized.
            val ours = PilResize.resizeSquare(CropPolicy.crop(golden.decoded(image)), golden.imageSize).bytes
            val pil = golden.pixels(image).bytes
            val diff = ours.indices.maxOf { abs((ours[it].toInt() and 0xFF) - (pil[it].toInt() and 0xFF)) }
            assertTrue(diff <= 1, "${image.id} (${image.width}x${image.height}): differs from PIL by $diff/255")
            if (diff == 0) exact++
            worst = maxOf(worst, diff)
            sizes += image.width to image.height
        }
        // The golden set must exercise upscaling and downscaling of non-square images, not only 112x112.
        val s = golden.imageSize
        assertTrue(sizes.any { it.first != it.second && (it.first > s || it.second > s) }, "no downscaled non-square image in $sizes")
        assertTrue(sizes.any { it.first != it.second && (it.first < s || it.second < s) }, "no upscaled non-square image in $sizes")
        println("resize: ${golden.images.size} images, $exact bit-exact, worst difference $worst/255, source sizes $sizes")
    }

    private fun gradient(w: Int, h: Int) = RgbImage(w, h, ByteArray(w * h * 3) { ((it * 37) % 256).toByte() })

    @Test
    fun `same size is a copy, a constant image stays constant`() {
        val img = gradient(7, 5)
        val same = PilResize.resize(img, 7, 5)
        assertArrayEquals(img.bytes, same.bytes)
        assertTrue(img.bytes !== same.bytes)
        val flat = RgbImage(9, 4, ByteArray(9 * 4 * 3) { if (it % 3 == 0) 200.toByte() else 17 })
        for ((w, h) in listOf(3 to 3, 20 to 11, 1 to 1, 9 to 13)) {
            val out = PilResize.resize(flat, w, h)
            for (i in 0 until w * h) {
                assertEquals(200, out.bytes[i * 3].toInt() and 0xFF)
                assertEquals(17, out.bytes[i * 3 + 1].toInt())
            }
        }
    }

    @Test
    fun `matches the installed PIL bit for bit on random images of many shapes`(@TempDir dir: File) {
        // Up- and downscaling, wide and tall, and both sides of Pillow 13's pass-order rule.
        val random = Random(7)
        val sizes = listOf(97 to 131, 131 to 97, 46 to 58, 54 to 48, 61 to 47, 300 to 180, 113 to 115, 114 to 116, 20 to 200) +
            List(30) { (4 + random.nextInt(150)) to (4 + random.nextInt(150)) }
        val targets = listOf(112 to 112, 30 to 20, 30 to 12, 200 to 50, 29 to 38, 10 to 179)
        val cases = sizes.mapIndexed { i, (w, h) -> Triple(i, RgbImage(w, h, ByteArray(w * h * 3).also(random::nextBytes)), targets[i % targets.size]) }
        for ((i, img, _) in cases) File(dir, "in_$i.rgb").writeBytes(img.bytes)
        val args = cases.joinToString(" ") { (i, img, t) -> "$i,${img.width},${img.height},${t.first},${t.second}" }
        val script = """
            import sys
            from PIL import Image
            folder = sys.argv[1]
            for spec in sys.argv[2:]:
                i, w, h, tw, th = map(int, spec.split(","))
                img = Image.frombytes("RGB", (w, h), open(f"{folder}/in_{i}.rgb", "rb").read())
                open(f"{folder}/out_{i}.rgb", "wb").write(img.resize((tw, th), Image.BILINEAR).tobytes())
        """.trimIndent()
        val process = ProcessBuilder(listOf(Golden.python.path, "-c", script, dir.path) + args.split(" ")).redirectErrorStream(true).start()
        val log = process.inputStream.bufferedReader().readText()
        assertEquals(0, process.waitFor(), "PIL failed:\n$log")
        for ((i, img, t) in cases) {
            val ours = PilResize.resize(img, t.first, t.second).bytes
            assertArrayEquals(File(dir, "out_$i.rgb").readBytes(), ours, "${img.width}x${img.height} -> ${t.first}x${t.second}")
        }
    }

    @Test
    fun `known values of PIL's antialiased filter`() {
        // Pillow 13: Image.frombytes("RGB", (4, 1), bytes([0,0,0, 100,100,100, 200,200,200, 250,250,250]))
        //   .resize((2, 1), Image.BILINEAR) gives 71 and 207. Output 0 is centred at 1.0 with support 2, so it
        // reads inputs 0..2 with triangle weights 0.75, 0.75, 0.25 (sum 1.75): 500 / 7 = 71.4 -> 71; a textbook
        // bilinear sample would give 50. Output 1 reads inputs 1..3 with 0.25, 0.75, 0.75: 207.1 -> 207.
        val row = RgbImage(4, 1, byteArrayOf(0, 0, 0, 100, 100, 100, 200.toByte(), 200.toByte(), 200.toByte(), 250.toByte(), 250.toByte(), 250.toByte()))
        val out = PilResize.resize(row, 2, 1)
        assertEquals(listOf(71, 207), listOf(out[0, 0, 0], out[1, 0, 0]))
    }
}
