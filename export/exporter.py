"""``export_model``: build every requested artifact in its own converter process, verify each, write the manifest.

Per format: one subprocess (``petface_edge.export.worker``) builds all its precisions; a crash or
a converter error becomes a "failed export" row and the other formats still build.
Each built artifact is then run in its real runtime through the backend layer on
held-out images and compared with the PyTorch FP32 embedder (``export.verify``);
its cosine thresholds come from the val split (``export.thresholds``).
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from petface_edge import __version__
from petface_edge.errors import PetfaceError
from petface_edge.runtime.backends import BackendError, open_backend
from petface_edge.runtime.manifest import (
    FAILED_EXPORT,
    FAILED_PARITY,
    NOT_VERIFIABLE,
    PASSED,
    Artifact,
    Manifest,
    artifact_digest,
    input_contract_from_dict,
    output_contract_from_dict,
)

from . import datasource
from .formats import Variant, available, fallback_for, select
from .report import write_report
from .thresholds import thresholds
from .verify import (
    GATES,
    RECALL_ALPHA,
    HeldOut,
    embed_pixels,
    failures,
    held_out_sets,
    nonfinite_problem,
    parity,
    reference_embeddings,
)

DEFAULT_VERIFY_IMAGES = 1000  # the whole test split of most datasets
CONVERTER_TIMEOUT_S = 1800
CALIBRATION_FILE = "calibration.zip"
PRODUCER = f"petface-edge {__version__}"


class ExportError(PetfaceError, ValueError):
    """Bad input to the exporter, found before any conversion starts; the message names what and why."""


def log_progress(progress: bool, message: str) -> None:
    if progress:
        print(f"[petface-export] {message}", file=sys.stderr, flush=True)


def load_model(checkpoint: Path, image_size: Optional[int]):
    from petface_edge.models import CheckpointError, load_embedder

    try:
        model = load_embedder(checkpoint)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    if image_size is not None and image_size != model.image_size:
        raise ExportError(f"{checkpoint}: the model was trained at {model.image_size}x{model.image_size} and its "
                          f"GDConv kernel fixes that input size; --image-size {image_size} does not match")
    return model


def _prepare_output(output_dir: Path) -> Path:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ExportError(f"{output_dir}: output directory is not writable ({exc.strerror or exc})") from None
    return output_dir


def _calibration(path: Optional[Path], output_dir: Path, image_size: int, data_dir, splits) -> dict:
    """Load or build the calibration set, check it fits the model, store it beside the artifacts."""
    from petface_edge import calibration as cal

    try:
        calib = cal.load(path) if path is not None else cal.build(image_size, data_dir, splits)
        calib.check_compatible(image_size, name=str(path or "calibration set"))
    except (cal.CalibrationError, ValueError, OSError) as exc:
        raise ExportError(str(exc)) from None
    stored = calib.save(output_dir / CALIBRATION_FILE)
    header = calib.header()
    size, sha = artifact_digest(stored)
    return {"path": CALIBRATION_FILE, "sha256": sha, "bytes": size, "count": len(calib),
            "identities": len(set(calib.labels)), "origin": header["origin"],
            "pixels_sha256": header["pixels_sha256"], "given": str(path) if path else None}


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"converter process crashed (signal {signal.Signals(-code).name})"
        except ValueError:
            return f"converter process crashed (signal {-code})"
    return f"converter process exited with status {code}"


def _last_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
    return lines[-1][:300] if lines else ""


def _run_converter(fmt: str, variants: list[Variant], job: dict, work: Path) -> tuple[dict, str, list]:
    """Run the converter worker for one format; returns (results by precision, process error, network attempts)."""
    work.mkdir(parents=True)
    job = {**job, "format": fmt, "precisions": [v.precision for v in variants], "work_dir": str(work),
           "result": str(work / "result.json")}
    (work / "job.json").write_text(json.dumps(job))
    # The same interpreter, so the same installed petface_edge: no path juggling.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    log = work / "converter.log"
    try:
        with open(log, "w") as out:
            code = subprocess.run([sys.executable, "-m", f"{__package__}.worker", str(work / "job.json")], cwd=work,
                                  env=env, stdout=out, stderr=subprocess.STDOUT, timeout=CONVERTER_TIMEOUT_S,
                                  ).returncode
    except subprocess.TimeoutExpired:
        return {}, f"converter process timed out after {CONVERTER_TIMEOUT_S} s", []
    result = work / "result.json"
    if code != 0 or not result.exists():
        detail = _last_line(log)
        return {}, _describe_exit(code) + (f": {detail}" if detail and code > 0 else ""), []
    data = json.loads(result.read_text())
    return {r["precision"]: r for r in data["results"]}, "", data["network_attempts"]


@dataclass
class References:
    """What every artifact is checked against: held-out images and the PyTorch FP32 embedder's results on them."""

    parity_set: HeldOut
    reference: np.ndarray  # PyTorch FP32 embeddings of parity_set
    threshold_set: HeldOut
    reference_thresholds: dict  # thresholds of the PyTorch FP32 embeddings of threshold_set


