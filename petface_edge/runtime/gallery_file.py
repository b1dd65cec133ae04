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

Optionally, the search index of a large gallery (:mod:`.search`), saved under the same atomic
write so loading never rebuilds it: ``gallery.json`` then carries
``"index": {"kind": "kmeans-lists", "lists": K, "trained_at": N}`` and two more members,
``centroids.npy`` (float32 ``(K, dim)``) and ``lists.npy`` (int32 ``(M,)``, the list of each
template in file order). Readers that do not know the index ignore both (the Android and iOS
cores do), and a file without it is searched exactly or indexed on load.

A pet's score for a query is the maximum cosine over its templates. Embeddings of two
different models are not comparable, so a gallery opened with a model whose fingerprint
differs is refused. Saving writes a temporary file beside the target and renames it over
the old one: a crash mid-save leaves the previous gallery intact.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from ..atomic import atomic_write
from ..errors import PetfaceError

SCHEMA = "petface-gallery"
SCHEMA_VERSION = 1
META_MEMBER = "gallery.json"
TEMPLATES_MEMBER = "templates.npy"
CENTROIDS_MEMBER = "centroids.npy"
LISTS_MEMBER = "lists.npy"
INDEX_KIND = "kmeans-lists"
_BLOCK_ROWS = 65_536  # templates written and validated per block: no full-size temporaries at 1M


class GalleryError(PetfaceError, ValueError):
    """A gallery file that is missing, corrupt, from a newer version, or from another model."""


@dataclass
class SavedIndex:
    """The partition of :mod:`.search` as saved: centroids and each template's list, in file order."""

    centroids: np.ndarray
    lists: np.ndarray
    trained_at: int


