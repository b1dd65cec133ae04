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
import androidx.compose.foundation.lazy.itemsIndexed
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.unit.dp
import dev.petface.demo.UiState

/** A name and several photos of one pet (different angles and light make a better gallery entry). */
@Composable
fun EnrollScreen(state: UiState, onSave: (String, List<Bitmap>) -> Unit) {
    var name by rememberSaveable { mutableStateOf("") }
    val photos = remember { mutableStateListOf<Bitmap>() }
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        OutlinedTextField(name, { name = it }, label = { Text("Pet name") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        CameraCapture("Take photo", enabled = !state.busy, onPhoto = { photos.add(it) },
            modifier = Modifier.fillMaxWidth().aspectRatio(3f / 4f))
        Text("${photos.size} photos; 3 to 5 from different angles work best (tap one to drop it)",
            style = MaterialTheme.typography.bodySmall)
        LazyRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            itemsIndexed(photos) { index, photo ->
                Button(onClick = { photos.removeAt(index) }, contentPadding = PaddingValues(0.dp)) {
                    Image(photo.asImageBitmap(), contentDescription = "photo ${index + 1}", modifier = Modifier.size(64.dp))
                }
            }
        }
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
            PickPhotosButton("From photos", enabled = !state.busy, multiple = true) { photos.addAll(it) }
            Button(onClick = { onSave(name, photos.toList()) }, enabled = !state.busy && name.isNotBlank() && photos.isNotEmpty()) {
                Text("Enroll")
            }
        }
    }
}