def build_references(model, parity_set: HeldOut, threshold_set: HeldOut) -> References:
    reference = reference_embeddings(model, parity_set.pixels)
    problem = nonfinite_problem(reference)
    if problem:
        raise ExportError(f"the PyTorch reference itself is broken: its {problem}")
    return References(parity_set, reference, threshold_set,
                      thresholds(reference_embeddings(model, threshold_set.pixels), threshold_set.labels,
                                 threshold_set.source))


def verify_artifact(art: Artifact, path: Path, gate: str, refs: References, notes: dict) -> None:
    """Run the artifact in its runtime; fill status, parity and thresholds in place.

    Isolated: any exception while verifying this artifact becomes its "failed parity" row with the
    message, so one bad artifact never costs the others their verification or the manifest.
    """
    art.parity, art.thresholds, art.error = {}, {}, ""
    try:
        _verify(art, path, gate, refs, notes)
    except Exception as exc:  # noqa: BLE001 - deliberately broad: see the docstring
        art.status = FAILED_PARITY
        art.error = f"verification raised {type(exc).__name__}: {str(exc).strip() or 'no message'}"[:500]
        art.parity = {"verified": False, "reason": art.error}
        art.thresholds = {}


def _verify(art: Artifact, path: Path, gate: str, refs: References, notes: dict) -> None:
    try:
        backend = open_backend(path)
    except BackendError as exc:
        if art.format == "coreml" and "cannot run CoreML on this OS" in str(exc):
            art.status = NOT_VERIFIABLE
            art.parity = {"verified": False, "reason": str(exc).split(": ", 1)[-1],
                          "spec_check": notes.get("spec_check", {})}
            art.thresholds = {**refs.reference_thresholds, "source": "PyTorch FP32 reference (the artifact cannot "
                              "run here): " + refs.reference_thresholds["source"]}
            return
        art.status, art.error = FAILED_PARITY, f"does not load in its runtime: {exc}"
        return
    try:
        emb = embed_pixels(backend, art.input, art.output, refs.parity_set.pixels)
        problem = nonfinite_problem(emb)
        if problem:
            art.status, art.error = FAILED_PARITY, problem
            art.parity = {"verified": True, "runtime": backend.name, "gate": gate, "gate_bounds": GATES[gate],
                          "gate_failures": [problem], "non_finite": True}
            return
        art.parity = parity(refs.reference, emb, refs.parity_set.labels)
        missed = failures(art.parity, GATES[gate])
        art.parity.update({"verified": True, "runtime": backend.name, "gate": gate, "gate_bounds": GATES[gate],
                           "gate_failures": missed})
        threshold_emb = embed_pixels(backend, art.input, art.output, refs.threshold_set.pixels)
    finally:
        backend.close()
    problem = nonfinite_problem(threshold_emb, "threshold images")
    if problem:
        missed.append(problem)
    else:
        art.thresholds = thresholds(threshold_emb, refs.threshold_set.labels, refs.threshold_set.source)
    art.status = PASSED if not missed else FAILED_PARITY
    art.error = "; ".join(missed)


