"""Peak resident memory of one artifact's session, measured in a fresh interpreter.

A process's peak RSS only grows, so measuring several artifacts in the benchmark
process would report the largest one for all of them. Each artifact is instead
opened in its own ``python -m benchmarks.rss`` run, which loads it through
``open_backend``, runs the requested batches a few times, and prints
its peak resident set size: the memory an app embedding this runtime pays.

On Linux the peak is the kernel's VmHWM of the process's own address space;
``ru_maxrss`` would not do, because it carries the parent's peak across fork and exec
(a child of a 1 GB pytest process reports at least 1 GB).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np


def _proc_status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status (Linux), in bytes; None where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return None


def _peak_rss_bytes() -> int:
    peak = _proc_status_bytes("VmHWM")
    # macOS: ru_maxrss is in bytes there.
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_bytes() -> int:
    """Resident set size now (Linux VmRSS); elsewhere the peak, the closest portable figure."""
    now = _proc_status_bytes("VmRSS")
    return now if now is not None else _peak_rss_bytes()


def release_free_heap() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``), so an RSS difference counts new memory only.

    Without it, memory freed earlier in the process is reused silently and a structure
    built afterwards looks smaller than it is. A no-op where glibc is absent.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def run_session(manifest_path: Path, artifact_id: str, threads: int, batches: Sequence[int]) -> dict:
    """Open the artifact, run each batch size three times; return peak RSS before loading and after."""
    from petface_edge.runtime.backends import open_backend
    from petface_edge.runtime.contract import from_output_tensor, to_input_tensor
    from petface_edge.runtime.manifest import Manifest

    manifest = Manifest.load(manifest_path)
    artifact = manifest.artifact(artifact_id)
    before = _peak_rss_bytes()
    backend = open_backend(manifest.path_of(artifact), threads=threads)
    size = artifact.input.size
    for batch in batches:
        x = to_input_tensor(np.zeros((batch, size, size, 3), np.uint8), artifact.input)
        for _ in range(3):
            from_output_tensor(backend.run(x), artifact.output)
    return {"before_load": before, "peak": _peak_rss_bytes()}


def measure_peak_rss(manifest_path: Path, artifact_id: str, threads: int, batches: Sequence[int],
                     timeout_s: float = 600) -> dict:
    """:func:`run_session` in a fresh ``python -m benchmarks.rss`` process; raises RuntimeError with its last error line."""
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "benchmarks.rss", str(manifest_path), artifact_id, "--threads", str(threads),
           "--batches", *map(str, batches)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit status {proc.returncode}"]
        raise RuntimeError(f"peak-RSS run of {artifact_id} failed: {lines[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> int:
    from petface_edge._cli import ArgumentParser, fail, positive_int
    from petface_edge.runtime.backends import BackendError
    from petface_edge.runtime.manifest import ManifestError

    parser = ArgumentParser(prog="python -m benchmarks.rss", description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("artifact", help="artifact id, e.g. onnx-fp32")
    parser.add_argument("--threads", type=positive_int, required=True)
    parser.add_argument("--batches", type=positive_int, nargs="+", required=True)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(run_session(args.manifest, args.artifact, args.threads, args.batches)))
    except (BackendError, ManifestError, KeyError, ValueError) as exc:
        fail(parser.prog, str(exc).strip("'\""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
