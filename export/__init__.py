"""``petface-export``: ONNX, TFLite, CoreML and TorchScript-Lite artifacts, each verified in its own runtime.

    >>> from export import export_model
    >>> manifest = export_model("run/pet_embedder.pt", "exports", fp16=True, int8=True,
    ...                         data_dir="data", splits="run/splits.json")
"""

from .exporter import ExportError, export_model
from .formats import FORMATS, VARIANTS

__all__ = ["FORMATS", "VARIANTS", "ExportError", "export_model"]
