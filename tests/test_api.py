"""The runtime API behaves like the libraries app developers know (MediaPipe Tasks, onnxruntime):
closeable embedders and galleries, frozen options, no silent device fallback, one name per class."""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import subprocess
import sys
import threading
import time
import weakref

import numpy as np
import pytest

import petface_edge
from petface_edge import BackendError, ClosedError, Embedder, EmbedderOptions, Gallery, ModelError, PetfaceError
from petface_edge.data import load_splits
from petface_edge.errors import InvalidArgumentError
from petface_edge.runtime.closing import RunGate
from petface_edge.export.worker import CONVERTERS
from petface_edge.runtime.manifest import Manifest

SESSION = {"onnx-fp32": "session", "tflite-fp32": "interpreter"}  # each backend's native session attribute


@pytest.fixture(scope="module")
def manifest(exported) -> Manifest:
    return Manifest.load(exported.export)


@pytest.fixture(scope="module")
def photo(exported):
    return exported.data / sorted(load_splits(exported.splits)["test"])[0][0]


@pytest.mark.parametrize("artifact_id", sorted(SESSION))
def test_an_embedder_is_a_context_manager_that_releases_its_session(exported, photo, artifact_id):
    with Embedder.open(exported.export, backend=artifact_id) as embedder:
        vector = embedder.embed(photo)
        session = weakref.ref(getattr(embedder._loaded.backend, SESSION[artifact_id]))
        assert not embedder.closed and vector.shape == (1, embedder.dim)
    assert embedder.closed and "closed" in repr(embedder)
    gc.collect()
    assert session() is None  # the native session is gone, not merely unreachable through the embedder


@pytest.mark.parametrize("artifact_id", sorted(SESSION))
def test_close_waits_for_calls_in_flight_and_refuses_later_ones(exported, artifact_id):
    """onnxruntime runs calls concurrently (no lock): close() must still never free a session under one."""
    embedder = Embedder.open(exported.export, backend=artifact_id)
    pixels = np.random.default_rng(0).integers(0, 256, (64, embedder.image_size, embedder.image_size, 3), np.uint8)
    outcomes: list[str] = []

    def worker() -> None:
        for _ in range(20):
            try:
                embedder.embed_pixels(pixels)
                outcomes.append("ok")
            except ClosedError:
                outcomes.append("closed")
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    while "ok" not in outcomes:  # close while the workers are embedding
        time.sleep(0.01)
    embedder.close()
    for t in threads:
        t.join()
    assert outcomes.count("closed") == 4 and set(outcomes) == {"ok", "closed"}  # never another exception


def test_the_run_gate_lets_calls_overlap_and_makes_close_wait_for_them():
    gate, events = RunGate(), []
    inside = threading.Barrier(3 + 1)

    def call() -> None:
        with gate:
            inside.wait()  # all three calls are inside the gate at once
            time.sleep(0.2)
            events.append("call ended")

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    inside.wait()
    with gate.exclusive():
        events.append("closed")
    for t in threads:
        t.join()
    assert events == ["call ended"] * 3 + ["closed"]


def test_an_embedder_used_after_close_raises_a_clear_error(exported, photo):
    embedder = Embedder.open(exported.export, backend="onnx-fp32")
    vector = embedder.embed(photo)[0]
    embedder.close()
    embedder.close()  # idempotent
    pixels = np.zeros((1, embedder.image_size, embedder.image_size, 3), np.uint8)
    for call in (lambda: embedder.embed(photo), lambda: embedder.embed_pixels(pixels),
                 lambda: embedder.embed_faces(photo), lambda: embedder.similarity(photo, vector),
                 lambda: embedder.verify(photo, vector, threshold=0.5)):
        with pytest.raises(ClosedError, match=r"Embedder\('onnx-fp32'.*closed; open a new Embedder"):
            call()
    assert issubclass(ClosedError, PetfaceError)
    assert embedder.artifact.id == "onnx-fp32" and embedder.fingerprint  # what was loaded stays readable


