"""``petface-export``: ONNX, TFLite, CoreML and TorchScript-Lite artifacts, each verified in its own runtime.

Installed as ``petface_edge.export`` (the repository keeps it in the top-level ``export/``
folder; ``pyproject.toml`` maps it). It needs the ``export`` extra; the runtime never imports it.

    >>> from petface_edge.export import export_model
    >>> manifest = export_model("run/pet_embedder.pt", "exports", fp16=True, int8=True)  # the run's own data
    >>> manifest = reverify("exports")  # later, or on a Mac: re-check the artifacts, nothing re-converted
"""

import importlib.util

# Fail at import, in one line that names the fix, rather than deep inside a converter process.
_NEEDED = ("torch", "onnx", "onnxruntime")
_missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
if _missing:
    raise ModuleNotFoundError(
        f"petface_edge.export needs the 'export' extra (missing: {', '.join(_missing)}): "
        "pip install 'petface-edge[export]'", name=_missing[0])

from .exporter import ExportError, export_model  # noqa: E402
from .formats import FORMATS, VARIANTS  # noqa: E402
from .reverify import reverify  # noqa: E402

__all__ = ["FORMATS", "VARIANTS", "ExportError", "export_model", "reverify"]
