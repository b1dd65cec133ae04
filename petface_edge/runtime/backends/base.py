"""The backend interface every runtime adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import PetfaceError


class BackendError(PetfaceError, RuntimeError):
    """A model file that cannot be loaded or run; the message names the file and what was expected."""


class Backend(ABC):
    """A loaded artifact. ``run`` takes a tensor already in the artifact's input contract."""

    name: str = ""  # runtime name, e.g. "onnxruntime"
    # True when ``run`` may be called from several threads at once; otherwise callers serialize it.
    thread_safe: bool = False

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    @abstractmethod
    def input_shape(self) -> tuple:
        """Declared input shape; a non-int (None or a name) marks a dynamic axis."""

    @property
    def fixed_batch(self) -> Optional[int]:
        b = self.input_shape[0]
        return b if isinstance(b, int) and b > 0 else None

    @property
    def metadata(self) -> dict:
        """Key/value metadata stored inside the artifact (empty where the format has none)."""
        return {}

    @abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one batch; returns the raw first output."""

    @abstractmethod
    def close(self) -> None:
        """Drop the native session so the runtime frees it now, not whenever the backend is collected.

        Idempotent. ``run`` must not be called afterwards (``Embedder`` guards that with a clear error).
        """
