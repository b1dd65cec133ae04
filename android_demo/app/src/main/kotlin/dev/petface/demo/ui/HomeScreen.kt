package dev.petface.demo.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import dev.petface.demo.UiState
import dev.petface.demo.engine.PetSummary

/** The model in use (artifact, verification, where it runs, latency), the enrolled pets (rename, remove), and the actions. */
@Composable
fun HomeScreen(
    state: UiState,
    onEnroll: () -> Unit,
    onIdentify: () -> Unit,
    onSettings: () -> Unit,
    onRemove: (String) -> Unit,
    onRename: (String, String) -> Unit,
) {
    var editing by remember { mutableStateOf<PetSummary?>(null) }
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Card(Modifier.fillMaxWidth()) {
            Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(state.modelInfo.ifEmpty { "No model loaded" }, style = MaterialTheme.typography.bodyMedium)
                if (state.verification.isNotEmpty()) Text(state.verification, style = MaterialTheme.typography.bodySmall)
                if (state.runner.isNotEmpty()) Text("Runs on ${state.runner}", style = MaterialTheme.typography.bodySmall)
                state.fallback?.let { Text(it, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.error) }
                state.latencyMillis?.let { Text("Last embedding: ${"%.1f".format(it)} ms", style = MaterialTheme.typography.bodySmall) }
            }
        }
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
            Button(onClick = onEnroll, enabled = state.ready) { Text("Enroll a pet") }
            Button(onClick = onIdentify, enabled = state.ready && state.pets.isNotEmpty()) { Text("Identify") }
            TextButton(onClick = onSettings, enabled = !state.loading) { Text("Settings") }
        }
        Text("${state.pets.size} enrolled", style = MaterialTheme.typography.titleMedium)
        LazyColumn {
            items(state.pets, key = { it.name }) { pet ->
                ListItem(
                    headlineContent = { Text(pet.name) },
                    supportingContent = { Text("${pet.photos} photos") },
                    trailingContent = { TextButton(onClick = { editing = pet }) { Text("Edit") } },
                )
            }
        }
    }
    editing?.let { pet -> EditPetDialog(pet, onDismiss = { editing = null }, onRemove = onRemove, onRename = onRename) }
}

@Composable
private fun EditPetDialog(pet: PetSummary, onDismiss: () -> Unit, onRemove: (String) -> Unit, onRename: (String, String) -> Unit) {
    var name by remember { mutableStateOf(pet.name) }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(pet.name) },
        text = { OutlinedTextField(name, { name = it }, label = { Text("Name") }, singleLine = true) },
        confirmButton = {
            TextButton(onClick = { onRename(pet.name, name); onDismiss() }, enabled = name.isNotBlank()) { Text("Rename") }
        },
        dismissButton = {
            TextButton(onClick = { onRemove(pet.name); onDismiss() }) { Text("Remove") }
        },
    )
}
