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
SUFFIX_FORMAT = {".onnx": "onnx", ".tflite": "tflite", ".pte": "executorch", ".ptl": "torchscript",
                 ".mlpackage": "coreml"}
# Format -> (its runtime, the devices that runtime can be asked for). "cpu" is the runtime's default
# placement (CoreML picks its own compute units). Asking a runtime for a device it cannot use is an
# error, never a silent fallback to the CPU.
RUNTIMES = {"onnx": ("onnxruntime", ("cpu", "cuda")), "tflite": ("litert", ("cpu",)),
            "executorch": ("executorch", ("cpu",)), "torchscript": ("torch-lite", ("cpu",)),
            "coreml": ("coreml", ("cpu",))}
DEVICES = ("cpu", "cuda")


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMAT:
        raise BackendError(
            f"{path}: unknown model type '{suffix}'; expected one of {', '.join(SUFFIX_FORMAT)} "
            "or a petface-export directory / manifest.json"
        )
    return SUFFIX_FORMAT[suffix]


def check_device(fmt: str, device: str, path: str | Path = "") -> None:
    """Raise :class:`BackendError` unless ``fmt``'s runtime can use ``device``; the message names those that can."""
    runtime, devices = RUNTIMES[fmt]
    if device in devices:
        return
    able = [f"{name} ({f})" for f, (name, usable) in RUNTIMES.items() if device in usable]
    who = f"{device} is used by {', '.join(able)}" if able else f"known devices: {', '.join(DEVICES)}"
    where = f"{path}: " if path else ""
    raise BackendError(f"{where}device={device!r} is not available for {fmt} artifacts: {runtime} runs them on "
                       f"{' or '.join(devices)}; {who}")


def open_backend(path: str | Path, threads: Optional[int] = None, device: str = "cpu") -> Backend:
    """Load ``path`` in the runtime its format needs (onnxruntime, LiteRT, ExecuTorch, lite interpreter, CoreML).

    Raises :class:`BackendError` for a file that cannot load, or a ``device`` its runtime cannot use.
    """
    path = Path(path)
    fmt = format_of(path)
    check_device(fmt, device, path)
    if not path.exists():
        raise BackendError(f"{path}: no such model file")
    if fmt == "onnx":
        from .onnx import OnnxBackend

        return OnnxBackend(path, threads=threads, device=device)
    if fmt == "tflite":
        from .litert import LiteRTBackend

        return LiteRTBackend(path, threads=threads)
    if fmt == "executorch":
        from .executorch import ExecuTorchBackend

        return ExecuTorchBackend(path, threads=threads)
    if fmt == "torchscript":
        from .torch_lite import TorchLiteBackend

        return TorchLiteBackend(path, threads=threads)
    from .coreml import CoreMLBackend

    return CoreMLBackend(path)


__all__ = ["DEVICES", "RUNTIMES", "SUFFIX_FORMAT", "Backend", "BackendError", "check_device", "format_of",
           "open_backend"]
