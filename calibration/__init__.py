"""Calibration sets for INT8 export (``petface-calibrate``): build, store, load, check.

Light at import (numpy, PIL); the per-converter feeds live in :mod:`petface_edge.calibration.feeds`.
"""

from .dataset import (
    DEFAULT_COUNT,
    MIN_IMAGES,
    CalibrationError,
    CalibrationSet,
    build,
    from_splits,
    load,
    synthetic,
)

__all__ = [
    "DEFAULT_COUNT",
    "MIN_IMAGES",
    "CalibrationError",
    "CalibrationSet",
    "build",
    "from_splits",
    "load",
    "synthetic",
]
