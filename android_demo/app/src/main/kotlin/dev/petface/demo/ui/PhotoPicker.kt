package dev.petface.demo.ui

import android.graphics.Bitmap
import android.net.Uri
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.platform.LocalContext
import dev.petface.demo.Photos
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * A button opening the system photo picker (no storage permission needed). Photos are decoded at a
 * bounded size and cut to their centred square off the main thread ([Photos.fromUri]); [onError]
 * gets a photo that cannot be read.
 */
@Composable
fun PickPhotosButton(label: String, enabled: Boolean, multiple: Boolean, onPhotos: (List<Bitmap>) -> Unit, onError: (String) -> Unit) {
    val resolver = LocalContext.current.contentResolver
    val scope = rememberCoroutineScope()
    val decode = { uris: List<Uri> ->
        if (uris.isNotEmpty()) {
            scope.launch {
                try {
                    onPhotos(withContext(Dispatchers.IO) { uris.map { Photos.fromUri(resolver, it) } })
                } catch (e: Exception) {
                    onError("Cannot use this photo: ${e.message}")
                }
            }
        }
    }
    val imagesOnly = PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)
    val pickMany = rememberLauncherForActivityResult(ActivityResultContracts.PickMultipleVisualMedia(10)) { decode(it) }
    val pickOne = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { decode(listOfNotNull(it)) }
    OutlinedButton(onClick = { if (multiple) pickMany.launch(imagesOnly) else pickOne.launch(imagesOnly) }, enabled = enabled) {
        Text(label)
    }
}
