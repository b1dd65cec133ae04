"""Embedder: choosing and loading artifacts, input kinds, batching, thread safety, parity across runtimes."""

import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from petface_edge import (
    BackendError,
    DecisionPolicy,
    Embedder,
    EmbedderOptions,
    Gallery,
    ModelError,
    UnsupportedTargetError,
    VerifyResult,
)
from petface_edge.data import load_splits
from petface_edge.imaging import preprocess
from petface_edge.runtime.manifest import Manifest
from petface_edge.synth import generate

FP32 = ("onnx-fp32", "tflite-fp32", "torchscript-fp32")


@pytest.fixture(scope="module")
def manifest(exported):
    return Manifest.load(exported.export)


@pytest.fixture(scope="module")
def embedder(exported):
    return Embedder.open(exported.export)


@pytest.fixture(scope="module")
def opened(exported):
    """Embedders by artifact id (or format), opened once per module: loading torch is the slow part."""
    cache = {}

    def get(backend):
        if backend not in cache:
            cache[backend] = Embedder.open(exported.export, backend=backend)
        return cache[backend]

    return get


@pytest.fixture(scope="module")
def held_out(exported):
    """Held-out photos (test split), in a fixed order."""
    return [exported.data / rel for rel, _ in sorted(load_splits(exported.splits)["test"])]


def test_export_dir_opens_the_best_shipped_artifact_and_says_which(exported, manifest, embedder):
    # Which artifact is fastest is measured on the machine (runtime/speed.py): any shipped one may win.
    expected = embedder.artifact.id
    assert embedder.artifact.shippable and manifest.artifact(expected).shippable
    assert embedder.fingerprint == manifest.fingerprint != ""
    assert embedder.input_contract == manifest.artifact(expected).input
    assert embedder.dim == manifest.model["embedding_dim"] and embedder.image_size == manifest.model["image_size"]
    text = embedder.describe()
    assert expected in text and "manifest.json" in text and manifest.fingerprint in text
    for same in (exported.export / "manifest.json", manifest):
        assert Embedder.open(same).artifact.id == expected


def test_backend_picks_a_format_or_an_exact_artifact(exported, opened):
    assert opened("tflite").artifact.id == "tflite-fp32"
    assert opened("torchscript").artifact.id == "torchscript-fp32"
    int8 = opened("tflite-int8")
    assert int8.artifact.precision == "int8" and int8.input_contract.quantization is not None
    assert int8.runtime == "litert"
    with pytest.raises(ModelError, match="unknown backend 'tpu'.*onnx-fp32"):
        Embedder.open(exported.export, backend="tpu")
    if sys.platform != "darwin":  # CoreML artifacts are built here but run only on Apple platforms
        with pytest.raises(ModelError, match="no artifact for backend='coreml' runs on this machine.*CoreML"):
            Embedder.open(exported.export, backend="coreml")


def test_a_missing_file_is_passed_over_and_a_changed_one_refused(exported, tmp_path):
    shutil.copy(exported.export / "manifest.json", tmp_path)
    tflite = Manifest.load(exported.export).artifact("tflite-fp32").path  # first choice on CPU
    onnx = Manifest.load(exported.export).artifact("onnx-fp32").path
    shutil.copy(exported.export / onnx, tmp_path)
    embedder = Embedder.open(tmp_path)  # tflite-fp32 was left out of the copy
    assert embedder.artifact.id == "onnx-fp32"
    assert "file missing" in dict(embedder.skipped)["tflite-fp32"]
    assert "skipped tflite-fp32" in embedder.describe()
    data = bytearray((exported.export / tflite).read_bytes())
    data[-10] ^= 0xFF  # one flipped byte: the manifest's status no longer describes this file
    (tmp_path / tflite).write_bytes(bytes(data))
    for ref in (tmp_path, tmp_path / "manifest.json", tmp_path / tflite):
        with pytest.raises(ModelError, match=f"{tflite}: sha256 .* differs from manifest entry 'tflite-fp32'"):
            Embedder.open(ref)


@pytest.mark.parametrize("artifact_id", FP32)
def test_a_bare_artifact_carries_its_own_contract(exported, manifest, opened, tmp_path, artifact_id, held_out):
    artifact = manifest.artifact(artifact_id)
    copy = tmp_path / artifact.path  # no manifest beside it: the contract must come from inside the file
    shutil.copy(exported.export / artifact.path, copy)
    bare = Embedder.open(copy)
    assert bare.input_contract == artifact.input and bare.output_contract == artifact.output
    assert bare.fingerprint == manifest.fingerprint
    assert bare.artifact.id == artifact_id and bare.artifact.status == "not verified"
    assert np.array_equal(bare.embed(held_out[:4]), opened(artifact_id).embed(held_out[:4]))
    assert bare.threshold is None  # thresholds live in the manifest
    with pytest.raises(UnsupportedTargetError, match="no verify calibration in its manifest"):
        bare.verify(held_out[0], held_out[1])
    assert bare.verify(held_out[0], held_out[0], threshold=0.5).same


