"""From what the caller names (an artifact, an export directory, a manifest) to one loaded artifact.

The caller never states the input contract: it comes from the export manifest or,
for a bare artifact file, from the metadata petface-export embeds in it (ONNX
metadata_props, a TFLite flatbuffer Metadata entry, a TorchScript extra file,
CoreML user-defined metadata), read through the backend's ``metadata``. Given a manifest, the
best shipped artifact that actually loads on this machine is chosen, and the
artifacts passed over are reported with the reason.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from ..errors import PetfaceError
from . import speed
from .backends import SUFFIX_FORMAT, Backend, BackendError, format_of, open_backend
from .manifest import (
    NOT_VERIFIABLE,
    NOT_VERIFIED,
    Artifact,
    InputContract,
    Manifest,
    ManifestError,
    artifact_digest,
    artifact_from_dict,
)

ModelRef = Union[str, Path, Manifest]

# Static "auto" order: the most faithful precision first, then the runtime usually fastest. On CPU the
# order actually used is measured on the machine (see .speed); this one ranks the candidates, breaks
# ties within the measurement's tolerance, and stands when nothing can be measured (CUDA, CoreML).
PRECISION_ORDER = ("fp32", "fp16", "dynamic-range", "w8", "int8", "w8a8")
FORMAT_ORDER = ("coreml", "tflite", "executorch", "onnx", "torchscript") if sys.platform == "darwin" else (
    "tflite", "executorch", "onnx", "torchscript", "coreml")
CUDA_FORMAT_ORDER = ("onnx", "torchscript", "tflite", "executorch", "coreml")
# The metadata key under which petface-export stores the fingerprint of the trained weights.
FINGERPRINT_KEY = "checkpoint_sha256"


class ModelError(PetfaceError, ValueError):
    """A model reference that cannot be turned into a runnable artifact; says which and why."""


@dataclass
class LoadedArtifact:
    """One artifact loaded in its runtime, with everything needed to use it."""

    backend: Backend
    artifact: Artifact  # carries the input/output contract and thresholds
    fingerprint: str
    source: Path  # the manifest or artifact file the contract was read from
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (artifact id, why it was passed over)
    threads: int = 0  # the runtime's intra-op threads
    why: str = ""  # why this artifact and thread count (the measured choice, or what the caller asked)


def load_artifact(model: ModelRef, backend: str = "auto", threads: Optional[int] = None,
                  device: str = "cpu") -> LoadedArtifact:
    """Resolve ``model`` and load the artifact to run.

    ``backend`` is ``"auto"``, a format (``"onnx"``, ``"tflite"``, ``"torchscript"``,
    ``"coreml"``) or an artifact id from the manifest (``"tflite-int8"``).
    """
    if isinstance(model, Manifest):
        return _from_manifest(model, backend, threads, device)
    path = Path(model)
    if path.suffix.lower() in SUFFIX_FORMAT:
        return _from_artifact_file(path, backend, threads, device)
    if path.is_dir() or path.suffix.lower() == ".json":
        try:
            manifest = Manifest.load(path)
        except ManifestError as exc:
            raise ModelError(str(exc)) from None
        return _from_manifest(manifest, backend, threads, device)
    if not path.exists():
        raise ModelError(f"{path}: no such model file or export directory")
    raise ModelError(f"{path}: unknown model type '{path.suffix}'; expected {', '.join(SUFFIX_FORMAT)}, "
                     "a petface-export directory or its manifest.json")


def rank_candidates(manifest: Manifest, backend: str = "auto", device: str = "cpu") -> list[Artifact]:
    """Artifacts of ``manifest`` that ``backend`` allows, best first for ``device``.

    ``"auto"``: the shipped (verification passed) artifacts; a format: its passed or
    not-verifiable-here artifacts; an artifact id: that artifact, whatever its status.
    """
    formats = CUDA_FORMAT_ORDER if device == "cuda" else FORMAT_ORDER

    def order(a: Artifact) -> tuple:
        fmt = formats.index(a.format) if a.format in formats else len(formats)
        prec = PRECISION_ORDER.index(a.precision) if a.precision in PRECISION_ORDER else len(PRECISION_ORDER)
        return (not a.shippable, prec, fmt, a.id)

    ids = [a.id for a in manifest.artifacts]
    if backend == "auto":
        chosen = [a for a in manifest.artifacts if a.shippable]
    elif backend in ids:
        chosen = [manifest.artifact(backend)]
    elif backend in FORMAT_ORDER:
        chosen = [a for a in manifest.artifacts if a.format == backend and (a.shippable or a.status == NOT_VERIFIABLE)]
    else:
        raise ModelError(f"unknown backend {backend!r}: use 'auto', a format ({', '.join(FORMAT_ORDER)}) "
                         f"or an artifact id ({', '.join(ids) or 'none in manifest'})")
    return sorted(chosen, key=order)


def _from_manifest(manifest: Manifest, backend: str, threads: Optional[int], device: str) -> LoadedArtifact:
    where = manifest.directory / "manifest.json"
    candidates = rank_candidates(manifest, backend, device)
    if not candidates:
        statuses = ", ".join(f"{a.id}: {a.status}" for a in manifest.artifacts) or "no artifacts"
        raise ModelError(f"{where}: no usable artifact for backend={backend!r} ({statuses})")
    skipped: list[tuple[str, str]] = []
    intact = []
    for artifact in candidates:  # before anything is measured or run
        path = manifest.path_of(artifact)
        if not path.exists():  # an artifact left out of a copy: the next one may be there
            skipped.append((artifact.id, f"{path}: file missing"))
            continue
        check_integrity(path, artifact)  # a changed file is refused outright, never passed over quietly
        intact.append(artifact)
    # "auto" on the CPU: the pair measured fastest on this machine (.speed); otherwise the static order.
    choice = speed.choose(manifest, intact, threads) if backend == "auto" and device == "cpu" else None
    count = threads or speed.machine_threads()
    pairs = choice.pairs if choice else [(a.id, count) for a in intact]
    by_id = {a.id: a for a in intact}
    why = choice.why if choice else (f"backend={backend!r} as asked" if backend != "auto" else
                                     f"static order (nothing measured on {device})")
    tried: set[str] = set()
    for aid, count in pairs:  # an artifact named by id is used whatever its status (describe() shows it)
        if aid in tried:
            continue
        tried.add(aid)
        artifact = by_id[aid]
        if artifact.input is None or artifact.output is None:
            skipped.append((artifact.id, "manifest entry has no input/output contract"))
            continue
        path = manifest.path_of(artifact)
        try:
            loaded = open_backend(path, threads=count, device=device)
        except ModuleNotFoundError as exc:
            skipped.append((artifact.id, f"its runtime is not installed (no module '{exc.name}')"))
            continue
        except BackendError as exc:
            skipped.append((artifact.id, str(exc)))
            continue
        problem = _shape_problem(loaded, artifact.input, path)
        if problem:
            loaded.close()
            skipped.append((artifact.id, problem))
            continue
        return LoadedArtifact(loaded, artifact, _fingerprint(loaded, path, manifest), where, skipped, count, why)
    reasons = "; ".join(f"{aid}: {why}" for aid, why in skipped)
    raise ModelError(f"{where}: no artifact for backend={backend!r} runs on this machine ({reasons})")


def _from_artifact_file(path: Path, backend: str, threads: Optional[int], device: str) -> LoadedArtifact:
    fmt = format_of(path)
    if backend not in ("auto", fmt) and not backend.startswith(f"{fmt}-"):
        raise ModelError(f"{path}: a {fmt} artifact cannot run with backend={backend!r}")
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    entry = _manifest_entry_for(path)
    if entry is not None:
        check_integrity(path, entry[1])
    count = threads or speed.machine_threads()
    loaded = open_backend(path, threads=count, device=device)
    try:
        if entry is not None:
            manifest, artifact = entry
            fingerprint = _fingerprint(loaded, path, manifest)
            source = manifest.directory / "manifest.json"
        else:
            artifact = _artifact_from_metadata(path, fmt, loaded.metadata)
            fingerprint = _fingerprint(loaded, path, None)
            source = path
        problem = _shape_problem(loaded, artifact.input, path)
        if problem:
            raise ModelError(problem)
    except BaseException:
        loaded.close()
        raise
    return LoadedArtifact(loaded, artifact, fingerprint, source, threads=count, why="the file named")


def _manifest_entry_for(path: Path) -> Optional[tuple[Manifest, Artifact]]:
    """The entry of the export manifest beside ``path`` that describes this very file, if any."""
    manifest_path = path.parent / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = Manifest.load(manifest_path)
    except ManifestError:
        return None  # a foreign or broken manifest: fall back to the artifact's own metadata
    for artifact in manifest.artifacts:
        if manifest.path_of(artifact).resolve() == path.resolve() and artifact.input and artifact.output:
            return manifest, artifact
    return None


def _json_field(meta: dict, key: str, path: Path) -> dict:
    value = meta.get(key)
    try:
        value = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: embedded '{key}' is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ModelError(
            f"{path}: carries no petface {key.replace('_', ' ')} (no embedded metadata and no manifest.json "
            "beside it); open the petface-export output directory instead"
        )
    return value


def _artifact_from_metadata(path: Path, fmt: str, meta: dict) -> Artifact:
    """The artifact entry rebuilt from the metadata petface-export embeds (export/worker.py ``metadata``)."""
    precision = str(meta.get("precision", "unknown"))
    entry = {"id": f"{fmt}-{precision}", "format": fmt, "precision": precision, "path": path.name,
             "status": NOT_VERIFIED, "input": _json_field(meta, "input_contract", path),
             "output": _json_field(meta, "output_contract", path)}
    try:
        return artifact_from_dict(entry)
    except TypeError as exc:
        raise ModelError(f"{path}: embedded input/output contract is malformed ({exc})") from None


def check_integrity(path: Path, artifact: Artifact) -> None:
    """Refuse a file that is not the one its manifest entry describes (its status would be a lie about it)."""
    if not artifact.sha256:
        raise ModelError(f"{path}: manifest entry '{artifact.id}' records no sha256, so the file cannot be checked")
    size, sha = artifact_digest(path)
    if sha != artifact.sha256:
        raise ModelError(f"{path}: sha256 {sha[:12]}… differs from manifest entry '{artifact.id}' "
                         f"({artifact.sha256[:12]}…, {artifact.bytes:,} bytes; the file has {size:,}): "
                         "the file changed after export")


def _fingerprint(loaded: Backend, path: Path, manifest: Optional[Manifest]) -> str:
    """The file's own embedded fingerprint, cross-checked against the manifest's.

    Galleries are bound to it, so it must describe the weights that actually run: a file built from other
    weights is refused. A file without one (a foreign model) borrows the manifest's only once its sha256
    has matched the manifest entry; a bare foreign file has none.
    """
    own = str(loaded.metadata.get(FINGERPRINT_KEY, ""))
    recorded = manifest.fingerprint if manifest is not None else ""
    if own and recorded and own != recorded:
        raise ModelError(f"{path}: embedded fingerprint {own[:12]}… differs from the manifest's {recorded[:12]}… "
                         "(built from other weights)")
    return own or recorded


def _shape_problem(backend: Backend, contract: InputContract, path: Path) -> str:
    """Why the artifact's declared input disagrees with the contract it was shipped with (empty if it agrees)."""
    shape = tuple(backend.input_shape)
    if len(shape) == 4:
        dims = (shape[1], shape[2], shape[3]) if contract.layout == "NCHW" else (shape[3], shape[1], shape[2])
        if all(not isinstance(d, int) or d == e for d, e in zip(dims, (3, contract.size, contract.size))):
            return ""
    return (f"{path}: declares input shape {list(shape)}, but its contract says {contract.layout} "
            f"{contract.size}x{contract.size} RGB")
