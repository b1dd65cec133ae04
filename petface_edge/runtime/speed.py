"""Which verified artifact, on how many threads, embeds fastest on this machine: measured, then cached.

Why measure instead of a fixed order: the order is a property of the CPU, not of the file.
On one 2-core Xeon LiteRT ran MobileFaceNet-112 3.7x faster than onnxruntime and INT8 1.37x
slower than FP32; on a Zen 4 EPYC LiteRT's INT8 was faster than its FP32; on a phone the
answer differs again. Why at first open on the machine that runs the model rather than at
export: the export machine is rarely that machine, so a table shipped from export would
describe the wrong CPU. The cost is paid once per machine and export (every shipped artifact
on 1 thread and on all cores, batch 1, interleaved so a burst of load hits all alike: 1 s in
the base install here, 6 s with TorchScript's runtime to import); the table is cached in the user's cache folder (``PETFACE_CACHE_DIR``, else
``$XDG_CACHE_HOME/petface-edge`` or ``~/.cache/petface-edge``), keyed by the artifacts'
sha256, the CPU and the installed runtime versions, so copies of one export share it, a
read-only export works, and a new runtime or CPU is measured anew. A table measured while
other work kept the cores busy (1-minute load average over ``BUSY_LOAD`` per core) favours
one thread unfairly, so it is provisional: opens at least ``REMEASURE_AFTER_S`` later measure
again (busy spells last; two commands a second apart must not pick different pairs), up to
``MEASURE_ATTEMPTS`` measurements in all, and keep the table measured on the quietest machine
that timed as many pairs.

Among the pairs within ``TOLERANCE`` of the fastest, the most faithful artifact wins (the
candidates arrive ranked by precision, see :mod:`.artifacts`): an INT8 file that is 2% faster
than FP32 is not worth its accuracy loss; one that is twice as fast is the user's to refuse
with ``backend="tflite-fp32"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np

from ..atomic import write_json_atomic
from .backends import BackendError, open_backend
from .contract import to_input_tensor
from .manifest import Artifact, Manifest

TOLERANCE = 1.05  # pairs within 5% of the fastest count as equally fast
WARMUP = 2
ROUNDS = 5  # interleaved rounds ...
RUNS = 3  # ... of this many timed calls per pair
PRUNE = 3.0
BUSY_LOAD = 0.5  # runnable processes per core (1-minute load average) above which a table is provisional
MEASURE_ATTEMPTS = 3
REMEASURE_AFTER_S = 600
CACHE_VERSION = 3  # 2: rows are minima; 3: the load the table was measured under
_RUNTIME_PACKAGES = ("onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "torch", "numpy")


def machine_threads() -> int:
    """The cores this process may run on (respects CPU affinity and container limits where the OS reports them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Choice:
    """The measured order: (artifact id, threads) pairs to try, best first, and why the first one."""

    pairs: list[tuple[str, int]]
    why: str


def choose(manifest: Manifest, candidates: list[Artifact], threads: int | None) -> Choice | None:
    """Order ``candidates`` by measured batch-1 latency (from the cache, or measured now and cached).

    ``threads``: measure only that count; None: 1 and all cores. Returns None when nothing could be
    measured (no candidate loads), and the caller keeps its static order.
    """
    counts = [threads] if threads else sorted({1, machine_threads()})
    usable = [a for a in candidates if a.input is not None and a.output is not None]
    if not usable:
        return None
    path = _cache_path(manifest, usable, counts)
    cached = _read(path)
    table, source = cached, "measured {measured}"
    if cached is None or _due(cached):
        fresh = _measure(manifest, usable, counts)
        if fresh and (cached is None or (_quieter(fresh, cached) and len(fresh["rows"]) >= len(cached["rows"]))):
            table, source = fresh, "measured now"
        if table is None:
            return None
        table["attempt"] = (cached or {}).get("attempt", 0) + 1
        table["tried_unix"] = round(time.time(), 1)
        _write(path, table)
    source = source.format(measured=table["measured"])
    if table.get("load") is not None:
        source += f" at load {table['load']:.2f} per core"
        if _provisional(table):
            source += (f" (busy: measured again at an open {REMEASURE_AFTER_S // 60} min on or later, attempt "
                       f"{table['attempt']} of {MEASURE_ATTEMPTS})")
    source += f", cached in {path}"
    times = {(r["artifact"], r["threads"]): r["ms"] for r in table["rows"]}
    rank = {a.id: i for i, a in enumerate(usable)}
    measured = [pair for pair in times if pair[0] in rank]
    if not measured:
        return None
    best = min(times[p] for p in measured)
    fast = [p for p in measured if times[p] <= best * TOLERANCE]
    order = sorted(fast, key=lambda p: (rank[p[0]], times[p]))  # the most faithful of the equally fast
    order += sorted((p for p in measured if p not in fast), key=times.__getitem__)
    order += [(a.id, counts[-1]) for a in usable if a.id not in {p[0] for p in measured}]
    first = order[0]
    others = ", ".join(f"{a} x{t} {times[(a, t)]:.2f} ms" for a, t in sorted(measured, key=lambda p: times[p])
                       if (a, t) != first)
    why = (f"chosen: {first[0]} on {first[1]} thread{'s' * (first[1] > 1)}, the most faithful of the fastest "
           f"verified pairs here ({times[first]:.2f} ms at batch 1; within {TOLERANCE - 1:.0%} of the fastest "
           f"counts as equal; others: {others or 'none'}); {source}")
    return Choice(order, why)


def machine_load() -> float | None:
    """The 1-minute load average per core (None where the OS has none, e.g. Windows).

    Per core of the machine, not of this process's affinity: the load average counts every process.
    """
    try:
        return round(os.getloadavg()[0] / max(1, os.cpu_count() or 1), 2)
    except (AttributeError, OSError):
        return None


def _provisional(table: dict) -> bool:
    load = table.get("load")
    return load is not None and load > BUSY_LOAD and table.get("attempt", 1) < MEASURE_ATTEMPTS


def _due(table: dict) -> bool:
    """A provisional table old enough to measure again."""
    last = max(table.get("measured_unix", 0), table.get("tried_unix", 0))  # a kept table counts its last try
    return _provisional(table) and time.time() - last >= REMEASURE_AFTER_S


def _quieter(fresh: dict, cached: dict) -> bool:
    return fresh.get("load") is None or cached.get("load") is None or fresh["load"] <= cached["load"]


def _measure(manifest: Manifest, artifacts: list[Artifact], counts: list[int]) -> dict:
    """Batch-1 latency of every (artifact, threads) pair that loads: the fastest of its round-robin calls.

    The minimum, not the median: the table is cached for good, so it should describe the machine, not
    the load it happened to carry while measured (on a shared 2-core machine the medians of two
    identical LiteRT sessions timed in one run differed by 1.9x).

    A pair whose warm-up call is ``PRUNE``x slower than the best warm-up so far cannot win: it keeps
    that figure and skips the timed rounds (the lite interpreter took 130 ms against LiteRT's 4 ms).
    """
    pairs, rows, best, load = [], [], float("inf"), machine_load()  # before our own burst adds to it
    for artifact in artifacts:
        # All cores first: ExecuTorch's one thread pool serves one count while a program is loaded, so it
        # is measured at the count that is fastest at batch 1 on every CPU measured so far (0.93 vs 1.54 ms).
        for count in sorted(counts, reverse=True):
            try:
                backend = open_backend(manifest.path_of(artifact), threads=count)
            except (BackendError, ModuleNotFoundError, OSError):
                break  # it will be skipped, with its reason, when the caller tries to load it
            size = artifact.input.size
            pixels = np.random.default_rng(0).integers(0, 256, (backend.fixed_batch or 1, size, size, 3), np.uint8)
            x = to_input_tensor(pixels, artifact.input)  # noise, not a flat image: see benchmarks/ort_profile.py
            try:
                for _ in range(WARMUP):
                    start = time.perf_counter()
                    backend.run(x)
                warm = time.perf_counter() - start
            except Exception:  # noqa: BLE001 - a runtime that cannot run it is not a candidate
                backend.close()
                break
            best = min(best, warm)
            if warm > PRUNE * best:
                backend.close()
                rows.append((artifact.id, count, [warm]))
            else:
                pairs.append((artifact.id, count, backend, x, []))
    for _ in range(ROUNDS):
        for _, _, backend, x, times in pairs:
            for _ in range(RUNS):
                start = time.perf_counter()
                backend.run(x)
                times.append(time.perf_counter() - start)
    for aid, count, backend, _, times in pairs:
        backend.close()
        rows.append((aid, count, times))
    if not rows:
        return {}
    return {"version": CACHE_VERSION, "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "measured_unix": round(time.time(), 1),
            "machine": _machine(), "load": load,
            "rows": [{"artifact": aid, "threads": count, "ms": round(float(np.min(t)) * 1e3, 4)}
                     for aid, count, t in rows]}


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in _RUNTIME_PACKAGES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            continue
    return {"cpu": cpu, "cores": machine_threads(), "system": platform.system(), "runtimes": versions}


def cache_dir() -> Path:
    env = os.environ.get("PETFACE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "petface-edge"


def _cache_path(manifest: Manifest, artifacts: list[Artifact], counts: list[int]) -> Path:
    files = sorted((a.id, a.sha256 or _file_key(manifest.path_of(a))) for a in artifacts)
    key = json.dumps({"files": files, "threads": counts, "machine": _machine(), "version": CACHE_VERSION},
                     sort_keys=True)
    return cache_dir() / f"speed-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _file_key(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _read(path: Path) -> dict | None:
    """The cached table, or None when absent or unreadable (then it is measured again, never trusted half-read)."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict) or table.get("version") != CACHE_VERSION:
        return None
    rows, load = table.get("rows"), table.get("load")
    well_formed = (isinstance(rows, list) and all(_row_ok(r) for r in rows)
                   and (load is None or isinstance(load, (int, float))) and isinstance(table.get("attempt", 1), int)
                   and all(isinstance(table.get(k, 0), (int, float)) for k in ("measured_unix", "tried_unix")))
    return table if well_formed else None


def _row_ok(row: object) -> bool:
    return (isinstance(row, dict) and isinstance(row.get("artifact"), str) and isinstance(row.get("threads"), int)
            and isinstance(row.get("ms"), (int, float)) and bool(np.isfinite(row["ms"])) and row["ms"] > 0)


def _write(path: Path, table: dict) -> None:
    """Cache the table; a cache folder that cannot be written only costs a new measurement next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, table)
    except OSError:
        pass
