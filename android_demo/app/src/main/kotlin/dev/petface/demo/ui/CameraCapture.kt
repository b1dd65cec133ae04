package dev.petface.demo.ui

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.util.Log
import android.util.Rational
import android.util.Size
import android.view.Surface
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.UseCaseGroup
import androidx.camera.core.ViewPort
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.foundation.Canvas
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.geometry.Size as GeometrySize
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.drawscope.Stroke
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.core.view.doOnLayout
import androidx.lifecycle.compose.LocalLifecycleOwner
import dev.petface.demo.Photos
import dev.petface.demo.engine.FaceCrop
import java.util.concurrent.Executors

/**
 * CameraX preview and still capture with a square face guide. Preview and capture are bound with
 * one [ViewPort] (the PreviewView's), so the capture's crop rect is the field the preview shows.
 * The capture is decoded, rotated and cut to the guide ([Photos.fromCapture]) on a background
 * executor; [onPhoto] receives it on the main thread, [onError] any failure.
 */
@Composable
fun CameraCapture(label: String, enabled: Boolean, onPhoto: (Bitmap) -> Unit, onError: (String) -> Unit, modifier: Modifier = Modifier) {
    val context = LocalContext.current
    var granted by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED)
    }
    val request = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted = it }
    LaunchedEffect(Unit) { if (!granted) request.launch(Manifest.permission.CAMERA) }
    if (!granted) {
        Box(modifier, contentAlignment = Alignment.Center) {
            Button(onClick = { request.launch(Manifest.permission.CAMERA) }) { Text("Allow the camera") }
        }
        return
    }

    val lifecycleOwner = LocalLifecycleOwner.current
    val previewView = remember { PreviewView(context).apply { scaleType = PreviewView.ScaleType.FILL_CENTER } }
    // Enough pixels for a sharp face crop, far fewer than a 12 MP still.
    val imageCapture = remember {
        ImageCapture.Builder()
            .setCaptureMode(ImageCapture.CAPTURE_MODE_MINIMIZE_LATENCY)
            .setResolutionSelector(
                ResolutionSelector.Builder().setResolutionStrategy(
                    ResolutionStrategy(Size(1280, 960), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER),
                ).build(),
            )
            .build()
    }
    // Decoding a JPEG and cutting it takes tens of ms: never on the main thread.
    val decoder = remember { Executors.newSingleThreadExecutor() }
    val main = remember { ContextCompat.getMainExecutor(context) }

    DisposableEffect(lifecycleOwner) {
        val future = ProcessCameraProvider.getInstance(context)
        future.addListener({
            val provider = future.get()
            // The ViewPort exists once the PreviewView has a size and a display.
            previewView.doOnLayout { view ->
                val viewPort = previewView.viewPort
                    ?: ViewPort.Builder(Rational(view.width.coerceAtLeast(1), view.height.coerceAtLeast(1)),
                        view.display?.rotation ?: Surface.ROTATION_0).build()
                val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
                val group = UseCaseGroup.Builder().setViewPort(viewPort).addUseCase(preview).addUseCase(imageCapture).build()
                provider.unbindAll()
                provider.bindToLifecycle(lifecycleOwner, CameraSelector.DEFAULT_BACK_CAMERA, group)
            }
        }, main)
        onDispose {
            if (future.isDone) future.get().unbindAll()
        }
    }
    DisposableEffect(Unit) { onDispose { decoder.shutdown() } }

    Box(modifier) {
        AndroidView({ previewView }, Modifier.fillMaxSize())
        Canvas(Modifier.fillMaxSize()) {
            val side = minOf(size.width, size.height) * FaceCrop.GUIDE_FRACTION
            drawRect(
                Color.White,
                topLeft = Offset((size.width - side) / 2, (size.height - side) / 2),
                size = GeometrySize(side, side),
                style = Stroke(width = 3.dp.toPx()),
            )
        }
        Button(
            onClick = {
                imageCapture.takePicture(decoder, object : ImageCapture.OnImageCapturedCallback() {
                    override fun onCaptureSuccess(image: ImageProxy) {
                        try {
                            val photo = image.use { Photos.fromCapture(it) }
                            main.execute { onPhoto(photo) }
                        } catch (e: Exception) {
                            Log.w("PetFace", "cannot decode the capture", e)
                            main.execute { onError("Cannot use the photo: ${e.message}") }
                        }
                    }

                    override fun onError(exception: ImageCaptureException) {
                        Log.w("PetFace", "capture failed", exception)
                        main.execute { onError("Capture failed: ${exception.message}") }
                    }
                })
            },
            enabled = enabled,
            modifier = Modifier.align(Alignment.BottomCenter).padding(16.dp),
        ) { Text(label) }
    }
}
