"""CoreML backend for ``.mlpackage`` files: macOS only (the CoreML framework does not exist elsewhere)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .base import Backend, BackendError


class CoreMLBackend(Backend):
    name = "coreml"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if sys.platform != "darwin":
            raise BackendError(f"{path}: cannot run CoreML on this OS ({sys.platform}); CoreML runs on macOS and iOS")
        try:
            import coremltools as ct
        except ImportError:
            raise BackendError(f"{path}: running .mlpackage files needs coremltools") from None
        try:
            self.model = ct.models.MLModel(str(path))
        except Exception as exc:  # coremltools raises several types for a bad package
            raise BackendError(f"{path}: not a loadable CoreML package ({str(exc).splitlines()[0][:200]})") from None
        spec = self.model.get_spec()
        self._input = spec.description.input[0]
        self._output = spec.description.output[0].name

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self._input.type.multiArrayType.shape)

    @property
    def metadata(self) -> dict:
        return dict(self.model.user_defined_metadata)

    def run(self, x: np.ndarray) -> np.ndarray:
        step = self.fixed_batch or len(x)
        return np.concatenate([self.model.predict({self._input.name: x[i: i + step]})[self._output]
                               for i in range(0, len(x), step)])

    def close(self) -> None:
        self.model = None