@dataclass
class GalleryData:
    """What a gallery file holds: pets in order, each with its (k, dim) templates.

    ``counts`` (each pet's template count, in order) spares the writer from reading ``pets``
    twice; ``templates`` is the whole (M, dim) matrix the pets' arrays are views of, when read.
    """

    fingerprint: str
    dim: int
    pets: Mapping[str, np.ndarray]
    artifact: str = ""
    created: str = ""
    index: SavedIndex | None = None
    counts: Sequence[int] | None = None
    templates: np.ndarray | None = None


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_gallery(path: str | Path, data: GalleryData) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename).

    Templates are streamed pet by pet, so saving a 1M-template gallery needs no second copy of them.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise GalleryError(f"{path}: folder {path.parent} does not exist")
    counts = list(data.counts) if data.counts is not None else [len(t) for t in data.pets.values()]
    meta = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "fingerprint": data.fingerprint,
        "dim": data.dim,
        "artifact": data.artifact,
        "created": data.created or now(),
        "updated": now(),
        "pets": [{"name": name, "templates": count} for name, count in zip(data.pets, counts)],
    }
    if data.index is not None:
        meta["index"] = {"kind": INDEX_KIND, "lists": len(data.index.centroids), "trained_at": data.index.trained_at}
    header = {"descr": "<f4", "fortran_order": False, "shape": (sum(counts), data.dim)}
    try:
        with atomic_write(path) as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as archive:
                archive.writestr(META_MEMBER, json.dumps(meta, indent=1, ensure_ascii=False))
                with archive.open(TEMPLATES_MEMBER, "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    _write_templates(member, data.pets.values())
                if data.index is not None:
                    for name, array in ((CENTROIDS_MEMBER, data.index.centroids.astype("<f4")),
                                        (LISTS_MEMBER, data.index.lists.astype("<i4"))):
                        with archive.open(name, "w", force_zip64=True) as member:
                            np.lib.format.write_array(member, array, allow_pickle=False)
    except OSError as exc:  # the old file, if any, is untouched
        raise GalleryError(f"{path}: cannot write the gallery ({exc.strerror or exc})") from None
    return path


def _write_templates(member: IO[bytes], pets: Iterable[np.ndarray]) -> None:
    """The templates' bytes, pet after pet, gathered into blocks of about ``_BLOCK_ROWS`` rows."""
    block: list[np.ndarray] = []
    rows = 0
    for templates in pets:
        block.append(np.asarray(templates, "<f4"))
        rows += len(templates)
        if rows >= _BLOCK_ROWS:
            member.write(np.concatenate(block).tobytes())
            block, rows = [], 0
    if block:
        member.write(np.concatenate(block).tobytes())


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
            with archive.open(TEMPLATES_MEMBER) as member:  # streamed into one array (zip CRC checked at its end)
                templates = np.lib.format.read_array(member, allow_pickle=False)
            index = _read_index(path, archive, meta, members)
    except GalleryError:
        raise
    except zipfile.BadZipFile as exc:
        raise GalleryError(f"{path}: not a petface gallery or corrupt ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GalleryError(f"{path}: corrupt gallery ({META_MEMBER} is not valid JSON: {exc})") from None
    except (ValueError, OSError, EOFError) as exc:
        raise GalleryError(f"{path}: corrupt gallery ({TEMPLATES_MEMBER} unreadable: {exc})") from None
    return _unpack(path, meta, templates, index)


def _check_meta(path: Path, meta: object) -> None:
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise GalleryError(f"{path}: not a petface gallery (expected schema '{SCHEMA}')")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise GalleryError(f"{path}: corrupt gallery (schema_version {version!r})")
    if version > SCHEMA_VERSION:
        raise GalleryError(f"{path}: gallery schema version {version} is newer than this petface-edge reads "
                           f"({SCHEMA_VERSION}); upgrade petface-edge")


def _read_index(path: Path, archive: zipfile.ZipFile, meta: dict, members: set[str]) -> SavedIndex | None:
    """The saved partition, or None when the file has none; a damaged one is an error, never ignored."""
    info = meta.get("index")
    if info is None:
        return None
    if not isinstance(info, dict) or info.get("kind") != INDEX_KIND or not {CENTROIDS_MEMBER, LISTS_MEMBER} <= members:
        raise GalleryError(f"{path}: corrupt gallery (search index {info!r} or its members missing)")
    try:
        with archive.open(CENTROIDS_MEMBER) as member:
            centroids = np.lib.format.read_array(member, allow_pickle=False)
        with archive.open(LISTS_MEMBER) as member:
            lists = np.lib.format.read_array(member, allow_pickle=False)
        return SavedIndex(centroids, lists, int(info.get("trained_at", 0)))
    except (ValueError, OSError, EOFError, TypeError) as exc:
        raise GalleryError(f"{path}: corrupt gallery (search index unreadable: {exc})") from None


def _unpack(path: Path, meta: dict, templates: np.ndarray, index: SavedIndex | None) -> GalleryData:
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
    for start in range(0, total, _BLOCK_ROWS):
        block = templates[start:start + _BLOCK_ROWS]
        if not np.isfinite(block).all() or np.any(np.abs(np.einsum("ij,ij->i", block, block) - 1) > 2e-3):
            raise GalleryError(f"{path}: corrupt gallery (templates are not finite unit vectors)")
    if len({name for name, _ in pets}) != len(pets) or any(count < 1 for _, count in pets):
        raise GalleryError(f"{path}: corrupt gallery (duplicate pet names or pets without templates)")
    if index is not None:
        _check_index(path, index, templates)
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, count in pets:
        out[name] = templates[start:start + count]  # views: the matrix is read once
        start += count
    return GalleryData(fingerprint, dim, out, artifact=str(meta.get("artifact", "")),
                       created=str(meta.get("created", "")), index=index, counts=[c for _, c in pets],
                       templates=templates)


def _check_index(path: Path, index: SavedIndex, templates: np.ndarray) -> None:
    """Shapes, ranges, and a sample of templates really sitting in their nearest list."""
    c, lists = index.centroids, index.lists
    if (c.dtype != np.float32 or c.ndim != 2 or c.shape[1] != templates.shape[1] or len(c) == 0
            or not np.isfinite(c).all() or lists.dtype != np.int32 or lists.shape != (len(templates),)
            or (len(lists) and (lists.min() < 0 or lists.max() >= len(c)))):
        raise GalleryError(f"{path}: corrupt gallery (search index does not fit its templates)")
    sample = np.random.default_rng(0).choice(len(templates), min(len(templates), 256), replace=False)
    scores = templates[sample] @ c.T
    if np.any(scores[np.arange(len(sample)), lists[sample]] < scores.max(axis=1) - 1e-5):
        raise GalleryError(f"{path}: corrupt gallery (search index does not match its templates)")
