"""``Gallery``: enrolled pets, identify and verify against them, saved to a versioned file.

Each enrolled image is kept as its own template; a pet's score for a query is the
maximum cosine over its templates (robust to one bad enrollment photo, unlike a mean).
Matches are ranked by score, ties by name. ``identify`` decides by the identify policy
(:mod:`.decisions`): ``accepted`` means ``score >= threshold`` with the threshold calibrated
for the target FPIR (default 1e-2) at the gallery's current template count, so it rises as
the gallery grows; the result states that operating point. ``verify`` uses the verify policy
(default FAR 1e-3). A gallery is bound to the fingerprint of the model that made its
templates. File format: :mod:`.gallery_file`.

    >>> with Gallery(embedder) as gallery:
    ...     gallery.enroll("Luna", ["luna1.jpg", "luna2.jpg"])
    ...     result = gallery.identify("who.jpg")   # [Match(name='Luna', score=0.83, accepted=True), ...]
    ...     result.best, result.operating_point     # 'Luna' (or None: nobody enrolled), FPIR 1e-2 at 2 templates
    ...     gallery.save("pets.gallery")
    >>> Gallery.load("pets.gallery", embedder)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union, overload

import numpy as np

from ..errors import InvalidArgumentError, NotFoundError
from ..imaging import ImageLike
from .artifacts import ModelError
from .detect import Box
from .closing import Closeable
from .decisions import IDENTIFY, VERIFY, DecisionPolicy, OperatingPoint, resolve
from .embedder import Embedder, Images, VerifyResult, verify_result
from .gallery_file import GalleryData, GalleryError, SavedIndex, read_gallery, write_gallery
from .search import INDEX_MIN_TEMPLATES, TemplateIndex, build_partition, rank

SEARCH_MODES = ("auto", "exact", "approximate")


@dataclass(frozen=True)
class Match:
    """One enrolled pet ranked against a query."""

    name: str
    score: float  # max cosine over the pet's templates
    accepted: bool  # score >= threshold


@dataclass(frozen=True, eq=True)
class Identification(Sequence):
    """The ranked matches of one query (a sequence of :class:`Match`, best first) and the rule that judged them.

    ``operating_point``: the identify policy's target FPIR, threshold and gallery template count.
    """

    matches: tuple[Match, ...]
    operating_point: OperatingPoint

    @overload
    def __getitem__(self, i: int) -> Match: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Match, ...]: ...

    def __getitem__(self, i):
        return self.matches[i]

    def __len__(self) -> int:
        return len(self.matches)

    @property
    def best(self) -> Optional[str]:
        """The accepted top match's name, or None when the query is nobody enrolled."""
        return self.matches[0].name if self.matches and self.matches[0].accepted else None


@dataclass(frozen=True)
class FaceMatches:
    """Matches for one face found by the detector (``box``: its square crop in the upright image)."""

    box: Box
    matches: Identification


