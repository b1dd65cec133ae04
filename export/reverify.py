"""``petface-verify EXPORT_DIR``: re-run the parity check of an existing export and update its statuses.

Nothing is converted again: each artifact already in the folder is run in its runtime on the same
held-out images against the same checkpoint, and its status, parity figures and thresholds are
rewritten (manifest.json and report.md, atomically). This is how CoreML artifacts exported on
Linux ("not verifiable here") get verified on a Mac, and how an export is re-checked after a
runtime upgrade. It refuses a missing or changed checkpoint (the reference would not be the one
the artifacts were built from), and never re-blesses an artifact file that changed after export.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from petface_edge import __version__
from petface_edge.runtime.manifest import FAILED_EXPORT, FAILED_PARITY, Manifest, ManifestError, artifact_digest

from . import datasource
from .exporter import (
    DEFAULT_VERIFY_IMAGES,
    ExportError,
    build_references,
    load_model,
    log_progress,
    verify_artifact,
)
from .formats import VARIANTS
from .report import write_report
from .verify import GATES, RECALL_ALPHA, held_out_sets


def _checkpoint(manifest: Manifest, given: Optional[str | os.PathLike]) -> Path:
    recorded = manifest.model.get("checkpoint", "")
    path = Path(given) if given else Path(recorded)
    if not path.is_file():
        raise ExportError(f"checkpoint {path} is missing: the export cannot be re-verified without the weights it "
                          "was built from; pass --checkpoint PATH (its sha256 must match the manifest)")
    sha = artifact_digest(path)[1]
    if sha != manifest.fingerprint:
        raise ExportError(f"checkpoint {path} changed since the export (sha256 {sha[:12]}…, the manifest records "
                          f"{manifest.fingerprint[:12]}…): re-export it instead")
    return path


def _source(manifest: Manifest, checkpoint: Path, data: Optional[str], data_dir, splits) -> datasource.DataSource:
    if data or data_dir or splits:
        return datasource.resolve(checkpoint, data, data_dir, splits)
    recorded = manifest.verification.get("data")
    if not recorded:
        return datasource.resolve(checkpoint)
    source = datasource.DataSource.from_dict(recorded)
    if source.kind != datasource.SYNTHETIC and not (source.data_dir and source.data_dir.is_dir()
                                                    and source.splits and source.splits.is_file()):
        raise datasource.DataSourceError(
            f"the export's data ({source.data_dir}, splits {source.splits}) is not here; pass --data-dir DIR "
            "--splits SPLITS.json (the same images) to re-verify")
    return source


def reverify(export_dir: str | os.PathLike, checkpoint: Optional[str | os.PathLike] = None,
             data: Optional[str] = None, data_dir: Optional[str | os.PathLike] = None,
             splits: Optional[str | os.PathLike] = None, verify_images: Optional[int] = None,
             progress: bool = True) -> Manifest:
    """Re-verify every built artifact of ``export_dir`` in place; returns the updated manifest.

    ``verify_images`` defaults to the count the export used, so the same held-out images are drawn again.

    Raises :class:`ExportError` (before anything is written) for a missing or changed checkpoint,
    an unreadable manifest or unavailable data.
    """
    try:
        manifest = Manifest.load(export_dir)
    except ManifestError as exc:
        raise ExportError(str(exc)) from None
    ckpt = _checkpoint(manifest, checkpoint)
    model = load_model(ckpt, None)
    try:
        source = _source(manifest, ckpt, data, data_dir, splits)
        count = verify_images or int(manifest.verification.get("parity_images", DEFAULT_VERIFY_IMAGES))
        parity_set, threshold_set = held_out_sets(model.image_size, count, source.data_dir, source.splits)
    except (datasource.DataSourceError, ValueError, OSError) as exc:
        raise ExportError(str(exc)) from None
    log_progress(progress, f"data: {source.description}")
    refs = build_references(model, parity_set, threshold_set)
    gates = {v.id: v.gate for v in VARIANTS}
    for art in manifest.artifacts:
        if art.status == FAILED_EXPORT:
            continue
        path = manifest.path_of(art)
        before = art.status
        if not path.exists():
            art.status, art.error, art.parity, art.thresholds = FAILED_PARITY, f"{path}: file missing", {}, {}
        elif artifact_digest(path)[1] != art.sha256:
            art.status, art.parity, art.thresholds = FAILED_PARITY, {}, {}
            art.error = f"{path}: the file changed after export (sha256 differs from the manifest); re-export it"
        else:
            gate = art.parity.get("gate") or gates.get(art.id, "int8")
            verify_artifact(art, path, gate, refs, {"spec_check": art.parity.get("spec_check", {})})
        log_progress(progress, f"{art.id}: {before} -> {art.status}{': ' + art.error if art.error else ''}")
    manifest.verification.update({
        "data": source.to_dict(), "parity_images": len(parity_set.labels), "parity_source": parity_set.source,
        "threshold_images": len(threshold_set.labels), "threshold_source": threshold_set.source,
        "reference_thresholds": refs.reference_thresholds, "gates": GATES, "recall_alpha": RECALL_ALPHA,
        "ship": [a.id for a in manifest.artifacts if a.shippable],
        "reverified": {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "by": f"petface-edge {__version__}", "platform": platform.platform()},
    })
    manifest.save(manifest.directory / "manifest.json")
    write_report(manifest, manifest.directory / "report.md")
    return manifest
