"""One converter in its own process: ``python -m petface_edge.export.worker JOB.json``.

TensorFlow (onnx2tf, coremltools) and triton (torch) segfault each other in one
process, and a converter may crash outright; the parent (``exporter``) runs
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
from pathlib import Path
from typing import Callable

from petface_edge.runtime.manifest import to_json

from .context import Built, Context

# Test hook: a format name whose converter process kills itself with SIGSEGV (a real crash, not a fake result).
CRASH_ENV = "PETFACE_EXPORT_CRASH"
CONVERTERS = {"onnx": ".to_onnx", "tflite": ".to_tflite", "coreml": ".to_coreml", "torchscript": ".to_torchscript",
              "executorch": ".to_executorch"}


def build_one(builder: Callable[[Context], Built], ctx: Context, precision: str) -> dict:
    """Run one builder, timed; an exception becomes that precision's error, the others still build."""
    start = time.perf_counter()
    try:
        built = builder(ctx)
        return {"precision": precision, "ok": True, "seconds": time.perf_counter() - start,
                "path": str(built.path), "input": to_json(built.input), "output": to_json(built.output),
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
    module = importlib.import_module(CONVERTERS[job["format"]], __package__)
    ctx = Context(job)
    results = [build_one(module.BUILDERS[p], ctx, p) for p in job["precisions"]]
    Path(job["result"]).write_text(json.dumps({"results": results, "network_attempts": offline.ATTEMPTS}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
