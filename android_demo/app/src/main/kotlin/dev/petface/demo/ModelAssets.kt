package dev.petface.demo

import android.content.Context
import dev.petface.core.Artifact
import dev.petface.core.Manifest
import dev.petface.core.ModelIntegrity
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * The model bundled in `assets/petface/` by the Gradle task `importPetfaceModel`:
 * `manifest.json` plus the .tflite files it lists.
 */
class ModelAssets(private val context: Context) {
    private val dir = "petface"

    fun manifest(): Manifest {
        val text = try {
            context.assets.open("$dir/manifest.json").bufferedReader().use { it.readText() }
        } catch (e: FileNotFoundException) {
            throw IllegalStateException("assets/$dir/manifest.json is missing: run ./gradlew :app:importPetfaceModel")
        }
        return Manifest.parse(text, "assets/$dir/manifest.json")
    }

    fun exists(path: String): Boolean = context.assets.list(dir)?.contains(path) == true

    /**
     * Memory-maps [artifact]'s file (stored uncompressed: noCompress "tflite" in app/build.gradle.kts)
     * after checking its sha256 against the manifest: a changed or swapped file is refused
     * ([dev.petface.core.ModelIntegrityException]) rather than run under the wrong contract.
     */
    fun map(artifact: Artifact): MappedByteBuffer {
        val mapped = context.assets.openFd("$dir/${artifact.path}").use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { it.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength) }
        }
        ModelIntegrity.verify(artifact, mapped, "assets/$dir/${artifact.path}")
        return mapped
    }
}
