package dev.petface.demo.ui

import androidx.activity.compose.BackHandler
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import dev.petface.demo.PetFaceViewModel

enum class Screen(val title: String) { Home("PetFace"), Enroll("Enroll a pet"), Identify("Who is this?") }

/** Three screens, switched by state: the gallery, enrolling a pet, identifying one. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun PetFaceApp(vm: PetFaceViewModel = viewModel()) {
    val state by vm.state.collectAsStateWithLifecycle()
    var screen by rememberSaveable { mutableStateOf(Screen.Home) }
    var settings by rememberSaveable { mutableStateOf(false) }
    val snackbar = remember { SnackbarHostState() }

    LaunchedEffect(state.message) {
        state.message?.let {
            snackbar.showSnackbar(it)
            vm.dismissMessage()
        }
    }
    BackHandler(enabled = screen != Screen.Home) {
        vm.clearResult()
        screen = Screen.Home
    }

    Scaffold(
        topBar = { TopAppBar(title = { Text(screen.title) }) },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        Box(Modifier.fillMaxSize().padding(padding)) {
            when {
                state.loading -> CircularProgressIndicator(Modifier.align(Alignment.Center))
                screen == Screen.Home -> HomeScreen(state, onEnroll = { screen = Screen.Enroll },
                    onIdentify = { screen = Screen.Identify }, onSettings = { settings = true },
                    onRemove = vm::remove, onRename = vm::rename)
                screen == Screen.Enroll -> EnrollScreen(state, onName = vm::setDraftName, onPhotos = vm::addDraftPhotos,
                    onDrop = vm::removeDraftPhoto, onSave = { vm.enrollDraft { screen = Screen.Home } }, onError = vm::showMessage)
                else -> IdentifyScreen(state, onPhoto = vm::identify, onError = vm::showMessage)
            }
        }
    }
    if (settings) SettingsSheet(state, onApply = vm::applySettings, onDismiss = { settings = false })
}
