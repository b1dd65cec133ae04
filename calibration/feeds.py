"""One calibration set, each converter's form: onnxruntime reader, NHWC floats, torch batches.

Imported only inside converter processes: it pulls in onnxruntime's quantization tools.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from .dataset import CalibrationSet


def nchw_float(calib: CalibrationSet) -> np.ndarray:
    """(N, 3, S, S) float32 0..255: the ONNX / TorchScript / CoreML input layout."""
    return np.ascontiguousarray(calib.pixels.transpose(0, 3, 1, 2).astype(np.float32))


def nhwc_float(calib: CalibrationSet) -> np.ndarray:
    """(N, S, S, 3) float32 0..255: the TFLite input layout (onnx2tf / TFLiteConverter representative data)."""
    return calib.pixels.astype(np.float32)


class OrtCalibrationReader(CalibrationDataReader):
    """Feeds onnxruntime's static quantizer one image at a time (its calibrators accumulate per batch)."""

    def __init__(self, calib: CalibrationSet, input_name: str) -> None:
        self._x = nchw_float(calib)
        self._name = input_name
        self._i = 0

    def get_next(self):
        if self._i >= len(self._x):
            return None
        self._i += 1
        return {self._name: self._x[self._i - 1: self._i]}

    def rewind(self) -> None:
        self._i = 0


def torch_batches(calib: CalibrationSet, batch_size: int = 32) -> Iterator:
    """NCHW float tensors for torch.ao / coremltools.optimize.torch observers."""
    import torch

    x = nchw_float(calib)
    for i in range(0, len(x), batch_size):
        yield torch.from_numpy(x[i: i + batch_size])
