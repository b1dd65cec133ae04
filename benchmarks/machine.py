"""What the numbers were measured on: CPU model, cores, load, and the practical peak (a large SGEMM)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def sgemm_macs_per_s(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Multiply-accumulates per second of numpy's float32 ``n x n @ n x n`` on ``threads`` BLAS threads, best of ``repeats``.

    The best of several runs is the practical peak this CPU reaches on the friendliest
    workload there is; a model's achieved MAC/s is reported as a fraction of it.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    best = float("inf")
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)  # first call pays for thread start-up and page faults
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return n**3 / best


@dataclass
class Machine:
    cpu: str
    cores: int
    sgemm: dict[int, float] = field(default_factory=dict)  # threads -> MAC/s
    load_before: float | None = None
    gpu: str = ""

    @classmethod
    def measure(cls, thread_counts: list[int], n: int, repeats: int) -> "Machine":
        load = load_average()  # before our own SGEMM adds to it
        sgemm = {t: sgemm_macs_per_s(t, n, repeats) for t in sorted(set(thread_counts))}
        return cls(cpu=cpu_model(), cores=usable_cores(), sgemm=sgemm, load_before=load, gpu=gpu_name())

    def describe(self) -> str:
        peaks = ", ".join(f"{t} thread{'s' if t > 1 else ''}: {v / 1e9:.1f} GMAC/s" for t, v in self.sgemm.items())
        load = f"; 1-min load average {self.load_before:.2f} at start" if self.load_before is not None else ""
        gpu = f"; GPU: {self.gpu}" if self.gpu else "; no CUDA GPU"
        return f"{self.cpu}, {self.cores} cores ({platform.system()} {platform.machine()}); numpy SGEMM {peaks}{load}{gpu}"


def gpu_name() -> str:
    """The CUDA device name when torch sees one (torch is imported only if already installed)."""
    try:
        import torch
    except ImportError:
        return ""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
