package dev.petface.demo.ui

import android.graphics.Bitmap
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.unit.dp
import dev.petface.demo.UiState

/**
 * A name and several photos of one pet (different angles and light make a better gallery entry).
 * The draft lives in the ViewModel ([UiState.draftName], [UiState.draft]): each photo is embedded
 * when taken and only its thumbnail is kept, so a rotation or a resize on a large screen loses nothing.
 */
@Composable
fun EnrollScreen(
    state: UiState,
    onName: (String) -> Unit,
    onPhotos: (List<Bitmap>) -> Unit,
    onDrop: (Long) -> Unit,
    onSave: () -> Unit,
    onError: (String) -> Unit,
) {
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        OutlinedTextField(state.draftName, onName, label = { Text("Pet name") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        CameraCapture("Take photo", enabled = !state.busy, onPhoto = { onPhotos(listOf(it)) }, onError = onError,
            modifier = Modifier.fillMaxWidth().aspectRatio(3f / 4f))
        Text("${state.draft.size} photos; 3 to 5 from different angles work best (tap one to drop it)" +
            (state.latencyMillis?.let { ", last embedded in ${"%.1f".format(it)} ms" } ?: ""),
            style = MaterialTheme.typography.bodySmall)
        LazyRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            items(state.draft, key = { it.id }) { photo ->
                Button(onClick = { onDrop(photo.id) }, contentPadding = PaddingValues(0.dp)) {
                    Image(photo.thumbnail.asImageBitmap(), contentDescription = "photo ${photo.id}", modifier = Modifier.size(64.dp))
                }
            }
        }
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
            PickPhotosButton("From photos", enabled = !state.busy, multiple = true, onPhotos = onPhotos, onError = onError)
            Button(onClick = onSave, enabled = !state.busy && state.draftName.isNotBlank() && state.draft.isNotEmpty()) {
                Text("Enroll")
            }
        }
    }
}