def test_an_artifact_without_a_contract_is_refused(exported, manifest, tmp_path):
    import onnx

    model = onnx.load(str(exported.export / manifest.artifact("onnx-fp32").path))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ModelError, match="foreign.onnx: carries no petface input contract"):
        Embedder.open(tmp_path / "foreign.onnx")


def test_bad_model_paths(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"definitely not a flatbuffer" * 20)
    with pytest.raises(BackendError, match="junk.tflite: not a loadable TFLite model"):
        Embedder.open(junk)
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(BackendError, match="junk.onnx: not a loadable ONNX model"):
        Embedder.open(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="no such model file"):
        Embedder.open(tmp_path / "missing.onnx")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown model type '.bin'"):
        Embedder.open(tmp_path / "weights.bin")
    with pytest.raises(ModelError, match="no manifest.json"):
        Embedder.open(tmp_path)


def test_every_input_kind_gives_the_same_unit_vectors(embedder, held_out):
    path = held_out[0]
    pil = Image.open(path)
    arr = np.asarray(pil.convert("RGB"))
    reference = embedder.embed(path)
    assert reference.shape == (1, embedder.dim) and reference.dtype == np.float32
    assert np.allclose(np.linalg.norm(reference, axis=1), 1, atol=1e-5)
    for same in (str(path), path.read_bytes(), pil, arr, [path], arr[None]):
        assert np.array_equal(embedder.embed(same), reference)
    batch = embedder.embed(held_out[:5])
    assert batch.shape == (5, embedder.dim) and np.allclose(batch[0], reference[0], atol=1e-6)
    assert embedder.embed([]).shape == (0, embedder.dim)
    pixels = np.stack([preprocess(p, embedder.image_size) for p in held_out[:5]])
    assert np.array_equal(embedder.embed_pixels(pixels), batch)


def test_large_batches_are_split(exported, embedder, held_out):
    small = Embedder.create_from_options(EmbedderOptions(exported.export, max_batch=3))
    assert np.allclose(small.embed(held_out[:8]), embedder.embed(held_out[:8]), atol=1e-6)


def test_a_fixed_batch_artifact_is_fed_in_padded_slices(exported, manifest, tmp_path, embedder, held_out):
    import onnx

    model = onnx.load(str(exported.export / manifest.artifact("onnx-fp32").path))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 4  # batch fixed at 4, as some converters emit
    onnx.save(model, str(tmp_path / "fixed4.onnx"))
    fixed = Embedder.open(tmp_path / "fixed4.onnx")
    assert fixed.fixed_batch == 4
    got = fixed.embed(held_out[:7])  # one full slice of 4, one padded slice of 3
    assert got.shape == (7, embedder.dim)
    reference = Embedder.open(exported.export, backend="onnx-fp32")  # the same file, unpadded (the default
    assert np.allclose(got, reference.embed(held_out[:7]), atol=1e-5)  # may be an INT8 artifact)


def test_similarity_and_verify(embedder, held_out):
    a, b = held_out[0], held_out[-1]
    assert embedder.similarity(a, a) == pytest.approx(1.0, abs=1e-5)
    assert embedder.similarity(a, b) == pytest.approx(embedder.similarity(b, a), abs=1e-6)
    va, vb = embedder.embed([a, b])
    assert embedder.similarity(va, vb) == pytest.approx(float(va @ vb), abs=1e-6)
    result = embedder.verify(a, b)
    assert isinstance(result, VerifyResult)
    assert result.threshold == embedder.artifact.thresholds["verify"]["thresholds"]["1e-3"] and result.far == 1e-3
    assert result.same == (result.score >= result.threshold) and "verify FAR 1e-3" in result.threshold_source
    raw = embedder.verify(a, b, threshold=-1.0)
    assert (raw.score, raw.same, raw.threshold, raw.far) == (result.score, True, -1.0, None)
    assert embedder.verify(a, b, far=1e-2).threshold == embedder.artifact.thresholds["verify"]["thresholds"]["1e-2"]
    strict = Embedder.open(embedder.options.model, policy=DecisionPolicy(verify_far=1e-4))
    assert strict.verify(a, b).threshold == embedder.artifact.thresholds["verify"]["thresholds"]["1e-4"]
    assert strict.verify(a, b, far=1e-2).far == 1e-2  # the call beats the options
    with pytest.raises(ValueError, match="one image"):
        embedder.similarity([a, b], a)


