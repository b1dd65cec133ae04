"""One converter in its own process: ``python -m export.worker JOB.json``.

TensorFlow (onnx2tf, coremltools) and triton (torch) segfault each other in one
process, and a converter may crash outright; the parent (``export.exporter``) runs
each format here and turns a dead process into a "failed export" row.
The job JSON says which format and precisions to build; the result JSON lists, per
precision, the built artifact's contract or the error.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from petface_edge.runtime.manifest import InputContract, OutputContract

# Test hook: a format name whose converter process kills itself with SIGSEGV (a real crash, not a fake result).
CRASH_ENV = "PETFACE_EXPORT_CRASH"
CONVERTERS = {"onnx": "export.to_onnx", "tflite": "export.to_tflite", "coreml": "export.to_coreml",
              "torchscript": "export.to_torchscript"}


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
        from calibration import load

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
            "input_contract": json.dumps(asdict(inp)),
            "output_contract": json.dumps(asdict(out)),
            "producer": str(self.info["producer"]),
            "checkpoint_sha256": str(self.info["checkpoint_sha256"]),
        }


def build_one(builder: Callable[[Context], Built], ctx: Context, precision: str) -> dict:
    """Run one builder, timed; an exception becomes that precision's error, the others still build."""
    start = time.perf_counter()
    try:
        built = builder(ctx)
        return {"precision": precision, "ok": True, "seconds": time.perf_counter() - start,
                "path": str(built.path), "input": asdict(built.input), "output": asdict(built.output),
                "quantized": built.quantized, "tools": built.tools, "notes": built.notes}
    except Exception as exc:  # any converter failure is reported, never fatal to the other precisions
        traceback.print_exc()
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        return {"precision": precision, "ok": False, "seconds": time.perf_counter() - start,
                "error": f"{exc.__class__.__name__}: {message}"[:500]}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    from . import offline

    offline.block_network()
    if os.environ.get(CRASH_ENV) == job["format"]:
        os.kill(os.getpid(), signal.SIGSEGV)
    # torch and triton before anything that imports TensorFlow (onnx2tf, coremltools): the other order
    # segfaults. torch imports triton lazily (e.g. the FLOP counter), so import it here explicitly.
    import torch

    try:
        import triton  # noqa: F401
    except ImportError:
        pass
    import petface_edge.models  # noqa: F401

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    module = importlib.import_module(CONVERTERS[job["format"]])
    ctx = Context(job)
    results = [build_one(module.BUILDERS[p], ctx, p) for p in job["precisions"]]
    Path(job["result"]).write_text(json.dumps({"results": results, "network_attempts": offline.ATTEMPTS}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
