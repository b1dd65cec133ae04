"""Lite-interpreter backend for TorchScript-Lite ``.ptl`` files (PyTorch Mobile's runtime on the desktop).

torch is imported when a ``.ptl`` is opened, never at SDK import. Quantized files run on
the qnnpack engine, the one they were built for (and the one phones use).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from .base import Backend, BackendError

METADATA_FILE = "extra/petface.json"


class TorchLiteBackend(Backend):
    name = "torch-lite"

    def __init__(self, path: Path, threads: Optional[int] = None) -> None:
        super().__init__(path)
        try:
            import torch
            from torch.jit.mobile import _load_for_lite_interpreter
        except ImportError:
            raise BackendError(f"{path}: running .ptl files needs torch") from None
        if threads:
            torch.set_num_threads(threads)
        if "qnnpack" in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = "qnnpack"
        self._torch = torch
        try:
            self.module = _load_for_lite_interpreter(str(path))
        except RuntimeError as exc:
            raise BackendError(f"{path}: not a loadable TorchScript-Lite model "
                               f"({str(exc).strip().splitlines()[0][:200]})") from None
        contract = self.metadata.get("input_contract")
        self._size = json.loads(contract)["size"] if contract else None

    @property
    def input_shape(self) -> tuple:
        return (None, 3, self._size, self._size)

    @property
    def metadata(self) -> dict:
        with zipfile.ZipFile(self.path) as z:
            names = [n for n in z.namelist() if n.endswith("/" + METADATA_FILE)]
            return json.loads(z.read(names[0])) if names else {}

    def run(self, x: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            return self.module(self._torch.from_numpy(np.ascontiguousarray(x))).numpy()

    def close(self) -> None:
        self.module = None