def test_a_gallery_is_a_context_manager_and_refuses_use_after_close(exported, photo):
    with Embedder.open(exported.export, backend="onnx-fp32") as embedder:
        with Gallery(embedder, search="exact") as gallery:
            gallery.enroll("Luna", photo)
            assert gallery.identify(photo, threshold=0.5)[0].name == "Luna"
        assert gallery.closed and "closed" in repr(gallery)
        for call in (lambda: gallery.identify(photo, threshold=0.5), lambda: gallery.enroll("Milo", photo),
                     lambda: gallery.search(embedder.embed(photo)[0], threshold=0.5), gallery.names,
                     lambda: gallery.verify("Luna", photo, threshold=0.5), lambda: gallery.remove("Luna"),
                     lambda: gallery.save("never-written.gallery")):
            with pytest.raises(ClosedError, match="Gallery.*closed"):
                call()
        assert embedder.embed(photo).shape == (1, embedder.dim)  # the embedder is the caller's: still open


def test_options_are_frozen_and_kept_as_given(exported):
    options = EmbedderOptions(exported.export, backend="onnx-fp32", threads=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.backend = "tflite-fp32"
    with Embedder.create_from_options(options) as embedder:
        assert embedder.options is options and embedder.artifact.id == "onnx-fp32"
        with pytest.raises(AttributeError):
            embedder.options = EmbedderOptions(exported.export)
    with pytest.raises(InvalidArgumentError, match="device must be one of cpu, cuda, got 'gpu'"):
        EmbedderOptions(exported.export, device="gpu")
    with pytest.raises(InvalidArgumentError, match="max_batch must be at least 1"):
        EmbedderOptions(exported.export, max_batch=0)


@pytest.mark.parametrize("artifact_id", ["tflite-fp32", "torchscript-fp32"])
def test_a_device_the_format_cannot_use_is_an_error_naming_the_runtimes_that_can(manifest, artifact_id):
    path = manifest.path_of(manifest.artifact(artifact_id))
    fmt = artifact_id.split("-")[0]
    with pytest.raises(BackendError, match=rf"{re.escape(str(path))}: device='cuda' is not available for {fmt} "
                                           r"artifacts: .* runs them on cpu; cuda is used by onnxruntime \(onnx\)"):
        Embedder.open(path, device="cuda")
    # Through the manifest, the format's artifacts are passed over with that reason: never run on the CPU instead.
    with pytest.raises(ModelError, match=rf"no artifact for backend='{fmt}'.*cuda is used by onnxruntime"):
        Embedder.open(manifest, backend=fmt, device="cuda")


def test_the_public_api_is_small_and_has_one_embedder():
    import petface_edge.models as models
    from petface_edge.models import EmbedderNet

    assert not hasattr(models, "Embedder") and "EmbedderNet" in models.__all__
    assert EmbedderNet.__module__ == "petface_edge.models.base" and Embedder.__module__ == "petface_edge.runtime.embedder"
    # Two entry points (Embedder, Gallery), their options and decision policy, the typed results they return
    # and the errors worth catching one by one: everything else stays in submodules.
    assert len(petface_edge.__all__) <= 24


# What ``python -m`` does (runpy, the module run as __main__), then what got imported under which name.
RUN_WORKER = """
import json, runpy, sys
sys.argv = ["worker", sys.argv[1]]
try:
    runpy.run_module("petface_edge.export.worker", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(m for m in sys.modules if m.startswith("petface_edge.export"))))
"""


@pytest.mark.parametrize("fmt", sorted(CONVERTERS))
def test_the_converter_worker_imports_each_module_once(tmp_path, fmt):
    """The worker runs as ``__main__``; nothing may import it again under its name (its body would run twice)."""
    job = {"format": fmt, "precisions": [], "image_size": 112, "output_dir": str(tmp_path),
           "work_dir": str(tmp_path), "model": {}, "result": str(tmp_path / "result.json")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", RUN_WORKER, str(tmp_path / "job.json")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.splitlines()[-1])
    assert f"petface_edge.export{CONVERTERS[fmt]}" in loaded and "petface_edge.export.context" in loaded
    assert "petface_edge.export.worker" not in loaded
    # Each of our modules loaded once (-X importtime logs every load an import statement makes; third-party
    # packages also log failed optional imports, so only ours are counted).
    ours = [name for line in run.stderr.splitlines() if line.startswith("import time:")
            for name in [line.rsplit("|", 1)[1].strip()] if name.startswith("petface_edge")]
    assert ours and len(ours) == len(set(ours)), sorted({m for m in ours if ours.count(m) > 1})
    assert json.loads((tmp_path / "result.json").read_text())["results"] == []