def _clear_previous(output_dir: Path, variants: list[Variant]) -> None:
    """Remove an earlier export's manifest, report and the files about to be rebuilt, before any conversion.

    The new manifest and report are written (atomically) only at the end: until then the folder holds no
    manifest, so a crash or interrupt can never leave an old manifest describing new files.
    """
    for name in ("manifest.json", "report.md"):
        (output_dir / name).unlink(missing_ok=True)
    _clear_files(output_dir, variants)


def _clear_files(output_dir: Path, variants: list[Variant]) -> None:
    for v in variants:  # a stale file from an earlier export must never pass for this one
        target = output_dir / v.filename
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)


def _model_info(model, checkpoint: Path) -> dict:
    from petface_edge.models import count_macs, count_parameters

    return {"backbone": model.name, "image_size": model.image_size, "embedding_dim": model.embedding_dim,
            "checkpoint": str(checkpoint.resolve()), "checkpoint_sha256": artifact_digest(checkpoint)[1],
            "parameters": count_parameters(model), "macs": count_macs(model), "config": dict(model.config),
            "producer": PRODUCER}


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def export_model(checkpoint: str | os.PathLike, output_dir: str | os.PathLike,
                 formats: Optional[Iterable[str]] = None, fp16: bool = False, int8: bool = False,
                 image_size: Optional[int] = None, data_dir: Optional[str | os.PathLike] = None,
                 splits: Optional[str | os.PathLike] = None, verify_images: int = DEFAULT_VERIFY_IMAGES,
                 calibration: Optional[str | os.PathLike] = None, data: Optional[str] = None,
                 qat_epochs: int = 0,
                 progress: bool = True) -> Manifest:
    """Build, verify and describe the artifacts; writes ``output_dir/manifest.json`` and ``report.md``.

    Images (INT8 calibration, parity, thresholds) come from ``data_dir`` + ``splits``, else from the training
    run beside ``checkpoint``; ``data="synthetic"`` asks for procedural pets (see ``export.datasource``).

    Raises :class:`ExportError` for bad input (before any conversion). Converter failures
    do not raise: they are "failed export" rows in the returned manifest. ``qat_epochs`` > 0 fine-tunes
    with fake-quant first (``export.qat``) and builds every INT8 artifact from that (needs the dataset).
    """
    try:
        variants = select(available() if formats is None else formats, fp16, int8)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if verify_images < 2:
        raise ExportError(f"verify_images must be at least 2, got {verify_images}")
    if qat_epochs and not int8:
        raise ExportError("--qat-epochs needs --int8 (it tunes the model for INT8 conversion)")
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    model = load_model(checkpoint, image_size)
    try:
        source = datasource.resolve(checkpoint, data, data_dir, splits)
    except datasource.DataSourceError as exc:
        raise ExportError(str(exc)) from None
    if qat_epochs and (source.data_dir is None or source.splits is None):
        raise ExportError("--qat-epochs fine-tunes on the training run's train split; this export has no dataset "
                          f"({source.description})")
    size = model.image_size
    output_dir = _prepare_output(output_dir)
    calib = None
    if any(v.needs_calibration for v in variants):
        calib = _calibration(Path(calibration) if calibration else None, output_dir, size, source.data_dir,
                             source.splits)
        log_progress(progress, f"calibration: {calib['count']} images from {calib['identities']} identities "
                               f"({calib['origin']['kind']}) -> {output_dir / CALIBRATION_FILE}")
    try:
        parity_set, threshold_set = held_out_sets(size, verify_images, source.data_dir, source.splits)
    except (ValueError, OSError) as exc:
        raise ExportError(str(exc)) from None
    log_progress(progress, f"data: {source.description}")  # after every input check: errors stay one line
    refs = build_references(model, parity_set, threshold_set)
    info = _model_info(model, checkpoint)
    job = {"checkpoint": str(checkpoint.resolve()), "output_dir": str(output_dir.resolve()), "image_size": size,
           "model": info, "calibration": str((output_dir / CALIBRATION_FILE).resolve()) if calib else None}
    artifacts: list[Artifact] = []
    network: list[str] = []
    _clear_previous(output_dir, variants)  # the input checked out: from here on the old export is replaced
    qat_record = None
    with tempfile.TemporaryDirectory(prefix="petface-export-") as tmp:
        int8_job = job
        if qat_epochs:
            from . import qat

            int8_job, qat_record = qat.tuned_job(model, job, source.data_dir, source.splits, qat_epochs, output_dir,
                                                 Path(tmp), lambda m: log_progress(progress, m))

        def build(fmt: str, group: list[Variant], tag: str = "") -> list[Artifact]:
            """Convert ``group`` (INT8 variants from the QAT-tuned job), verify each, log one line."""
            _clear_files(output_dir, group)
            log_progress(progress, f"{fmt}: start{tag} ({', '.join(v.precision for v in group)})")
            start, built = time.perf_counter(), []
            for part, part_job in ((p, j) for p, j in (([v for v in group if v.gate != "int8"], job),
                                                        ([v for v in group if v.gate == "int8"], int8_job)) if p):
                work = Path(tempfile.mkdtemp(prefix=f"{fmt}-", dir=tmp)) / "work"
                results, process_error, attempts = _run_converter(fmt, part, part_job, work)
                network.extend(attempts)
                for v in part:
                    art = _artifact(v, results.get(v.precision), process_error, output_dir)
                    if v.gate == "int8":  # PTQ or QAT, and from which weights
                        art.recipe.update(quantization="qat" if qat_record else "ptq",
                                          weights=qat_record["checkpoint"] if qat_record else "the checkpoint")
                    if art.status != FAILED_EXPORT:
                        verify_artifact(art, output_dir / art.path, v.gate, refs, results[v.precision].get("notes", {}))
                    built.append(art)
            rows = [f"{a.precision} {_size(a.bytes) if a.bytes else '-'} {a.status}" for a in built]
            log_progress(progress, f"{fmt}: end{tag} in {time.perf_counter() - start:.1f} s: {', '.join(rows)}")
            return built

        for fmt, group in itertools.groupby(variants, key=lambda v: v.format):
            group = list(group)
            built = build(fmt, group)
            # Sensitivity-guided fallback: the full-integer file that missed its gate stays, failed, under its id.
            failed = {a.id for a in built if a.status == FAILED_PARITY}
            for mixed in filter(None, (fallback_for(v) for v in group if v.id in failed)):
                built += build(fmt, [mixed], " (mixed fallback)")
            artifacts += built
    manifest = Manifest(
        model=info, artifacts=artifacts,
        producer={"name": "petface-edge", "version": __version__, "python": platform.python_version(),
                  "platform": platform.platform(), "network": f"blocked in converter processes; "
                                                              f"{len(network)} connection attempts"},
        verification={"data": source.to_dict(), "parity_images": len(parity_set.labels),
                      "parity_source": parity_set.source,
                      "threshold_images": len(threshold_set.labels), "threshold_source": threshold_set.source,
                      "reference": "PyTorch FP32 embedder from the checkpoint", "gates": GATES,
                      "recall_alpha": RECALL_ALPHA,
                      "reference_thresholds": refs.reference_thresholds, "calibration": calib,
                      "ship": [a.id for a in artifacts if a.shippable], "network_attempts": network,
                      "qat": qat_record},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), directory=output_dir)
    manifest.save(output_dir / "manifest.json")
    write_report(manifest, output_dir / "report.md")
    return manifest


def _artifact(v: Variant, result: Optional[dict], process_error: str, output_dir: Path) -> Artifact:
    """The manifest row for one variant from its converter result (contract, size, hash) or its error."""
    art = Artifact(id=v.id, format=v.format, precision=v.precision, path=v.filename, status=FAILED_EXPORT)
    if result is None or not result["ok"]:
        art.error = process_error or (result or {}).get("error", "converter produced no result")
        art.export_seconds = round((result or {}).get("seconds", 0.0), 2)
        return art
    path = Path(result["path"])
    art.path = path.name if path.parent.resolve() == output_dir.resolve() else str(path)
    art.input, art.output = input_contract_from_dict(result["input"]), output_contract_from_dict(result["output"])
    art.bytes, art.sha256 = artifact_digest(path)
    art.quantized, art.tools = result["quantized"], result["tools"]
    art.export_seconds = round(result["seconds"], 2)
    art.recipe = {k: v for k, v in result.get("notes", {}).items() if k != "spec_check"}
    art.status = ""  # set by verification
    return art