@pytest.mark.parametrize("backend", ["onnx", "tflite"])  # re-entrant session / serialized interpreter
def test_eight_threads_give_the_same_embeddings_as_one(opened, backend, held_out):
    embedder = opened(backend)
    images = held_out[:6]
    serial = np.stack([embedder.embed(p)[0] for p in images])

    def worker(seed):  # each thread embeds every image, in its own order
        order = np.random.default_rng(seed).permutation(len(images))
        out = np.empty_like(serial)
        for i in order:
            out[i] = embedder.embed(images[i])[0]
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    for r in results:
        assert np.array_equal(r, serial)


def test_fp32_artifacts_agree_in_every_runtime(opened, tmp_path):
    """ONNX, TFLite and TorchScript-Lite FP32: the same embeddings and the same identify top-1 on unseen pets."""
    pets, photos = 100, 3
    data = generate(tmp_path / "fresh", pets, photos, 112, seed=2024)  # pets the model never saw
    folders = sorted(data.iterdir())
    pixels = np.stack([preprocess(folder / f"{i:03d}.jpg", 112) for folder in folders for i in range(photos)])
    vectors = {aid: opened(aid).embed_pixels(pixels).reshape(pets, photos, -1) for aid in FP32}
    worst = min(float(np.sum(vectors[a] * vectors[b], axis=2).min()) for i, a in enumerate(FP32) for b in FP32[i + 1:])
    top1, accuracy = {}, {}
    for aid in FP32:
        gallery = Gallery(opened(aid), search="exact")
        for folder, v in zip(folders, vectors[aid]):
            gallery.enroll_embeddings(folder.name, v[:2])
        top1[aid] = [gallery.search(v[2], top_k=1)[0].name for v in vectors[aid]]
        accuracy[aid] = np.mean([name == folder.name for name, folder in zip(top1[aid], folders)])
    print(f"\nFP32 ONNX / TFLite / TorchScript-Lite on {pets * photos} images of {pets} unseen pets: min pairwise "
          f"cosine {worst:.7f}; identify top-1 (2 enrolled photos, 1 query each): "
          + ", ".join(f"{k} {v:.1%}" for k, v in accuracy.items()))
    assert worst >= 0.9999
    assert top1["onnx-fp32"] == top1["tflite-fp32"] == top1["torchscript-fp32"]
    assert accuracy["onnx-fp32"] > 1 / pets  # better than chance (the fixture model trains for 8 epochs only)


IMPORT_CHECK = textwrap.dedent("""
    import sys
    import petface_edge
    from petface_edge import Embedder, Gallery
    import petface_edge.runtime.cli
    heavy = ("torch", "tensorflow", "coremltools", "export", "calibration", "petface_edge.train",
             "petface_edge.models", "petface_edge.evaluation", "cv2", "usearch", "ai_edge_litert", "onnx")
    print(sorted(m for m in sys.modules if m in heavy or m.startswith(tuple(h + "." for h in heavy))))
""")


def test_importing_the_sdk_pulls_in_no_heavy_framework():
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


BASE_INSTALL = textwrap.dedent("""
    import sys
    # The base install where LiteRT has no wheel (numpy, pillow, onnxruntime): make everything else unimportable.
    EXTRAS = ("torch", "tensorflow", "coremltools", "ai_edge_litert", "cv2", "usearch", "onnx", "scipy",
              "sklearn", "export", "calibration", "timm", "torchvision")

    class BaseInstallOnly:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in EXTRAS:
                raise ModuleNotFoundError(f"No module named {name!r} (base install)", name=name)
            return None

    sys.meta_path.insert(0, BaseInstallOnly())
    from petface_edge.runtime.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_the_base_install_runs_petface_embed_on_an_onnx_artifact(exported, manifest, embedder, held_out):
    onnx = exported.export / manifest.artifact("onnx-fp32").path
    run = subprocess.run([sys.executable, "-c", BASE_INSTALL, "embed", str(onnx), str(held_out[0]), "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = np.array(json.loads(run.stdout)["embeddings"][0]["embedding"], np.float32)
    assert np.allclose(got, Embedder.open(onnx).embed(held_out[0])[0], atol=1e-6)
    # The same command on the export directory also works: an ONNX artifact is chosen (which one is measured).
    run = subprocess.run([sys.executable, "-c", BASE_INSTALL, "embed", str(exported.export), str(held_out[0])],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "# onnx-" in run.stdout, run.stderr
