package dev.petface.demo.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.selection.selectable
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.ModalBottomSheet
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Slider
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import dev.petface.demo.UiState
import dev.petface.demo.engine.Accelerator
import dev.petface.demo.engine.RunnerSettings
import kotlin.math.roundToInt

/**
 * Where the model runs: Auto (the GPU delegate on allow-listed GPUs, else the CPU), CPU or GPU,
 * and the CPU's thread count. Applying reloads the model; the GPU is still checked against the
 * CPU and dropped, with the reason shown, when it fails or disagrees.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SettingsSheet(state: UiState, onApply: (RunnerSettings) -> Unit, onDismiss: () -> Unit) {
    var accelerator by remember { mutableStateOf(state.settings.accelerator) }
    var threads by remember { mutableStateOf(state.settings.threads) }
    ModalBottomSheet(onDismissRequest = onDismiss) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            Text("Run the model on", style = MaterialTheme.typography.titleMedium)
            for (choice in Accelerator.entries) {
                Row(Modifier.selectable(accelerator == choice, onClick = { accelerator = choice }), verticalAlignment = Alignment.CenterVertically) {
                    RadioButton(accelerator == choice, onClick = { accelerator = choice })
                    Text(when (choice) {
                        Accelerator.AUTO -> "Auto: GPU if this device's GPU is supported, else CPU"
                        Accelerator.CPU -> "CPU (XNNPACK)"
                        Accelerator.GPU -> "GPU delegate (checked against the CPU)"
                    })
                }
            }
            Text("CPU threads: $threads", style = MaterialTheme.typography.titleMedium)
            Slider(threads.toFloat(), { threads = it.roundToInt() }, valueRange = 1f..RunnerSettings.MAX_THREADS.toFloat(),
                steps = RunnerSettings.MAX_THREADS - 2)
            Text("Now: ${state.runner.ifEmpty { "no model" }}" + (state.latencyMillis?.let { ", last embedding ${"%.1f".format(it)} ms" } ?: ""),
                style = MaterialTheme.typography.bodySmall)
            state.fallback?.let { Text(it, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.error) }
            Button(onClick = { onApply(RunnerSettings(accelerator, threads)); onDismiss() }) { Text("Apply") }
        }
    }
}
