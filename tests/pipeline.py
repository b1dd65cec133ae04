"""The shared end-to-end fixture: synthetic data -> tiny trained model -> every export -> golden files.

Built once per ``make test`` (Makefile: ``python -m tests.pipeline build/test-pipeline``)
and reused by the pytest session, the Kotlin core tests and the Swift package tests,
so the expensive stages (training, onnx2tf, coremltools) run once. Each stage writes
a stamp when it finishes; a finished stage is not run again.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Big enough and trained long enough that the INT8 artifacts quantize like a real model: after 4 epochs on
# 60 pets (val accuracy 0.64) full-integer TFLite reached only cosine 0.957 to FP32; after 8 on 100, 0.996.
IDENTITIES = 100
IMAGES_PER_IDENTITY = 6
IMAGE_SIZE = 112
EPOCHS = 8


@dataclass(frozen=True)
class Pipeline:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "train"

    @property
    def checkpoint(self) -> Path:
        return self.run / "pet_embedder.pt"

    @property
    def splits(self) -> Path:
        return self.run / "splits.json"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def golden(self) -> Path:
        return self.root / "golden"


def _stage(root: Path, name: str, fn) -> None:
    stamp = root / f".{name}.done"
    if stamp.exists():
        return
    start = time.perf_counter()
    print(f"[pipeline] {name} ...", file=sys.stderr, flush=True)
    fn()
    stamp.write_text(f"{time.perf_counter() - start:.1f}\n")
    print(f"[pipeline] {name} done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def build(root: str | Path, upto: str = "golden") -> Pipeline:
    """Build the stages up to ``upto`` ("data", "train", "export", "golden") under ``root``."""
    p = Pipeline(Path(root))
    p.root.mkdir(parents=True, exist_ok=True)
    stages = ["data", "train", "export", "golden"]

    def data() -> None:
        from petface_edge.synth import generate

        generate(p.data, IDENTITIES, IMAGES_PER_IDENTITY, IMAGE_SIZE, seed=0, overwrite=True)

    def train() -> None:
        from petface_edge.train import TrainConfig, train

        train(TrainConfig(data_dir=p.data, output_dir=p.run, backbone="mobilefacenet", image_size=IMAGE_SIZE,
                          epochs=EPOCHS, batch_size=32, lr=2e-3, workers=0, overwrite=True, progress=False))

    def export() -> None:
        from petface_edge.export import export_model
        from petface_edge.export.formats import available

        # Every format whose converter is installed (ExecuTorch only with the [executorch] extra, as make test has);
        # no data flags: the training run beside the checkpoint supplies its own data.
        export_model(p.checkpoint, p.export, formats=available(), fp16=True, int8=True)

    def golden() -> None:
        from tests.golden import write_golden

        write_golden(p, p.golden)

    for name, fn in zip(stages, (data, train, export, golden)):
        _stage(p.root, name, fn)
        if name == upto:
            break
    return p


if __name__ == "__main__":
    build(sys.argv[1], *(sys.argv[2:3]))
