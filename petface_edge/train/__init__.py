"""Training (needs the ``train`` extra): ``petface-train`` and its Python API.

    >>> from petface_edge.train import TrainConfig, train
    >>> train(TrainConfig(data_dir="data", output_dir="run", epochs=30, batch_size=64, lr=2e-3))
"""

import os

# Idle OpenMP threads sleep instead of spinning. On a CPU shared with other jobs, spinning
# threads steal the cores their own siblings wait for: a MobileFaceNet step measured 20x
# slower on 2 busy cores. Read once when torch loads, so it only helps if torch is not loaded yet.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .config import ConfigError, TrainConfig  # noqa: E402
from .trainer import TrainError, train  # noqa: E402

__all__ = ["ConfigError", "TrainConfig", "TrainError", "train"]
