"""The model under evaluation: a PyTorch checkpoint or any exported artifact, behind one ``embed``.

A ``pet_embedder.pt`` runs in torch (imported only on that path). Everything else
(an artifact file, an export directory, a manifest) is opened by the runtime SDK's
``Embedder`` (backend layer + contract, the project's one way to execute an artifact),
so an INT8 TFLite model is measured exactly as an app runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import PetfaceError
from ..imaging import ImageError, preprocess
from ..runtime.manifest import artifact_digest
from .cache import Embedded

BATCH = 32


class EvalError(PetfaceError, ValueError):
    """Input the evaluation cannot use; the message is one line naming what was expected."""


class EvalModel:
    """A loaded model: ``embed`` maps (N, S, S, 3) uint8 RGB pixels to (N, D) unit vectors."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], image_size: int, info: dict) -> None:
        self._run = run
        self.image_size = image_size
        self.info = info

    @property
    def sha256(self) -> str:
        return self.info["sha256"]

    def embed(self, pixels: np.ndarray, tta: bool = False) -> np.ndarray:
        vectors = self._run(pixels)
        if tta:  # test-time augmentation: mean of the image and its mirror, re-normalized
            vectors = vectors + self._run(np.ascontiguousarray(pixels[:, :, ::-1]))
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def embed_images(self, sources: Sequence[Path], tta: bool = False,
                     probe: Optional[Callable[[np.ndarray, int], np.ndarray]] = None, seeds: Sequence[int] = (),
                     progress: Optional[Callable] = None) -> Embedded:
        """Load, preprocess, optionally degrade and embed images; unreadable ones are recorded, not fatal."""
        vectors = np.zeros((len(sources), self.info["embedding_dim"]), dtype=np.float32)
        failed: dict[int, str] = {}
        bar = progress(total=len(sources)) if progress else None
        for lo in range(0, len(sources), BATCH * 4):
            batch, rows = [], []
            for i in range(lo, min(lo + BATCH * 4, len(sources))):
                try:
                    pixels = preprocess(sources[i], self.image_size)
                except ImageError as exc:
                    failed[i] = str(exc)
                    continue
                batch.append(probe(pixels, seeds[i]) if probe else pixels)
                rows.append(i)
            if batch:
                vectors[rows] = self.embed(np.stack(batch), tta=tta)
            if bar:
                bar.update(min(BATCH * 4, len(sources) - lo))
        if bar:
            bar.close()
        return Embedded(vectors, failed)


def open_model(path: str | Path, backend: str = "auto", threads: Optional[int] = None) -> EvalModel:
    """Load a checkpoint (``.pt``) in torch, or anything ``petface_edge.runtime`` can run, by its path."""
    path = Path(path)
    if path.suffix.lower() == ".pt":
        return _torch_model(path, threads)
    from ..runtime.artifacts import ModelError
    from ..runtime.backends import BackendError
    from ..runtime.embedder import Embedder
    from ..runtime.manifest import ManifestError

    try:
        embedder = Embedder.open(path, backend=backend, threads=threads)
    except (ModelError, BackendError, ManifestError) as exc:
        raise EvalError(f"{exc} (or give a pet_embedder.pt checkpoint)") from None
    art = embedder.artifact
    size, sha = (art.bytes, art.sha256) if art.sha256 else artifact_digest(embedder.model_path)
    info = {
        "path": str(path),
        "kind": "artifact",
        "artifact": art.id,
        "format": art.format,
        "precision": art.precision,
        "runtime": embedder.runtime,
        "file": str(embedder.model_path),
        "bytes": size,
        "sha256": sha,
        "fingerprint": embedder.fingerprint,
        "image_size": embedder.image_size,
        "embedding_dim": embedder.dim,
        "manifest_thresholds": art.thresholds,
        "skipped_artifacts": [f"{aid}: {why}" for aid, why in embedder.skipped],
    }
    return EvalModel(embedder.embed_pixels, embedder.image_size, info)


def _torch_model(path: Path, threads: Optional[int]) -> EvalModel:
    import torch

    from ..models import CheckpointError, load_embedder

    try:
        model = load_embedder(path)
    except CheckpointError as exc:
        raise EvalError(str(exc)) from None
    if threads:
        torch.set_num_threads(threads)

    def run(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.concatenate([
                model(torch.from_numpy(pixels[lo:lo + BATCH]).permute(0, 3, 1, 2).float()).numpy()
                for lo in range(0, len(pixels), BATCH)
            ]).astype(np.float32)

    size, sha = artifact_digest(path)
    info = {
        "path": str(path),
        "kind": "pytorch",
        "artifact": "pytorch",
        "format": "pytorch",
        "precision": "fp32",
        "runtime": f"torch {torch.__version__}",
        "file": str(path),
        "bytes": size,
        "sha256": sha,
        "fingerprint": sha,  # export records the checkpoint's sha256 as the fingerprint of its artifacts
        "backbone": model.name,
        "image_size": model.image_size,
        "embedding_dim": model.embedding_dim,
    }
    return EvalModel(run, model.image_size, info)

