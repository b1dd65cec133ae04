package dev.petface.demo

import android.app.Application
import android.content.Context
import android.graphics.Bitmap
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.petface.core.ConfinedRunner
import dev.petface.core.DecisionTables
import dev.petface.core.RunnerChoice
import dev.petface.core.RunnerFallback
import dev.petface.demo.engine.Accelerator
import dev.petface.demo.engine.ArtifactChoice
import dev.petface.demo.engine.Identification
import dev.petface.demo.engine.PetFaceEngine
import dev.petface.demo.engine.PetSummary
import dev.petface.demo.engine.RunnerSettings
import java.io.File
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext

/** A photo taken or picked for the pet being enrolled: embedded at once, only a thumbnail kept. */
class DraftPhoto(val id: Long, val thumbnail: Bitmap, val embedding: FloatArray)

/** What the screens show. */
data class UiState(
    val loading: Boolean = true,
    /** The model is loaded and the gallery open. */
    val ready: Boolean = false,
    val busy: Boolean = false,
    val modelInfo: String = "",
    /** The manifest's verdict on the running artifact, in words. */
    val verification: String = "",
    val runner: String = "",
    /** Why the GPU is not used although it was tried or asked for; null when nothing fell back. */
    val fallback: String? = null,
    val settings: RunnerSettings = RunnerSettings(),
    /** The last embedding's time (crop, resize, inference), in ms. */
    val latencyMillis: Double? = null,
    val pets: List<PetSummary> = emptyList(),
    val result: Identification? = null,
    val message: String? = null,
    /** The pet being enrolled: kept here, not in the screen, so it survives rotation and resizing. */
    val draftName: String = "",
    val draft: List<DraftPhoto> = emptyList(),
)

/**
 * Owns the [PetFaceEngine]: builds it off the main thread, reaches the interpreter only through a
 * [ConfinedRunner] (one thread from creation to close, so the GPU delegate never changes thread),
 * runs engine work one job at a time, and publishes [UiState].
 */
class PetFaceViewModel(app: Application) : AndroidViewModel(app) {
    private val _state = MutableStateFlow(UiState(settings = loadSettings()))
    val state: StateFlow<UiState> = _state.asStateFlow()
    private val lock = Mutex()
    private var engine: PetFaceEngine? = null
    private val photoIds = AtomicLong()

    init {
        load(_state.value.settings)
    }

    /** Rebuilds the engine with new runtime settings (the gallery file stays). */
    fun applySettings(settings: RunnerSettings) {
        app().getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit()
            .putString("accelerator", settings.accelerator.name).putInt("threads", settings.threads).apply()
        load(settings)
    }

    private fun load(settings: RunnerSettings) {
        viewModelScope.launch(Dispatchers.IO) { lock.withLock {
            engine?.close() // queued behind any inference still running on the model's thread
            engine = null
            _state.update { it.copy(loading = true, ready = false, settings = settings) }
            try {
                val assets = ModelAssets(app())
                val manifest = assets.manifest()
                val gpu = InterpreterRunner.gpuSupport()
                val plan = ArtifactChoice.plan(manifest, assets::exists, gpu.listed, accelerator = settings.accelerator,
                    gpuUnavailableReason = gpu.reason)
                val model = assets.map(plan.artifact) // refused here if its sha256 is not the manifest's
                var choice: RunnerChoice? = null
                val runner = ConfinedRunner {
                    val cpu = { InterpreterRunner.openCpu(model, plan.artifact, settings.threads) }
                    val c = if (plan.useGpu) RunnerFallback.choose(plan.artifact, { InterpreterRunner.openGpu(model, plan.artifact) }, cpu)
                    else RunnerChoice(cpu(), null, null)
                    choice = c
                    c.runner
                }
                val e = PetFaceEngine(manifest, plan, runner, File(app().filesDir, "pets.gallery"))
                engine = e
                val agreement = choice?.agreement?.let { "; GPU vs CPU min cosine ${"%.5f".format(it)}" } ?: ""
                _state.update {
                    it.copy(
                        loading = false,
                        ready = true,
                        modelInfo = "${manifest.backbone} ${plan.artifact.id}, identify at FPIR ${DecisionTables.rateKey(e.decisions.defaultFpir)}",
                        verification = e.verification,
                        runner = e.runnerDescription + agreement,
                        fallback = choice?.fallbackReason ?: plan.note,
                        pets = e.pets(),
                        message = e.notice,
                    )
                }
            } catch (e: Exception) {
                // A missing, stale or swapped model: shown on the home screen, not only in a snackbar.
                val why = "Model refused: ${e.message ?: e.javaClass.simpleName}"
                _state.update { it.copy(loading = false, ready = false, modelInfo = why, verification = "", runner = "", message = why) }
            }
        } }
    }

    /**
     * Runs [work] on the engine in the background, then [onSuccess] on the main thread;
     * a failure (bad name, unreadable photo, ...) becomes a message instead of a crash.
     */
    private fun withEngine(onSuccess: () -> Unit = {}, work: (PetFaceEngine) -> Unit) {
        viewModelScope.launch(Dispatchers.Default) {
            lock.withLock {
                val e = engine ?: return@withLock
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

    fun setDraftName(name: String) = _state.update { it.copy(draftName = name) }

    /** Embeds each photo now and keeps only its thumbnail and embedding for the enrollment. */
    fun addDraftPhotos(photos: List<Bitmap>) = withEngine { e ->
        for (photo in photos) {
            val embedded = e.embed(Photos.toRgb(photo))
            val kept = DraftPhoto(photoIds.incrementAndGet(), Photos.thumbnail(photo), embedded.embedding)
            _state.update { it.copy(draft = it.draft + kept, latencyMillis = embedded.millis) }
        }
    }

    fun removeDraftPhoto(id: Long) = _state.update { s -> s.copy(draft = s.draft.filterNot { it.id == id }) }

    fun enrollDraft(onDone: () -> Unit) = withEngine(onDone) { e ->
        val draft = _state.value
        val count = e.enrollEmbeddings(draft.draftName, draft.draft.map { it.embedding })
        _state.update { it.copy(message = "Enrolled ${draft.draftName.trim()}: $count photos", draftName = "", draft = emptyList()) }
    }

    fun identify(photo: Bitmap) = withEngine { e ->
        val result = e.identify(Photos.toRgb(photo))
        _state.update { it.copy(result = result, latencyMillis = result.embedMillis) }
    }

    fun remove(name: String) = withEngine { it.remove(name) }

    fun rename(old: String, new: String) = withEngine { it.rename(old, new) }

    fun clearResult() = _state.update { it.copy(result = null) }

    fun showMessage(text: String) = _state.update { it.copy(message = text) }

    fun dismissMessage() = _state.update { it.copy(message = null) }

    /** Does not wait: the model's thread closes the interpreter after the inference in flight, if any. */
    override fun onCleared() {
        engine?.close()
    }

    private fun app(): Application = getApplication()

    private fun loadSettings(): RunnerSettings {
        val prefs = app().getSharedPreferences(PREFS, Context.MODE_PRIVATE)
        val accelerator = prefs.getString("accelerator", null)?.let { name -> Accelerator.entries.firstOrNull { it.name == name } }
        val threads = prefs.getInt("threads", RunnerSettings.DEFAULT_THREADS).coerceIn(1, RunnerSettings.MAX_THREADS)
        return RunnerSettings(accelerator ?: Accelerator.AUTO, threads)
    }

    private companion object {
        const val PREFS = "petface-settings"
    }
}
