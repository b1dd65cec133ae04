"""onnxruntime backend: CPU everywhere, CUDA when onnxruntime-gpu and a GPU are present."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .base import Backend, BackendError


class OnnxBackend(Backend):
    name = "onnxruntime"
    thread_safe = True  # InferenceSession.run is documented as safe for concurrent calls

    def __init__(self, path: Path, threads: Optional[int] = None, device: str = "cpu") -> None:
        super().__init__(path)
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError("device='cuda' needs onnxruntime-gpu and a CUDA GPU; neither is available here")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise BackendError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
        self._input = self.session.get_inputs()[0]
        self._output = self.session.get_outputs()[0].name

    @property
    def input_shape(self) -> tuple:
        return tuple(self._input.shape)

    @property
    def metadata(self) -> dict:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self._output], {self._input.name: x})[0]

    def close(self) -> None:
        self.session = None
