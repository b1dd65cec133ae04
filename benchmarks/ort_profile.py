"""Where onnxruntime spends its time, per operator type, from its own profiler.

    python -m benchmarks.ort_profile MODEL.onnx [MODEL2.onnx ...] [--threads 1] [--runs 200]

Prints, for each model, the batch-1 median latency and a table of kernel time per operator type
as onnxruntime executes the optimized graph (its NCHWc layout pass adds ``ReorderInput`` /
``ReorderOutput`` nodes around every operator that has no blocked-layout kernel).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def profile(path: Path, threads: int, runs: int) -> tuple[float, dict[str, tuple[float, int]]]:
    """(median ms, {op type: (ms per run, nodes)}) for one model at batch 1."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    # Noise pixels, not a constant image: onnxruntime's PRelu kernel branches on the sign of each value,
    # so a flat input (predictable branches) hides most of its cost (7 ms instead of 23 ms per run).
    x = np.random.default_rng(0).integers(0, 256, [d if isinstance(d, int) else 1 for d in spec.shape]).astype(np.float32)
    for _ in range(10):
        session.run(None, {spec.name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {spec.name: x})
        times.append(time.perf_counter() - start)
    events = json.loads(Path(session.end_profiling()).read_text())
    total: dict[str, float] = collections.defaultdict(float)
    nodes: dict[str, set] = collections.defaultdict(set)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            total[e["args"]["op_name"]] += e["dur"]
            nodes[e["args"]["op_name"]].add(e["name"])
    calls = runs + 10
    return float(np.median(times)) * 1e3, {op: (us / calls / 1e3, len(nodes[op])) for op, us in total.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    for path in args.models:
        median, ops = profile(path, args.threads, args.runs)
        kernel = sum(ms for ms, _ in ops.values())
        print(f"\n{path} ({args.threads} thread(s)): median {median:.2f} ms, kernels {kernel:.2f} ms\n")
        print("| Operator | Nodes | ms per run | share |\n|---|---:|---:|---:|")
        for op, (ms, n) in sorted(ops.items(), key=lambda kv: -kv[1][0]):
            print(f"| {op} | {n} | {ms:.3f} | {100 * ms / kernel:.1f}% |")


if __name__ == "__main__":
    main()
