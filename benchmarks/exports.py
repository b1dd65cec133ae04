"""The export directories the benchmarks measure, built on demand and cached under ``build/bench-cache/``.

* the demo model: ``tests.pipeline`` (synthetic data -> MobileFaceNet-112 trained a few
  epochs -> every format, FP32/FP16/INT8), unless ``--export-dir`` names one;
* the 224 comparison models (MobileFaceNet-224, MobileNetV3-Small-224): untrained
  weights whose BatchNorm statistics come from synthetic pet faces, so activations
  have realistic ranges. Latency does not depend on what the weights learned.

A cache entry is keyed by a hash of the code and configuration that produced it, so
editing the model, training or export code rebuilds it and nothing stale is measured.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from petface_edge.runtime.manifest import Manifest

# Everything whose change can change an exported artifact.
PRODUCER_CODE = (
    "petface_edge/models",
    "petface_edge/train",
    "petface_edge/data.py",
    "petface_edge/synth.py",
    "petface_edge/imaging.py",
    "petface_edge/runtime/manifest.py",
    "petface_edge/runtime/contract.py",
    "petface_edge/runtime/backends",
    "export",
    "calibration",
    "tests/pipeline.py",
    "benchmarks/exports.py",
)
CALIBRATION_IMAGES = 64  # synthetic faces whose statistics the untrained BatchNorm layers take


@dataclass(frozen=True)
class Comparison:
    """A model exported only to be compared with the demo model (FP32 formats only)."""

    backbone: str
    image_size: int

    @property
    def key(self) -> str:
        return f"{self.backbone}-{self.image_size}"

    @property
    def label(self) -> str:
        return f"{self.key} (untrained, BN stats from synthetic faces)"


COMPARISONS = (Comparison("mobilefacenet", 224), Comparison("mobilenetv3_small_100", 224))


def code_hash(root: Path, config: dict) -> str:
    """Short sha256 over the producer code's Python sources (path and bytes) and ``config``."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for entry in PRODUCER_CODE:
        path = root / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
        for f in files:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cache_entry(cache: Path, name: str, key: str) -> Path:
    """``cache/name-key``; older entries of ``name`` (other keys) are deleted: they can never be hit again."""
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{name}-*"):
        if old.name != f"{name}-{key}" and old.name[len(name) + 1:].isalnum():
            shutil.rmtree(old, ignore_errors=True)
    return cache / f"{name}-{key}"


def demo_export(root: Path, cache: Path) -> Path:
    """The test pipeline's export of the demo model, built once per version of the code."""
    from tests.pipeline import build

    entry = cache_entry(cache, "demo", code_hash(root, {"pipeline": "tests.pipeline"}))
    return build(entry, upto="export").export


def comparison_export(root: Path, cache: Path, model: Comparison, formats: tuple[str, ...]) -> Path:
    """FP32 export of ``model`` with untrained weights and synthetic-image BatchNorm statistics."""
    config = {"backbone": model.backbone, "image_size": model.image_size, "formats": sorted(formats),
              "calibration_images": CALIBRATION_IMAGES}
    entry = cache_entry(cache, model.key + "-" + "-".join(sorted(formats)), code_hash(root, config))
    done = entry / ".done"
    if done.exists():
        return entry / "export"
    from petface_edge.export import export_model

    from petface_edge.synth import generate

    entry.mkdir(parents=True, exist_ok=True)
    data = generate(entry / "data", CALIBRATION_IMAGES // 4, 4, model.image_size, seed=1, overwrite=True)
    checkpoint = calibrated_checkpoint(model, data, entry / "pet_embedder.pt")
    export_model(checkpoint, entry / "export", formats=formats, fp16=False, int8=False, verify_images=16,
                 data="synthetic")
    done.write_text(json.dumps(config) + "\n")
    return entry / "export"


def calibrated_checkpoint(model: Comparison, data: Path, path: Path) -> Path:
    """Save an untrained embedder whose BatchNorm running statistics are the exact averages over ``data``."""
    import torch

    from petface_edge.imaging import preprocess
    from petface_edge.models import create_embedder, save_embedder

    torch.manual_seed(0)
    net = create_embedder(model.backbone, image_size=model.image_size)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over every batch seen
    pixels = np.stack([preprocess(p, model.image_size) for p in sorted(data.rglob("*.jpg"))])
    net.train()
    with torch.no_grad():
        for batch in np.array_split(pixels, max(1, len(pixels) // 16)):
            net(torch.from_numpy(batch).permute(0, 3, 1, 2).float())
    net.eval()
    return save_embedder(net, path, note="untrained; BatchNorm statistics from synthetic faces; for latency only")


def checkpoint_of(manifest: Manifest) -> Path | None:
    """The ``pet_embedder.pt`` the manifest's artifacts came from, if it can be found.

    Looked for in the manifest's ``checkpoint`` entry, then where ``tests.pipeline`` and the
    comparison exports put it (``../train/pet_embedder.pt``, ``../pet_embedder.pt``).
    """
    candidates = [manifest.model.get("checkpoint"), manifest.directory.parent / "train" / "pet_embedder.pt",
                  manifest.directory.parent / "pet_embedder.pt"]
    for candidate in candidates:
        if candidate and Path(manifest.directory, candidate).is_file():
            return Path(manifest.directory, candidate)
    return None


def model_cost(manifest: Manifest) -> tuple[int, int]:
    """(parameters, MACs at batch 1) counted on the embedder the manifest's artifacts were exported from.

    Counted on the checkpoint when it can be found, otherwise on the same architecture rebuilt
    from the manifest's model description (the counts do not depend on the weights).
    """
    from petface_edge.models import count_macs, count_parameters, create_embedder, load_embedder

    checkpoint = checkpoint_of(manifest)
    if checkpoint is not None:
        net = load_embedder(checkpoint)
    else:
        m = manifest.model
        net = create_embedder(m["backbone"], image_size=m["image_size"], embedding_dim=m.get("embedding_dim", 128))
    return count_parameters(net), count_macs(net)
