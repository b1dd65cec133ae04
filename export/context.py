"""What a converter works with and returns: the per-format :class:`Context` and the :class:`Built` artifact.

Shared by ``export.worker`` (which runs a converter in its own process) and the
``to_*`` converter modules, so neither imports the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from petface_edge.runtime.manifest import InputContract, OutputContract, to_json


@dataclass
class Built:
    """What one builder produced: the file, its contract, and what was quantized how."""

    path: Path
    input: InputContract
    output: OutputContract
    quantized: str = "nothing: float weights and activations"
    tools: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)  # e.g. the quantization recipe that won, a spec-level check


class Context:
    """Everything a builder needs, loaded lazily and shared by the precisions of one format."""

    def __init__(self, job: dict) -> None:
        self.job = job
        self.format = job["format"]
        self.image_size = int(job["image_size"])
        self.output_dir = Path(job["output_dir"])
        self.work_dir = Path(job["work_dir"])
        self.info = job["model"]  # backbone, embedding_dim, checkpoint_sha256, ...

    def path(self, filename: str) -> Path:
        return self.output_dir / filename

    @cached_property
    def model(self):
        from petface_edge.models import load_embedder

        return load_embedder(self.job["checkpoint"])

    @cached_property
    def calibration(self):
        from petface_edge.calibration import load

        return load(self.job["calibration"])

    @cached_property
    def onnx_float(self) -> Path:
        """A simplified FP32 ONNX graph with dynamic batch: ONNX's own artifact and the input of onnx2tf / ORT int8."""
        import onnx

        from .to_onnx import float_graph

        path = self.work_dir / "float.onnx"
        onnx.save(float_graph(self.model, self.image_size), path)
        return path

    def metadata(self, precision: str, inp: InputContract, out: OutputContract) -> dict[str, str]:
        """The key/value metadata stored inside every artifact (all strings: every format accepts those)."""
        return {
            "name": "petface-embedder",
            "backbone": str(self.info["backbone"]),
            "image_size": str(self.image_size),
            "embedding_dim": str(self.info["embedding_dim"]),
            "precision": precision,
            "input_contract": json.dumps(to_json(inp)),
            "output_contract": json.dumps(to_json(out)),
            "producer": str(self.info["producer"]),
            "checkpoint_sha256": str(self.info["checkpoint_sha256"]),
        }
