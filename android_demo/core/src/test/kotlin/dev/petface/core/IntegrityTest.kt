package dev.petface.core

import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.io.RandomAccessFile
import java.nio.channels.FileChannel

/** The model file's sha256 against its manifest entry: the exported files pass, a swapped or cut file is refused. */
class IntegrityTest {
    private val golden = Golden.instance

    @Test
    fun `the exported files match their manifest entries, read or memory-mapped`() {
        for (artifact in golden.manifest.artifacts) {
            val file = golden.modelFile(artifact.id)
            ModelIntegrity.verify(artifact, file)
            RandomAccessFile(file, "r").use { raf ->
                ModelIntegrity.verify(artifact, raf.channel.map(FileChannel.MapMode.READ_ONLY, 0, raf.length()), file.name)
            }
        }
    }

    @Test
    fun `a swapped file is refused, naming the file and the artifact`(@TempDir dir: File) {
        val fp32 = golden.manifest.artifact("tflite-fp32")
        val swapped = File(dir, File(fp32.path).name)
        golden.modelFile("tflite-int8").copyTo(swapped) // the INT8 file under the FP32 name
        val e = assertThrows<ModelIntegrityException> { ModelIntegrity.verify(fp32, swapped) }
        assertTrue(e.message!!.startsWith("${swapped.path}: sha256 ") && "tflite-fp32" in e.message!!, e.message)
        // A copy cut short is refused too.
        golden.modelFile("tflite-fp32").copyTo(swapped, overwrite = true)
        RandomAccessFile(swapped, "rw").use { it.setLength(it.length() - 1) }
        assertThrows<ModelIntegrityException> { ModelIntegrity.verify(fp32, swapped) }
    }

    @Test
    fun `an entry without sha256 cannot vouch for any file`() {
        val fp32 = golden.manifest.artifact("tflite-fp32")
        val e = assertThrows<ModelIntegrityException> { ModelIntegrity.verify(fp32.copy(sha256 = ""), golden.modelFile(fp32.id)) }
        assertTrue("no sha256" in e.message!!, e.message)
    }
}
