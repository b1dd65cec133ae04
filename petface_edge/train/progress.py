"""Training output: a tqdm bar per epoch on a terminal, plain log lines otherwise, and ``train.log``.

Only rank 0 reports; other torchrun processes stay silent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional, TextIO

LOG_FILE = "train.log"
# Without a terminal, an epoch is reported in this many lines (plus its summary).
PLAIN_LINES_PER_EPOCH = 4


class Reporter:
    def __init__(self, active: bool, progress: bool, stream: Optional[TextIO] = None) -> None:
        self.active = active
        self.progress = progress
        self.stream = stream or sys.stdout
        self.bar_mode = progress and self.stream.isatty()
        self.log_path: Optional[Path] = None

    def attach_log(self, path: Path) -> None:
        """From now on every line also goes to ``path`` (appended: a resumed run continues it)."""
        self.log_path = path

    def log(self, message: str, console: bool = True) -> None:
        if not self.active:
            return
        if console:
            print(message, file=self.stream, flush=True)
        if self.log_path is not None:
            with open(self.log_path, "a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def epoch(self, epoch: int, epochs: int, steps: int) -> "EpochProgress":
        return EpochProgress(self, epoch, epochs, steps)


class EpochProgress:
    """Per-step updates of one epoch: images/s, loss, LR."""

    def __init__(self, reporter: Reporter, epoch: int, epochs: int, steps: int) -> None:
        self.reporter, self.epoch, self.epochs, self.steps = reporter, epoch, epochs, steps
        self.bar = None
        if reporter.active and reporter.bar_mode:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="batch", file=reporter.stream,
                            leave=False, dynamic_ncols=True)
        self.every = max(1, steps // PLAIN_LINES_PER_EPOCH)

    def update(self, step: int, images_per_s: float, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix({"img/s": f"{images_per_s:.0f}", "loss": f"{loss:.3f}", "lr": f"{lr:.2e}"},
                                 refresh=False)
            self.bar.update(1)
        elif self.reporter.progress and step % self.every == 0 and step < self.steps:
            self.reporter.log(f"epoch {self.epoch}/{self.epochs} step {step}/{self.steps} loss {loss:.4f} "
                              f"lr {lr:.2e} {images_per_s:.1f} img/s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
