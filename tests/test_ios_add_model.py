"""ios_demo/add_model.sh on a real export: a verified CoreML artifact is preferred, an unverified one is
copied with a loud warning and keeps its status for the app to show, a failed one is refused."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from petface_edge.runtime.manifest import Manifest, artifact_digest

SCRIPT = Path(__file__).resolve().parent.parent / "ios_demo" / "add_model.sh"


@pytest.fixture()
def export_copy(exported, tmp_path) -> Path:
    """The pipeline's CoreML packages and manifest in a folder whose statuses a test may edit."""
    out = tmp_path / "export"
    out.mkdir()
    manifest = Manifest.load(exported.export)
    for a in manifest.artifacts:
        if a.format == "coreml":
            shutil.copytree(manifest.path_of(a), out / a.path)
    shutil.copy(exported.export / "manifest.json", out / "manifest.json")
    return out


def _run(export: Path, model_dir: Path, *args: str) -> subprocess.CompletedProcess:
    model_dir.mkdir(exist_ok=True)
    return subprocess.run(["bash", str(SCRIPT), str(export), *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PETFACE_IOS_MODEL_DIR": str(model_dir)})


def _set_status(export: Path, statuses: dict) -> None:
    raw = json.loads((export / "manifest.json").read_text())
    for entry in raw["artifacts"]:
        entry["status"] = statuses.get(entry["id"], entry["status"])
    (export / "manifest.json").write_text(json.dumps(raw))


def test_an_unverified_coreml_artifact_is_copied_with_a_loud_warning(export_copy, tmp_path):
    _set_status(export_copy, {a: "not verifiable here" for a in ("coreml-fp32", "coreml-fp16", "coreml-w8", "coreml-w8a8")})
    model = tmp_path / "Model"
    done = _run(export_copy, model)
    assert done.returncode == 0, done.stderr
    assert "coreml-fp16 is NOT VERIFIED ON THIS OS" in done.stderr and f"petface-verify {export_copy}" in done.stderr
    copied = Manifest.load(model)
    [artifact] = copied.artifacts
    assert (artifact.id, artifact.status) == ("coreml-fp16", "not verifiable here")  # the app shows it
    assert artifact_digest(copied.path_of(artifact)) == (artifact.bytes, artifact.sha256)


def test_a_verified_artifact_is_preferred_and_a_failed_one_refused(export_copy, tmp_path):
    _set_status(export_copy, {"coreml-fp16": "not verifiable here", "coreml-w8": "passed", "coreml-fp32": "failed parity"})
    model = tmp_path / "Model"
    done = _run(export_copy, model)
    assert done.returncode == 0, done.stderr
    assert "NOT VERIFIED" not in done.stderr
    assert [(a.id, a.status) for a in Manifest.load(model).artifacts] == [("coreml-w8", "passed")]
    refused = _run(export_copy, model, "coreml-fp32")
    assert refused.returncode == 2 and "'coreml-fp32' has status 'failed parity'" in refused.stderr
    assert [a.id for a in Manifest.load(model).artifacts] == ["coreml-w8"]  # the model in place is kept
