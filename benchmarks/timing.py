"""Timing through pytest-benchmark, with the round count sized to a time budget per mode."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class Mode:
    """How hard to measure: seconds of rounds per benchmark, round limits, warm-up calls."""

    name: str
    budget_s: float
    min_rounds: int
    max_rounds: int
    warmup: int
    gallery_sizes: tuple[int, ...]
    gallery_queries: int


MODES = {
    "quick": Mode("quick", budget_s=1.0, min_rounds=5, max_rounds=300, warmup=2,
                  gallery_sizes=(10_000, 100_000), gallery_queries=200),
    "full": Mode("full", budget_s=4.0, min_rounds=20, max_rounds=2000, warmup=5,
                 gallery_sizes=(10_000, 100_000, 1_000_000), gallery_queries=1000),
}
# --benchmark-disable: each benchmark runs once, to prove it still works; no figure is a measurement.
SMOKE = Mode("smoke", budget_s=0.0, min_rounds=1, max_rounds=1, warmup=0, gallery_sizes=(10_000,), gallery_queries=20)


@dataclass(frozen=True)
class Timing:
    """Per-call wall times in seconds."""

    samples: tuple[float, ...]
    measured: bool  # False: a single smoke call, not a measurement

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples, q))

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def p99(self) -> float:
        return self.percentile(99)


def measure(benchmark, fn: Callable[[], object], mode: Mode, setup: Optional[Callable[[], None]] = None,
            rounds: Optional[int] = None) -> Timing:
    """Time ``fn()`` with pytest-benchmark: rounds of one call each, as many as ``mode.budget_s`` allows.

    ``setup`` (untimed, before each round, returns None) lets a benchmark rotate its input, e.g. a new query.
    ``rounds`` fixes the count instead (a percentile needs enough samples whatever they cost).
    Under ``--benchmark-disable`` the call runs once and the result is flagged as not measured.
    """
    if setup is not None:
        setup()
    start = time.perf_counter()
    if benchmark.disabled:
        benchmark.pedantic(fn)  # pytest-benchmark makes exactly one call
        return Timing((time.perf_counter() - start,), measured=False)
    fn()  # first call: lazy initialization, and the estimate that sizes the rounds
    first = time.perf_counter() - start
    rounds = rounds or int(min(mode.max_rounds, max(mode.min_rounds, mode.budget_s / max(first, 1e-6))))
    benchmark.pedantic(fn, setup=setup, rounds=rounds, warmup_rounds=mode.warmup)
    return Timing(tuple(benchmark.stats.stats.data), measured=True)
