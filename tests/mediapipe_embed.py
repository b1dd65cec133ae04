"""Runs inside the MediaPipe venv (``tests/mediapipe_env.py``), never in the project venv: no petface imports.

    python tests/mediapipe_embed.py CROPS.npy OUT_DIR MODEL.tflite...

For each model: open it as a ``mediapipe.tasks.python.vision.ImageEmbedder`` (CPU, default
options: no L2 normalization, no quantization of the result) and embed each (S, S, 3) uint8
RGB crop; read its standard metadata back with MediaPipe's ``MetadataDisplayer``. Writes
``OUT_DIR/<model stem>.json``: ``{"embeddings": [[...], ...], "metadata": {...}}`` or
``{"error": "..."}`` when MediaPipe refuses the model.
"""

import json
import sys
from pathlib import Path

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision
from mediapipe.tasks.python.metadata import metadata


def run(model: Path, crops: np.ndarray) -> dict:
    options = vision.ImageEmbedderOptions(base_options=BaseOptions(model_asset_path=str(model)))
    try:
        embedder = vision.ImageEmbedder.create_from_options(options)
    except Exception as exc:  # MediaPipe raises RuntimeError / ValueError with its status message
        return {"error": f"{type(exc).__name__}: {exc}"}
    with embedder:
        vectors = [embedder.embed(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop)))
                   .embeddings[0].embedding.tolist() for crop in crops]
    shown = json.loads(metadata.MetadataDisplayer.with_model_file(str(model)).get_metadata_json())
    return {"embeddings": vectors, "metadata": shown}


def main(argv: list[str]) -> int:
    crops = np.load(argv[0])
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for model in map(Path, argv[2:]):
        (out / f"{model.stem}.json").write_text(json.dumps(run(model, crops)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
