"""Applying an artifact's input/output contract: pixels to tensor, raw output to unit vectors.

The only place where layout, dtype and int8 (de)quantization are handled, so every
backend, the verifier, the evaluation suite and the SDK agree.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .manifest import InputContract, OutputContract

_INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


def to_input_tensor(pixels: np.ndarray, contract: InputContract) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB pixels to the artifact's input tensor."""
    if pixels.ndim != 4 or pixels.shape[1:] != (contract.size, contract.size, 3):
        raise InvalidArgumentError(f"expected pixels of shape (N, {contract.size}, {contract.size}, 3), got {pixels.shape}")
    x = pixels.astype(np.float32)
    if contract.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    if contract.quantization is not None:
        q = contract.quantization
        lo, hi = _INT_RANGE[contract.dtype]
        return np.clip(np.round(x / q.scale) + q.zero_point, lo, hi).astype(contract.dtype)
    return np.ascontiguousarray(x.astype(contract.dtype))


def from_output_tensor(raw: np.ndarray, contract: OutputContract) -> np.ndarray:
    """Raw model output to (N, D) float32 unit vectors (dequantized, re-normalized)."""
    y = raw.reshape(raw.shape[0], -1).astype(np.float32)
    if contract.quantization is not None:
        q = contract.quantization
        y = (y - q.zero_point) * q.scale
    # Re-normalize: int8/fp16 outputs are only approximately unit length.
    norms = np.linalg.norm(y, axis=1, keepdims=True)
    return y / np.maximum(norms, 1e-12)
