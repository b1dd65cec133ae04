package dev.petface.demo.ui

import android.graphics.Bitmap
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import dev.petface.core.DecisionTables
import dev.petface.demo.UiState

/** Capture or pick a photo; show the best matches with their cosine scores against the model's threshold. */
@Composable
fun IdentifyScreen(state: UiState, onPhoto: (Bitmap) -> Unit, onError: (String) -> Unit) {
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        CameraCapture("Identify", enabled = !state.busy, onPhoto = onPhoto, onError = onError,
            modifier = Modifier.fillMaxWidth().aspectRatio(3f / 4f))
        PickPhotosButton("From photos", enabled = !state.busy, multiple = false, onPhotos = { it.firstOrNull()?.let(onPhoto) },
            onError = onError)
        val result = state.result ?: return@Column
        val best = result.best
        Text(
            if (best != null) "This is ${best.name}" else "Not an enrolled pet",
            style = MaterialTheme.typography.headlineSmall,
        )
        Text("threshold ${"%.3f".format(result.threshold)} (FPIR ${result.operatingPoint.target?.let { DecisionTables.rateKey(it) } ?: "-"} " +
            "at ${result.operatingPoint.gallerySize} photos), embedded in ${"%.1f".format(result.embedMillis)} ms on ${state.runner}",
            style = MaterialTheme.typography.bodySmall)
        for (m in result.matches) {
            ListItem(
                headlineContent = { Text(m.name) },
                supportingContent = { Text("score ${"%.3f".format(m.score)}") },
                trailingContent = { Text(if (m.accepted) "match" else "no match") },
            )
        }
    }
}
