package dev.petface.demo

import android.app.Application
import android.graphics.Bitmap
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.petface.demo.engine.ArtifactChoice
import dev.petface.demo.engine.Identification
import dev.petface.demo.engine.PetFaceEngine
import dev.petface.demo.engine.PetSummary
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import java.io.File

/** What the screens show. */
data class UiState(
    val loading: Boolean = true,
    /** The model is loaded and the gallery open. */
    val ready: Boolean = false,
    val busy: Boolean = false,
    val modelInfo: String = "",
    val pets: List<PetSummary> = emptyList(),
    val result: Identification? = null,
    val message: String? = null,
)

/**
 * Owns the [PetFaceEngine]: builds it off the main thread (GPU delegate compilation takes a
 * moment), runs every inference on a background dispatcher, one at a time (an Interpreter is
 * not thread-safe), and publishes [UiState].
 */
class PetFaceViewModel(app: Application) : AndroidViewModel(app) {
    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state.asStateFlow()
    private val lock = Mutex()
    private var engine: PetFaceEngine? = null

    init {
        viewModelScope.launch(Dispatchers.Default) {
            try {
                val assets = ModelAssets(app)
                val manifest = assets.manifest()
                val plan = ArtifactChoice.plan(manifest, assets::exists, InterpreterRunner.gpuSupported())
                val runner = InterpreterRunner.open(assets.map(plan.artifact.path), plan.artifact, plan.useGpu)
                val e = PetFaceEngine(manifest, plan, runner, File(app.filesDir, "pets.gallery"))
                engine = e
                _state.update {
                    it.copy(
                        loading = false,
                        ready = true,
                        modelInfo = "${manifest.backbone} ${plan.artifact.id} on ${e.runnerDescription}; " +
                            "threshold ${"%.3f".format(e.threshold)}",
                        pets = e.pets(),
                        message = e.notice,
                    )
                }
            } catch (e: Exception) {
                _state.update { it.copy(loading = false, message = "Cannot load the model: ${e.message}") }
            }
        }
    }

    /**
     * Runs [work] on the engine in the background, then [onSuccess] on the main thread;
     * a failure (bad name, unreadable photo, ...) becomes a message instead of a crash.
     */
    private fun withEngine(onSuccess: () -> Unit = {}, work: (PetFaceEngine) -> Unit) {
        val e = engine ?: return
        viewModelScope.launch(Dispatchers.Default) {
            lock.withLock {
                _state.update { it.copy(busy = true) }
                val ok = try {
                    work(e)
                    true
                } catch (ex: Exception) {
                    _state.update { it.copy(message = ex.message ?: ex.javaClass.simpleName) }
                    false
                } finally {
                    _state.update { it.copy(busy = false, pets = e.pets()) }
                }
                if (ok) withContext(Dispatchers.Main) { onSuccess() }
            }
        }
    }

    fun enroll(name: String, photos: List<Bitmap>, onDone: () -> Unit) = withEngine(onDone) { e ->
        val count = e.enroll(name, photos.map(Photos::toRgb))
        _state.update { it.copy(message = "Enrolled ${name.trim()}: $count photos") }
    }

    fun identify(photo: Bitmap) = withEngine { e ->
        val result = e.identify(Photos.toRgb(photo))
        _state.update { it.copy(result = result) }
    }

    fun remove(name: String) = withEngine { it.remove(name) }

    fun rename(old: String, new: String) = withEngine { it.rename(old, new) }

    fun clearResult() = _state.update { it.copy(result = null) }

    fun dismissMessage() = _state.update { it.copy(message = null) }

    override fun onCleared() {
        engine?.close()
    }
}
