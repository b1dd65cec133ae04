"""Options, shared fixtures and the end-of-session tables for ``pytest benchmarks``.

    pytest benchmarks                                    # quick mode, demo model built and cached
    pytest benchmarks --bench-mode full --bench-table build/bench.md
    pytest benchmarks --export-dir build/test-pipeline/export --benchmark-disable   # smoke: each once

``--export-dir`` names a ``petface-export`` output directory; without it the demo model is
built by ``tests.pipeline`` and cached under ``build/bench-cache/`` (keyed by a hash of the
code that produced it). The 224 comparison models are always built there.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from petface_edge.runtime.manifest import Manifest, ManifestError

from .exports import COMPARISONS, comparison_export, demo_export, model_cost
from .machine import Machine, usable_cores
from .report import ALL, Results, render
from .timing import MODES, SMOKE, Mode

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "bench-cache"
FACES = 8  # distinct synthetic faces; batches take the first N
FACE_SIZE = 224  # source images are at least as large as any model input, so the resize does real work
COMPARISON_KEYS = {"mfn224": "mobilefacenet-224", "mnv3": "mobilenetv3_small_100-224"}
# Formats the comparison models are exported to: ONNX only in quick mode (onnx2tf takes a minute per model).
COMPARISON_FORMATS = {"quick": ("onnx",), "full": ("onnx", "tflite", "torchscript")}

_results_key = pytest.StashKey[Results]()
_machine_key = pytest.StashKey[Machine]()
_names_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("petface benchmarks")
    group.addoption("--export-dir", type=Path, default=None,
                    help="petface-export output directory to measure (default: build the demo model, cached)")
    group.addoption("--bench-mode", choices=sorted(MODES), default="quick",
                    help="quick: ~1 s per figure, galleries up to 100k; full: ~4 s per figure, up to 1M")
    group.addoption("--bench-table", type=Path, default=None,
                    help="write the markdown tables to this file (they are printed at the end either way)")


@dataclass
class Model:
    """One exported model under test, with what the table needs about it."""

    name: str
    manifest: Manifest
    parameters: int
    macs: int
    pixels: np.ndarray  # (FACES, S, S, 3) uint8, resized with the contract's filter


@dataclass
class Bench:
    mode: Mode
    machine: Machine
    results: Results
    faces: list[Path]

    def threads(self, setting: int | str) -> int:
        return self.machine.cores if setting == ALL else int(setting)


def bench_mode(config: pytest.Config) -> Mode:
    return SMOKE if config.getoption("benchmark_disable") else MODES[config.getoption("bench_mode")]


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Bench:
    from petface_edge.synth import generate

    mode = bench_mode(request.config)
    smoke = mode is SMOKE
    machine = Machine.measure([1, usable_cores()], n=512 if smoke else 2048, repeats=1 if smoke else 5)
    request.config.stash[_machine_key] = machine
    results = request.config.stash[_results_key]
    faces = generate(tmp_path_factory.mktemp("faces"), FACES, 1, FACE_SIZE, seed=2)
    return Bench(mode, machine, results, sorted(faces.rglob("*.jpg")))


def _model(manifest: Manifest, faces: list[Path]) -> Model:
    from petface_edge.imaging import preprocess

    name = f"{manifest.model['backbone']}-{manifest.model['image_size']}"
    parameters, macs = model_cost(manifest)
    size = int(manifest.model["image_size"])
    return Model(name, manifest, parameters, macs, np.stack([preprocess(f, size) for f in faces]))


def _describe(model: Model, origin: str) -> str:
    return f"{model.parameters:,} parameters, {model.macs / 1e6:.1f} M MACs per image; {origin}"


@pytest.fixture(scope="session")
def demo(request: pytest.FixtureRequest, bench: Bench) -> Model:
    """The model the table is about: ``--export-dir``, or the demo model built and cached."""
    export_dir = request.config.getoption("export_dir") or demo_export(ROOT, CACHE)
    model = _model(Manifest.load(export_dir), bench.faces)
    request.config.stash[_names_key] = model.name
    bench.results.models[model.name] = _describe(model, f"exported in `{model.manifest.directory}`")
    return model


@pytest.fixture(scope="session")
def comparisons(request: pytest.FixtureRequest, bench: Bench) -> dict[str, Model]:
    """MobileFaceNet-224 and MobileNetV3-Small-224, FP32, for the size and backbone ratios."""
    formats = COMPARISON_FORMATS["full" if bench.mode.name == "full" else "quick"]
    models = {}
    for comparison in COMPARISONS:
        manifest = Manifest.load(comparison_export(ROOT, CACHE, comparison, formats))
        model = models[comparison.key] = _model(manifest, bench.faces)
        bench.results.models[model.name] = _describe(
            model, "untrained weights, BatchNorm statistics from synthetic faces (fine for latency; parity is to "
            f"its own PyTorch weights); exported to {', '.join(formats)}")
    return models


def pytest_configure(config: pytest.Config) -> None:
    export_dir = config.getoption("export_dir", None)
    if export_dir is not None:
        try:
            Manifest.load(export_dir)
        except ManifestError as exc:
            raise pytest.UsageError(f"--export-dir: {exc}") from None
    config.stash[_results_key] = Results()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Print the tables (and write them to ``--bench-table``) when any benchmark ran."""
    results = config.stash.get(_results_key, None)
    machine = config.stash.get(_machine_key, None)
    if machine is None or results is None or not (results.latency or results.gallery):
        return
    command = shlex.join([Path(sys.executable).name, "-m", "pytest", *config.invocation_params.args])
    text = render(results, machine, command, bench_mode(config).name, config.stash.get(_names_key, ""), COMPARISON_KEYS)
    path = config.getoption("bench_table")
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    terminalreporter.write_sep("=", "petface-edge benchmark tables" + (f" (written to {path})" if path else ""))
    terminalreporter.write_line(text)
