"""The wheel, as a user installs it: built from the files a clean clone has, installed with no extras
into a fresh venv, it holds one import package and runs the SDK on a shipped artifact.

Dependencies come from a local wheelhouse (``.tools/wheelhouse``), filled from the package
index with ``constraints.txt`` only when a requirement is missing there, so the test normally
runs offline and in seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from petface_edge import Embedder, __version__
from petface_edge.data import load_splits

REPO = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO / ".tools" / "wheelhouse"
DIST_INFO = f"petface_edge-{__version__}.dist-info"
SCRIPTS = ("petface", "petface-synth", "petface-train", "petface-eval", "petface-compare", "petface-export",
           "petface-calibrate", "petface-verify")
HEAVY = ("torch", "tensorflow", "coremltools", "onnx2tf", "timm")


def _run(*cmd, cwd: Path = Path("/"), **kwargs) -> subprocess.CompletedProcess:
    """Run outside the repository by default: from its root, ``python -c`` would import the source tree."""
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, cwd=cwd, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of the tracked and untracked-but-not-ignored files, in a copy (no stale build/ or egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    files = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).stdout
    source = tmp / "src"
    for rel in filter(None, files.split("\0")):
        if (REPO / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, source / rel)
    run = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist",
               source)
    assert run.returncode == 0, run.stderr
    (built,) = (tmp / "dist").glob("petface_edge-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and its base requirements only; returns its bin/ folder."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(root, with_pip=True)
    pip = [root / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run = _run(*pip, "--no-index", "--find-links", WHEELHOUSE, wheel)
    if run.returncode != 0:  # a requirement not in the wheelhouse yet: fetch the pinned versions once
        fetched = _run(sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", WHEELHOUSE,
                       "-c", REPO / "constraints.txt", wheel)
        assert fetched.returncode == 0, fetched.stderr
        run = _run(*pip, "--no-index", "--find-links", WHEELHOUSE, wheel)
    assert run.returncode == 0, run.stderr
    return root / "bin"


def test_the_wheel_installs_one_import_package(wheel, installed):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert {n.split("/")[0] for n in names} == {"petface_edge", DIST_INFO}
    # What pip installed, from its RECORD (scripts land outside site-packages: "../../../bin/...").
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    record = (site / DIST_INFO / "RECORD").read_text().splitlines()
    assert {line.split(",")[0].split("/")[0] for line in record if not line.startswith("..")} == \
        {"petface_edge", DIST_INFO}
    assert not (site / "export").exists() and not (site / "calibration").exists()
    for sub in ("export", "calibration"):  # installed as subpackages
        assert (site / "petface_edge" / sub / "__init__.py").is_file()
    assert "petface_edge/py.typed" in names
    for script in SCRIPTS:
        assert (installed / script).is_file(), script
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as z:
        text = z.read(meta).decode()
    assert "License-Expression: Apache-2.0" in text and "Project-URL: Homepage" in text


def test_the_base_install_has_no_heavy_framework_and_runs_the_cli(installed, exported):
    python = installed / "python"
    probe = f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    assert _run(python, "-c", probe).stdout.strip() == "[]"

    export = exported.export.resolve()  # the commands run outside the repository
    run = _run(installed / "petface", "info", export, "--json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["fingerprint"] and info["dim"] == 128
    # The default path: LiteRT comes with the base install here (its wheel exists for this platform), and
    # the artifact and thread count are the pair measured fastest on this machine, saying so.
    assert _run(python, "-c", "import ai_edge_litert.interpreter").returncode == 0
    assert info["chosen_because"].startswith(f"chosen: {info['artifact']} on {info['threads']} thread")

    image = exported.data.resolve() / sorted(load_splits(exported.splits)["test"])[0][0]
    run = _run(installed / "petface", "embed", export, image, "--json")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["model"]["artifact"] == info["artifact"]
    vector = np.array(got["embeddings"][0]["embedding"], np.float32)
    expected = Embedder.open(exported.export, backend=info["artifact"]).embed(image)[0]
    assert np.allclose(vector, expected, atol=1e-5)


def test_the_export_toolchain_names_its_extra(installed):
    run = _run(installed / "python", "-c", "import petface_edge.export")
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: petface_edge.export needs the 'export' extra")
    assert "pip install 'petface-edge[export]'" in last
