"""``last_checkpoint.pt`` and ``best_model.pt``: tensors and builtins only.

Everything, RNG states included, is stored as tensors, numbers, strings, lists and dicts,
so both load with ``torch.load(weights_only=True)``: a checkpoint can never run code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import PetfaceError
from ..models.checkpoint import load_tagged, save_tagged

FORMAT = "petface-train-checkpoint"
FORMAT_VERSION = 1
LAST = "last_checkpoint.pt"
BEST = "best_model.pt"


class TrainCheckpointError(PetfaceError, ValueError):
    """A file that is not a petface training checkpoint."""


def rng_state() -> dict[str, Any]:
    """Torch (CPU and CUDA), numpy and Python RNG states as tensors."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"state": torch.tensor(py_state[1], dtype=torch.int64), "version": py_state[0],
                   "gauss_next": py_state[2]},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss_next"]))


def save(path: Path, payload: dict[str, Any]) -> Path:
    """Write atomically: a crash mid-save leaves the previous checkpoint intact."""
    return save_tagged({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, path)


def load(path: Path) -> dict[str, Any]:
    return load_tagged(path, FORMAT, FORMAT_VERSION, TrainCheckpointError, "petface-train checkpoint")