class Gallery(Closeable):
    """Enrolled pets for one model. Thread-safe; templates stored per image.

    ``search``: ``"exact"`` (every template scored), ``"approximate"`` (the k-means list index of
    :mod:`.search`: the nearest lists' templates are ranked by sign codes, then the candidate pets
    rescored exactly) or
    ``"auto"`` (the index from ``ann_min_templates`` templates on, the crossover measured by
    ``pytest benchmarks``). The index is built as pets are enrolled, by the enrolling call and
    outside the lock (queries meanwhile search the old layout), and saved in the gallery file.

    ``policy``: target rates or raw thresholds for this gallery's decisions; settings it leaves
    None fall back to the embedder's options, then to the calibrated defaults.

    ``close()`` (or leaving a ``with`` block) frees the templates and the index; using the gallery
    afterwards raises :class:`ClosedError`. The embedder belongs to the caller and stays open.
    """

    _reopen_hint = "load it again to use it"

    def __init__(self, embedder: Embedder, search: str = "auto", ann_min_templates: int = INDEX_MIN_TEMPLATES,
                 policy: DecisionPolicy = DecisionPolicy()) -> None:
        if not embedder.fingerprint:
            raise ModelError(f"{embedder.model_path}: the model carries no fingerprint, so a gallery cannot be "
                             "bound to it; use an artifact from petface-export")
        self._init(embedder.fingerprint, embedder.dim, embedder, search, ann_min_templates, policy)
        self.artifact = embedder.artifact.id

    def _init(self, fingerprint: str, dim: int, embedder: Optional[Embedder], search: str,
              ann_min_templates: int, policy: DecisionPolicy) -> None:
        if search not in SEARCH_MODES:
            raise InvalidArgumentError(f"search must be one of {', '.join(SEARCH_MODES)}, got {search!r}")
        self.policy = policy
        self.fingerprint = fingerprint
        self.dim = dim
        self.embedder = embedder
        self.search_mode = search
        self.ann_min_templates = ann_min_templates
        self.artifact = ""
        self.created = ""
        # Each pet's template ids, pets in enrollment order. A loaded pet's ids are a range (48 bytes, not a
        # 180-byte array: 26 MB less for a 200k-pet gallery); enrolling more makes them an array.
        self._tids: dict[str, Union[np.ndarray, range]] = {}
        self._pet_id: dict[str, int] = {}
        self._pet_names: list[Optional[str]] = []  # pet id -> name (None once removed)
        self._index = TemplateIndex(dim)
        self._lock = threading.RLock()
        self._building = threading.Lock()  # one partition build at a time, never under self._lock

    def _release(self) -> None:
        self._index = TemplateIndex(self.dim)
        self._tids, self._pet_id, self._pet_names = {}, {}, []

    # -- contents ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Enrolled pet names, sorted."""
        with self._lock:
            self._require_open()
            return sorted(self._tids)

    def template_count(self, name: str) -> int:
        with self._lock:
            return len(self._templates_of(name))

    def templates(self, name: str) -> np.ndarray:
        """A copy of ``name``'s (k, dim) templates."""
        with self._lock:
            return self._templates_of(name).copy()

    @property
    def approximate(self) -> bool:
        """Whether searches go through the list index (depends on ``search`` and the gallery size)."""
        with self._lock:
            return self._use_index()

    def __len__(self) -> int:
        return len(self._tids)

    def __contains__(self, name: object) -> bool:
        return name in self._tids

    def __repr__(self) -> str:
        if self._closed:
            return f"Gallery(closed, fingerprint={self.fingerprint[:12]!r})"
        return f"Gallery({len(self)} pets, {self._index.live} templates, fingerprint={self.fingerprint[:12]!r})"

    # -- changes -----------------------------------------------------------------------------

    def enroll(self, name: str, images: Images) -> int:
        """Embed ``images`` (one or several photos of one pet) and add them as ``name``'s templates.

        Enrolling an existing name adds templates to it. Returns the pet's template count.
        """
        return self.enroll_embeddings(name, self._require_embedder().embed(images))

    def enroll_embeddings(self, name: str, embeddings: np.ndarray) -> int:
        """Add precomputed embeddings (from this gallery's model) as ``name``'s templates."""
        name = _check_name(name)
        vectors = self._unit_rows(embeddings)
        if len(vectors) == 0:
            raise InvalidArgumentError(f"enroll {name!r}: no images given")
        return self._add(name, vectors)

    def remove(self, name: str) -> None:
        with self._lock:
            self._templates_of(name)
            self._index.remove(self._tids.pop(name))
            self._pet_names[self._pet_id.pop(name)] = None

    def rename(self, old: str, new: str) -> None:
        new = _check_name(new)
        with self._lock:
            self._templates_of(old)
            if new == old:
                return
            if new in self._tids:
                raise InvalidArgumentError(f"cannot rename {old!r} to {new!r}: {new!r} is already enrolled")
            self._tids = {(new if n == old else n): t for n, t in self._tids.items()}
            self._pet_id[new] = self._pet_id.pop(old)
            self._pet_names[self._pet_id[new]] = new

    # -- queries -----------------------------------------------------------------------------

    def identify(self, image: ImageLike, top_k: int = 5, threshold: Optional[float] = None,
                 fpir: Optional[float] = None) -> Identification:
        """The ``top_k`` enrolled pets most like the face in ``image``, best first, judged by the identify policy.

        ``threshold`` (raw cosine) or ``fpir`` (target rate) override the gallery's and embedder's policy.
        """
        return self.search(self._query_vector(image), top_k, threshold, fpir)

    def identify_faces(self, image: ImageLike, detect: str = "cat", top_k: int = 5,
                       threshold: Optional[float] = None, fpir: Optional[float] = None) -> list[FaceMatches]:
        """Detect faces in a full photo, identify each; an empty list means no face was found."""
        faces = self._require_embedder().embed_faces(image, detect)
        return [FaceMatches(f.box, self.search(f.embedding, top_k, threshold, fpir)) for f in faces]

    def search(self, embedding: np.ndarray, top_k: int = 5, threshold: Optional[float] = None,
               fpir: Optional[float] = None) -> Identification:
        """:meth:`identify` for a precomputed query embedding."""
        if top_k < 1:
            raise InvalidArgumentError(f"top_k must be at least 1, got {top_k}")
        query = self._unit_rows(embedding)
        if len(query) != 1:
            raise InvalidArgumentError(f"search takes one query embedding, got {len(query)}")
        with self._lock:
            point = self.identify_point(threshold, fpir)
            names, scores = self._score(query[0], top_k)
        matches = tuple(Match(name, score, score >= point.threshold) for name, score in rank(names, scores, top_k))
        return Identification(matches, point)

    def identify_point(self, threshold: Optional[float] = None, fpir: Optional[float] = None) -> OperatingPoint:
        """The identify operating point at the gallery's current template count (it moves as the gallery grows)."""
        with self._lock:
            self._require_open()
            return self._point(IDENTIFY, threshold, fpir, self._index.live)

    def verify(self, name: str, image: Union[ImageLike, np.ndarray], threshold: Optional[float] = None,
               far: Optional[float] = None) -> VerifyResult:
        """Is the face in ``image`` (or an embedding) the enrolled pet ``name``? By the verify policy.

        Score: max over the pet's templates.
        """
        point = self._point(VERIFY, threshold, far)
        query = self._query_vector(image)
        with self._lock:
            score = float(np.max(self._templates_of(name) @ query))
        return verify_result(score, point)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Union[str, Path]) -> Path:
        """Write the gallery atomically (see :mod:`petface_edge.runtime.gallery_file` for the format)."""
        with self._lock:
            self._require_open()
            index = self._index
            saved = None
            if index.centroids is not None:
                order = np.concatenate(list(self._tids.values())) if self._tids else np.zeros(0, np.int64)
                saved = SavedIndex(index.centroids, index.list_of(order), index.trained_at)
            data = GalleryData(self.fingerprint, self.dim, _PetRows(index, self._tids), self.artifact, self.created,
                               index=saved, counts=[len(t) for t in self._tids.values()])
            written = write_gallery(path, data)
        return written

    @classmethod
    def load(cls, path: Union[str, Path], embedder: Optional[Embedder] = None, search: str = "auto",
             ann_min_templates: int = INDEX_MIN_TEMPLATES, policy: DecisionPolicy = DecisionPolicy()) -> "Gallery":
        """Read a gallery file; with ``embedder``, refuse one made by a different model.

        Without an embedder the gallery can be listed, edited, saved and searched with embeddings
        (decisions then need a raw threshold: there is no calibration without the model).
        """
        data = read_gallery(path)
        if embedder is not None:
            if embedder.fingerprint != data.fingerprint:
                raise GalleryError(
                    f"{path}: enrolled with model {data.fingerprint[:12] or 'unknown'}, but {embedder.model_path.name} "
                    f"is model {embedder.fingerprint[:12] or 'unknown'}; embeddings of different models are not "
                    "comparable: re-enroll the pets with this model"
                )
            if embedder.dim != data.dim:
                raise GalleryError(f"{path}: holds {data.dim}-d templates, the model gives {embedder.dim}-d")
        gallery = cls.__new__(cls)
        gallery._init(data.fingerprint, data.dim, embedder, search, ann_min_templates, policy)
        gallery.artifact, gallery.created = data.artifact, data.created
        names, counts, saved = list(data.pets), np.asarray(data.counts, dtype=np.int64), data.index
        templates = data.templates  # as written: no re-normalization, so save/load is exact
        del data  # the index below holds the only copy of the templates
        start = np.concatenate([[0], np.cumsum(counts)]).tolist()
        for pet, name in enumerate(names):
            gallery._tids[name] = range(start[pet], start[pet + 1])
            gallery._pet_id[name] = pet
        gallery._pet_names = list(names)
        pets = np.repeat(np.arange(len(names), dtype=np.int32), counts)
        if saved is None:
            gallery._index = TemplateIndex.restore(templates, pets)
        else:
            gallery._index = TemplateIndex.restore(templates, pets, saved.centroids, saved.lists, saved.trained_at)
        del templates
        gallery._build_index()  # a file without an index (or past the retrain size) gets one now
        return gallery

    # -- internals ---------------------------------------------------------------------------

    def _add(self, name: str, vectors: np.ndarray) -> int:
        with self._lock:
            self._require_open()
            if name not in self._pet_id:
                self._pet_id[name] = len(self._pet_names)
                self._pet_names.append(name)
                self._tids[name] = np.zeros(0, np.int64)
            tids = self._index.add(self._pet_id[name], vectors)
            self._tids[name] = np.concatenate([np.asarray(self._tids[name], np.int64), tids])
            count = len(self._tids[name])
        self._build_index()
        return count

    def _build_index(self) -> None:
        """(Re)build the list index when due, outside the lock: searches meanwhile use the current layout."""
        if self.search_mode == "exact" or not self._building.acquire(blocking=False):
            return
        try:
            with self._lock:
                if self._closed or not self._index.wants_partition(self._partition_from()):
                    return
                index, snap = self._index, self._index.snapshot()
            centroids, layout = build_partition(snap, index.signs)
            with self._lock:
                if not self._closed and self._index is index:
                    index.adopt(snap, centroids, layout)
        finally:
            self._building.release()

    def _partition_from(self) -> int:
        return 2 if self.search_mode == "approximate" else self.ann_min_templates

    def _templates_of(self, name: str) -> np.ndarray:
        self._require_open()
        if name not in self._tids:
            raise NotFoundError(f"no pet named {name!r} in the gallery")
        return self._index.vectors(self._tids[name])

    def _require_embedder(self) -> Embedder:
        self._require_open()
        if self.embedder is None:
            raise ModelError("this gallery was loaded without a model; pass an embedder to Gallery.load "
                             "to embed images")
        return self.embedder

    def _point(self, policy: str, threshold: Optional[float], rate: Optional[float],
               templates: Optional[int] = None) -> OperatingPoint:
        """Resolve by precedence: the call, this gallery's policy, the embedder's options, the calibrated default."""
        levels = [(threshold, rate, "call"), self.policy.level(policy, "gallery policy")]
        if self.embedder is None:
            return resolve(policy, levels, None, self.artifact or "this gallery", templates)
        levels.append(self.embedder.options.policy.level(policy, "embedder options"))
        artifact = self.embedder.artifact
        return resolve(policy, levels, artifact.thresholds, artifact.id, templates)

    def _query_vector(self, image: Union[ImageLike, np.ndarray]) -> np.ndarray:
        if isinstance(image, np.ndarray) and image.ndim == 1:
            return self._unit_rows(image)[0]
        vectors = self._require_embedder().embed(image)
        if len(vectors) != 1:
            raise InvalidArgumentError(f"expected one query image, got {len(vectors)}")
        return vectors[0]

    def _unit_rows(self, embeddings: np.ndarray) -> np.ndarray:
        v = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise InvalidArgumentError(f"embeddings must have {self.dim} dimensions, got shape {np.shape(embeddings)}")
        if not np.isfinite(v).all():
            raise InvalidArgumentError("embeddings contain NaN or infinity")
        return np.ascontiguousarray(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))

    def _use_index(self) -> bool:
        return self.search_mode != "exact" and self._index.centroids is not None

    def _score(self, query: np.ndarray, top_k: int) -> tuple[list[str], np.ndarray]:
        """The candidate pets (all that can rank in the top ``top_k``) and their exact scores."""
        self._require_open()
        pets = self._index.candidates(query, top_k, self._use_index())
        names = [self._pet_names[p] for p in pets.tolist()]
        groups = [self._tids[n] for n in names]
        if not groups:
            return [], np.zeros(0, np.float32)
        scores = self._index.vectors(np.concatenate(groups)) @ query  # every template of each candidate
        starts = np.concatenate([[0], np.cumsum([len(g) for g in groups])[:-1]])
        return names, np.maximum.reduceat(scores, starts)


class _PetRows(Mapping):
    """Pet name -> its templates, gathered from the index only when the writer reaches that pet."""

    def __init__(self, index: TemplateIndex, tids: dict[str, Union[np.ndarray, range]]) -> None:
        self._index, self._tids = index, tids

    def __getitem__(self, name: str) -> np.ndarray:
        return self._index.vectors(self._tids[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._tids)

    def __len__(self) -> int:
        return len(self._tids)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"pet name must be a non-empty string, got {name!r}")
    if any(ord(c) < 32 for c in name):
        raise InvalidArgumentError(f"pet name must not contain control characters, got {name!r}")
    return name.strip()
