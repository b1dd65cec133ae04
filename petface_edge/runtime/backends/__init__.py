"""One way to run an artifact: load it, feed a tensor in its contract, get the raw output.

Verification (export), evaluation, benchmarks and the SDK all go through
:func:`open_backend`; nothing else in the project executes artifacts.
Each backend imports its runtime lazily, so the base install needs only onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .base import Backend, BackendError

# File suffix -> artifact format.
SUFFIX_FORMAT = {".onnx": "onnx", ".tflite": "tflite", ".ptl": "torchscript", ".mlpackage": "coreml"}


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMAT:
        raise BackendError(
            f"{path}: unknown model type '{suffix}'; expected one of {', '.join(SUFFIX_FORMAT)} "
            "or a petface-export directory / manifest.json"
        )
    return SUFFIX_FORMAT[suffix]


def open_backend(path: str | Path, threads: Optional[int] = None, device: str = "cpu") -> Backend:
    """Load ``path`` in the runtime its format needs (onnxruntime, LiteRT, lite interpreter, CoreML)."""
    path = Path(path)
    fmt = format_of(path)
    if not path.exists():
        raise BackendError(f"{path}: no such model file")
    if fmt == "onnx":
        from .onnx import OnnxBackend

        return OnnxBackend(path, threads=threads, device=device)
    if fmt == "tflite":
        from .litert import LiteRTBackend

        return LiteRTBackend(path, threads=threads)
    if fmt == "torchscript":
        from .torch_lite import TorchLiteBackend

        return TorchLiteBackend(path, threads=threads)
    from .coreml import CoreMLBackend

    return CoreMLBackend(path)


__all__ = ["Backend", "BackendError", "SUFFIX_FORMAT", "format_of", "open_backend"]
