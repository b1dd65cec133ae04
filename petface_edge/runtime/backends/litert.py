"""LiteRT backend (``ai_edge_litert``): runs ``.tflite`` files as Android's interpreter does.

A file with a dynamic batch (shape signature -1) is resized to each batch; a fixed-batch
file is run in slices of its batch. Metadata is the ``petface`` entry that
``petface-export`` appends to the flatbuffer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from .base import Backend, BackendError
from .stderr import dropping_native_lines

METADATA_NAME = b"petface"


def _without_native_info():
    """LiteRT's native ``INFO:`` lines ("Created TensorFlow Lite XNNPACK delegate for CPU.") dropped."""
    return dropping_native_lines(lambda line: line.startswith("INFO: "))


class LiteRTBackend(Backend):
    name = "litert"

    def __init__(self, path: Path, threads: Optional[int] = None) -> None:
        super().__init__(path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise BackendError(f"{path}: running .tflite files needs ai-edge-litert "
                               "(pip install 'petface-edge[litert]')") from None
        try:
            with _without_native_info():
                self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"{path}: not a loadable TFLite model ({str(exc).splitlines()[0][:200]})") from None
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = int(self._input["shape"][0])

    @property
    def input_shape(self) -> tuple:
        signature = self._input["shape_signature"]
        return tuple(None if int(d) < 0 else int(d) for d in signature)

    @property
    def metadata(self) -> dict:
        from ai_edge_litert import schema_py_generated as schema

        model = schema.Model.GetRootAs(self.path.read_bytes(), 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == METADATA_NAME:
                return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
        return {}

    def run(self, x: np.ndarray) -> np.ndarray:
        fixed = self.fixed_batch
        if fixed and len(x) != fixed:
            if len(x) % fixed:
                raise BackendError(f"{self.path}: batch {len(x)} is not a multiple of the model's fixed batch {fixed}")
            return np.concatenate([self.run(x[i: i + fixed]) for i in range(0, len(x), fixed)])
        if not fixed and len(x) != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            with _without_native_info():
                self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()

    def close(self) -> None:
        self.interpreter = None
