"""The gallery file: versioned, pickle-free, written atomically.

Format (``schema_version`` 1). A ZIP archive laid out like numpy's ``.npz`` (so
``numpy.load(path)["templates"]`` works) holding exactly two members, both STORED
(uncompressed, so the Kotlin and Swift ports need no inflater); ``templates.npy`` is
streamed with zip64 size fields, so galleries past 4 GiB need no other format:

``gallery.json`` (UTF-8)::

    {"schema": "petface-gallery", "schema_version": 1,
     "fingerprint": "<checkpoint sha256 of the model that made the templates>",
     "dim": 128, "artifact": "tflite-fp32", "created": "...", "updated": "...",
     "pets": [{"name": "Luna", "templates": 3}, {"name": "Milo", "templates": 2}]}

``templates.npy``: a float32 little-endian ``(M, dim)`` array (numpy ``.npy`` v1 header),
M = the sum of ``templates``; each row a unit-length embedding of one enrollment image,
rows of one pet consecutive, pets in the order of ``pets``.

A pet's score for a query is the maximum cosine over its templates. Embeddings of two
different models are not comparable, so a gallery opened with a model whose fingerprint
differs is refused. Saving writes a temporary file beside the target and renames it over
the old one: a crash mid-save leaves the previous gallery intact.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import PetfaceError

SCHEMA = "petface-gallery"
SCHEMA_VERSION = 1
META_MEMBER = "gallery.json"
TEMPLATES_MEMBER = "templates.npy"


class GalleryError(PetfaceError, ValueError):
    """A gallery file that is missing, corrupt, from a newer version, or from another model."""


@dataclass
class GalleryData:
    """What a gallery file holds: pets in order, each with its (k, dim) templates."""

    fingerprint: str
    dim: int
    pets: dict[str, np.ndarray]
    artifact: str = ""
    created: str = ""


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def write_gallery(path: str | Path, data: GalleryData) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise GalleryError(f"{path}: folder {path.parent} does not exist")
    templates = (np.concatenate(list(data.pets.values())).astype("<f4") if data.pets
                 else np.zeros((0, data.dim), "<f4"))
    meta = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "fingerprint": data.fingerprint,
        "dim": data.dim,
        "artifact": data.artifact,
        "created": data.created or now(),
        "updated": now(),
        "pets": [{"name": name, "templates": len(t)} for name, t in data.pets.items()],
    }
    try:
        with atomic_write(path) as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as archive:
                archive.writestr(META_MEMBER, json.dumps(meta, indent=1, ensure_ascii=False))
                with archive.open(TEMPLATES_MEMBER, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, templates, allow_pickle=False)
    except OSError as exc:  # the old file, if any, is untouched
        raise GalleryError(f"{path}: cannot write the gallery ({exc.strerror or exc})") from None
    return path


def read_gallery(path: str | Path) -> GalleryData:
    """Read and validate a gallery file; every failure is a :class:`GalleryError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise GalleryError(f"{path}: no such gallery file")
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            if META_MEMBER not in members:
                raise GalleryError(f"{path}: not a petface gallery (no {META_MEMBER} inside)")
            meta = json.loads(archive.read(META_MEMBER).decode("utf-8"))
            _check_meta(path, meta)
            if TEMPLATES_MEMBER not in members:
                raise GalleryError(f"{path}: corrupt gallery ({TEMPLATES_MEMBER} missing)")
            templates = np.lib.format.read_array(io.BytesIO(archive.read(TEMPLATES_MEMBER)), allow_pickle=False)
    except GalleryError:
        raise
    except zipfile.BadZipFile as exc:
        raise GalleryError(f"{path}: not a petface gallery or corrupt ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GalleryError(f"{path}: corrupt gallery ({META_MEMBER} is not valid JSON: {exc})") from None
    except (ValueError, OSError, EOFError) as exc:
        raise GalleryError(f"{path}: corrupt gallery ({TEMPLATES_MEMBER} unreadable: {exc})") from None
    return _unpack(path, meta, templates)


def _check_meta(path: Path, meta: object) -> None:
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise GalleryError(f"{path}: not a petface gallery (expected schema '{SCHEMA}')")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise GalleryError(f"{path}: corrupt gallery (schema_version {version!r})")
    if version > SCHEMA_VERSION:
        raise GalleryError(f"{path}: gallery schema version {version} is newer than this petface-edge reads "
                           f"({SCHEMA_VERSION}); upgrade petface-edge")


def _unpack(path: Path, meta: dict, templates: np.ndarray) -> GalleryData:
    try:
        dim = int(meta["dim"])
        pets = [(str(p["name"]), int(p["templates"])) for p in meta["pets"]]
        fingerprint = str(meta["fingerprint"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GalleryError(f"{path}: corrupt gallery ({META_MEMBER} lacks or mangles {exc})") from None
    total = sum(count for _, count in pets)
    if templates.dtype != np.float32 or templates.shape != (total, dim):
        raise GalleryError(f"{path}: corrupt gallery (templates are {templates.dtype} {templates.shape}, "
                           f"{META_MEMBER} says float32 ({total}, {dim}))")
    norms = np.linalg.norm(templates, axis=1)
    if not np.isfinite(templates).all() or np.any(np.abs(norms - 1) > 1e-3):
        raise GalleryError(f"{path}: corrupt gallery (templates are not finite unit vectors)")
    if len({name for name, _ in pets}) != len(pets) or any(count < 1 for _, count in pets):
        raise GalleryError(f"{path}: corrupt gallery (duplicate pet names or pets without templates)")
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, count in pets:
        out[name] = np.ascontiguousarray(templates[start:start + count], dtype=np.float32)
        start += count
    return GalleryData(fingerprint, dim, out, artifact=str(meta.get("artifact", "")),
                       created=str(meta.get("created", "")))

