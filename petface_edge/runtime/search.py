"""Gallery search: a pet's score is its best cosine over its templates; exact, or through a partition index.

Every template lives once, in one float32 matrix laid out list by list (an inverted-file
index): below ``INDEX_MIN_TEMPLATES`` there is one list and a query is one matrix-vector
product over all of it (exact). From there on the templates are partitioned by their
nearest of ``K`` k-means centroids (about ``ROWS_PER_LIST`` templates per list). A query
takes its nearest 1/4 of the lists (at least 64), ranks their templates by the Hamming
distance of ``dim``-bit sign codes (:class:`SignCodes`; 16 bytes a 128-d template: a 32x
smaller read than the floats), and rescores the nearest ``CODE_CANDIDATES``, or 1/``CODE_SHARE``
of those ranked if more (about 3,900 at 1M), exactly in float. The candidate pets are then
rescored exactly over all their templates, so a reported score never depends on the index:
the index only decides which pets are looked at.

Why this, measured on a 2-core x86 CPU with 1M 128-d templates (the benchmark's synthetic
galleries, ``pytest benchmarks/test_gallery.py --bench-mode full``, figures in the README):
scanning the lists' floats is memory-bound (12 GB/s: 1/4 of 1M templates is 9.4 ms), and
fewer lists lose recall (1/16: 0.967), while the codes of 1/4 of the lists are ranked in
about 1.3 ms and kept every exact top-1 of 1,000 queries (1/8 of 512 lists lost 2). Sign
codes over all 1M templates (no partition) also kept recall but cost 5 ms; usearch's HNSW
took 217 s to build, 7.2 ms a query, and its graph would add half the template bytes again. The partition costs 4
bytes a template (its list, saved in the gallery file), the codes 16 (rebuilt on load);
both need only numpy and are kept up to date as pets are enrolled.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# "auto" search partitions a gallery from this many templates on: the crossover measured on the benchmark's
# galleries (1,000 queries, 2-core EPYC, exact scan on one BLAS thread): indexed / exact p50 was 0.86 at 32k
# templates, 0.64 at 64k, 0.45 at 100k and 0.20 at 262k, with every exact top-1 kept (README).
INDEX_MIN_TEMPLATES = 65_536
ROWS_PER_LIST = 1024  # k-means lists target this many templates when (re)trained
MAX_LISTS = 4096
PROBE_DIVISOR = 4  # a query ranks the codes of the nearest 1/4 of the lists ...
MIN_PROBES = 64  # ... and never fewer than 64
RETRAIN_GROWTH = 2  # retrain once the gallery is 2x the size the centroids were trained at (lists stay small)
KMEANS_ITERATIONS = 6
KMEANS_SAMPLE_PER_LIST = 64
SLACK = 0.125  # free rows per list after a relayout, so enrolling rarely moves the matrix
POOL_PER_MATCH = 8  # top templates examined per requested match before rescoring
MIN_POOL = 64
CODE_CANDIDATES = 512  # rows the sign-code pass hands to exact rescoring (per MIN_POOL of the pool) ...
CODE_SHARE = 64  # ... and at least 1/64 of the rows it ranked (1/128 of 250k missed 1 exact top-1 in 1,000)
CODE_SEED = 0  # the hyperplanes behind the sign codes (any fixed ones will do; codes are rebuilt on load)
_CHUNK = 8_192  # rows per block when assigning or laying out templates: small temporaries, little heap left behind


class SignCodes:
    """``dim``-bit codes of unit rows: on which side of each of ``dim`` fixed random hyperplanes the row lies (SimHash).

    A random hyperplane separates two unit vectors with probability angle / pi, so the Hamming
    distance between codes ranks rows by cosine, roughly, whatever the embedder's coordinates look
    like. Codes are derived from the templates on load and never saved: the file keeps only what
    an exact round trip needs.
    """

    def __init__(self, dim: int) -> None:
        self.dim, self.words = dim, -(-dim // 64)
        self.hyperplanes = _hyperplanes(dim)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """(n, words) uint64 codes of (n, dim) rows; a zero row (a hole) gets the all-zero code."""
        bits = np.zeros((len(vectors), 64 * self.words), bool)
        bits[:, :self.dim] = (vectors @ self.hyperplanes) > 0
        return np.packbits(bits, axis=1).view(np.uint64)


@functools.lru_cache(maxsize=4)
def _hyperplanes(dim: int) -> np.ndarray:
    """(dim, dim) float32 Gaussian normals, the same for every index of this dimension in the process."""
    return np.random.default_rng(CODE_SEED).standard_normal((dim, dim), dtype=np.float32)


def rank(names: Sequence[str], scores: np.ndarray, top_k: int) -> list[tuple[str, float]]:
    """The ``top_k`` (name, score) pairs by score descending, ties by name ascending (exact at the cut)."""
    k = min(top_k, len(names))
    if k <= 0:
        return []
    if k < len(scores):
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        pool = np.flatnonzero(scores >= kth)  # every pet tied with the k-th stays in the running
    else:
        pool = np.arange(len(scores))
    ordered = sorted(pool.tolist(), key=lambda i: (-float(scores[i]), names[i]))
    return [(names[i], float(scores[i])) for i in ordered[:k]]


def train_centroids(sample: np.ndarray, lists: int, seed: int = 0) -> np.ndarray:
    """Spherical k-means on unit rows: ``lists`` unit centroids (deterministic for a given sample)."""
    rng = np.random.default_rng(seed)
    centroids = sample[rng.choice(len(sample), lists, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        nearest = assign(sample, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        filled = norms[:, 0] > 0  # an empty list keeps its old centroid
        centroids[filled] = sums[filled] / norms[filled]
    return np.ascontiguousarray(centroids, dtype=np.float32)


def assign(vectors: np.ndarray, centroids: np.ndarray | None) -> np.ndarray:
    """(n,) int32: the list of each row (its nearest centroid; list 0 when there is no partition)."""
    if centroids is None:
        return np.zeros(len(vectors), np.int32)
    out = np.empty(len(vectors), np.int32)
    for start in range(0, len(vectors), _CHUNK):
        out[start:start + _CHUNK] = np.argmax(vectors[start:start + _CHUNK] @ centroids.T, axis=1)
    return out


def list_count(templates: int) -> int:
    return int(np.clip(templates // ROWS_PER_LIST, 1, MAX_LISTS))


def probe_count(lists: int) -> int:
    return min(lists, max(MIN_PROBES, lists // PROBE_DIVISOR))


@dataclass
class Layout:
    """The matrix, list by list: list ``l`` holds rows ``starts[l]`` to ``starts[l] + sizes[l]`` (holes included)."""

    vectors: np.ndarray  # (capacity, dim) float32; unused rows are zero
    codes: np.ndarray  # (capacity, words) uint64: each row's sign code (:class:`SignCodes`), for the coarse pass
    row_tid: np.ndarray  # (capacity,) int64 template id per row, -1 for a free row or a hole
    starts: np.ndarray  # (K,) int64
    sizes: np.ndarray  # (K,) int64 rows used, holes of removed templates included
    caps: np.ndarray  # (K,) int64

    @classmethod
    def build(cls, vectors: np.ndarray, tids: np.ndarray, lists: np.ndarray, count: int, signs: SignCodes,
              extra: np.ndarray | None = None, codes: np.ndarray | _Rows | None = None) -> Layout:
        """Place ``vectors`` (rows of template ids ``tids``) into ``count`` lists with slack (plus ``extra`` rows).

        ``codes``: the rows' sign codes when already known (a relayout, a partition build), else computed.
        """
        sizes = np.bincount(lists, minlength=count).astype(np.int64)
        want = sizes + (extra if extra is not None else 0)
        caps = want + (want * SLACK).astype(np.int64) + 16
        starts = np.concatenate([[0], np.cumsum(caps)[:-1]]).astype(np.int64)
        order = np.argsort(lists, kind="stable")
        within = np.arange(len(lists)) - np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        dest = np.empty(len(lists), np.int64)
        dest[order] = starts[lists[order]] + within
        total = int(caps.sum())
        out = np.zeros((total, signs.dim), np.float32)  # calloc: free rows stay untouched, not resident
        out_codes = np.zeros((total, signs.words), np.uint64)
        row_tid = np.full(total, -1, np.int64)
        for start in range(0, len(dest), _CHUNK):  # blockwise: no second full-size temporary
            block, rows = vectors[start:start + _CHUNK], dest[start:start + _CHUNK]
            out[rows] = block
            out_codes[rows] = signs(block) if codes is None else codes[start:start + _CHUNK]
        row_tid[dest] = tids
        return cls(out, out_codes, row_tid, starts, sizes, caps)


@dataclass
class Snapshot:
    """What a partition build reads outside the gallery lock: rows are never rewritten in place while live."""

    layout: Layout
    next_tid: int
    live: int


class TemplateIndex:
    """Templates by id (``tid``), each owned by a pet id, searchable exactly or through the partition.

    Not thread-safe on its own: :class:`~petface_edge.runtime.gallery.Gallery` holds its lock around
    every call except :func:`build_partition`, which reads a :class:`Snapshot` and is adopted under it.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.centroids: np.ndarray | None = None
        self.trained_at = 0
        self.signs = SignCodes(dim)
        self._scratch = np.empty((0, self.signs.words), np.uint64)  # the coarse pass's buffer (callers hold a lock)
        self.layout = Layout.build(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int32), 1,
                                   self.signs)
        self.tid_row = np.zeros(0, np.int64)
        self.tid_pet = np.zeros(0, np.int32)
        self.next_tid = 0
        self.live = 0

    @classmethod
    def restore(cls, vectors: np.ndarray, pets: np.ndarray, centroids: np.ndarray | None = None,
                lists: np.ndarray | None = None, trained_at: int = 0) -> TemplateIndex:
        """An index over ``vectors`` (template ids 0..n-1 in row order, owned by ``pets``), laid out as saved."""
        index = cls(vectors.shape[1])
        n = len(vectors)
        index._reserve(n)
        index.next_tid = index.live = n
        index.tid_pet[:n] = pets
        index.centroids, index.trained_at = centroids, trained_at
        count = 1 if centroids is None else len(centroids)
        lists = np.zeros(n, np.int32) if lists is None else lists
        index.layout = Layout.build(vectors, np.arange(n, dtype=np.int64), lists, count, index.signs)
        index._map_rows()
        return index

    @property
    def lists(self) -> int:
        return len(self.layout.starts)

    # -- changes ----------------------------------------------------------------------------

    def add(self, pet: int, vectors: np.ndarray) -> np.ndarray:
        """Add ``pet``'s rows, each to its nearest list; returns their template ids."""
        n = len(vectors)
        tids = np.arange(self.next_tid, self.next_tid + n, dtype=np.int64)
        self._reserve(self.next_tid + n)
        self.next_tid += n
        self.tid_pet[tids] = pet
        self._place(tids, vectors)
        self.live += n
        return tids

    def remove(self, tids: np.ndarray) -> None:
        rows = self.tid_row[tids]
        self.layout.vectors[rows] = 0  # a hole scores 0 and is skipped by its id
        self.layout.codes[rows] = 0
        self.layout.row_tid[rows] = -1
        self.tid_row[tids] = -1
        self.tid_pet[tids] = -1
        self.live -= len(tids)

    def vectors(self, tids: np.ndarray) -> np.ndarray:
        return self.layout.vectors[self.tid_row[tids]]

    def list_of(self, tids: np.ndarray) -> np.ndarray:
        """(n,) int32: the list each template sits in (what the gallery file saves)."""
        return (np.searchsorted(self.layout.starts, self.tid_row[tids], side="right") - 1).astype(np.int32)

    # -- the partition ----------------------------------------------------------------------

    def wants_partition(self, threshold: int) -> bool:
        """Whether a (re)build is due: past ``threshold`` templates and grown ``RETRAIN_GROWTH``x since the last."""
        return self.live >= max(threshold, 2) and (self.centroids is None
                                                   or self.live >= RETRAIN_GROWTH * self.trained_at)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.layout, self.next_tid, self.live)

    def adopt(self, snap: Snapshot, centroids: np.ndarray, layout: Layout) -> None:
        """Swap in a layout built from ``snap``, replaying what changed since (removals, additions)."""
        built = layout.row_tid >= 0
        tids = layout.row_tid[built]
        gone = self.tid_row[tids] < 0  # removed while the build ran
        if gone.any():
            rows = np.flatnonzero(built)[gone]
            layout.vectors[rows] = 0
            layout.codes[rows] = 0
            layout.row_tid[rows] = -1
        newer = np.arange(snap.next_tid, self.next_tid, dtype=np.int64)
        newer = newer[self.tid_row[newer] >= 0]
        added = self.vectors(newer).copy() if len(newer) else np.zeros((0, self.dim), np.float32)
        self.layout, self.centroids, self.trained_at = layout, centroids, snap.live
        self.tid_row[tids[~gone]] = np.flatnonzero(built)[~gone]
        self.tid_row[newer] = -1
        self._place(newer, added)  # replay the additions, each to its nearest new list

    def _place(self, tids: np.ndarray, vectors: np.ndarray) -> None:
        lists = assign(vectors, self.centroids)
        need = np.bincount(lists, minlength=self.lists)
        if np.any(self.layout.sizes + need > self.layout.caps):
            self._relayout(extra=need)
        lay, codes = self.layout, self.signs(vectors)
        for lst in np.unique(lists).tolist():
            mine = np.flatnonzero(lists == lst)
            rows = lay.starts[lst] + lay.sizes[lst] + np.arange(len(mine))
            lay.vectors[rows] = vectors[mine]
            lay.codes[rows] = codes[mine]
            lay.row_tid[rows] = tids[mine]
            self.tid_row[tids[mine]] = rows
            lay.sizes[lst] += len(mine)

    def _relayout(self, extra: np.ndarray | None = None) -> None:
        """Compact the holes and give every list fresh slack (a copy; rare: slack grows with the lists)."""
        lay = self.layout
        rows = np.flatnonzero(lay.row_tid >= 0)
        lists = (np.searchsorted(lay.starts, rows, side="right") - 1).astype(np.int32)
        self.layout = Layout.build(_Rows(lay.vectors, rows), lay.row_tid[rows], lists, self.lists, self.signs, extra,
                                   codes=_Rows(lay.codes, rows))
        self._map_rows()

    def _map_rows(self) -> None:
        used = self.layout.row_tid >= 0
        self.tid_row[self.layout.row_tid[used]] = np.flatnonzero(used)

    def _reserve(self, n: int) -> None:
        if n > len(self.tid_row):
            size = max(n, 2 * len(self.tid_row), 1024)
            self.tid_row = np.concatenate([self.tid_row, np.full(size - len(self.tid_row), -1, np.int64)])
            self.tid_pet = np.concatenate([self.tid_pet, np.full(size - len(self.tid_pet), -1, np.int32)])

    # -- queries ----------------------------------------------------------------------------

    def _coarse(self, query: np.ndarray, want: int) -> np.ndarray:
        """Rows of the ``want`` templates (at least) nearest ``query`` by sign code, in its nearest lists."""
        lay, probes = self.layout, probe_count(self.lists)
        lists = np.argpartition(self.centroids @ query, self.lists - probes)[self.lists - probes:]
        starts, sizes = lay.starts[lists], lay.sizes[lists]
        total = int(sizes.sum())
        if len(self._scratch) < total:
            self._scratch = np.empty((total + total // 4, self.signs.words), np.uint64)
        picked = _nearest_by_code(self.signs(query[None])[0], [lay.codes[s:s + n] for s, n in zip(starts, sizes)],
                                  max(want, total // CODE_SHARE), self._scratch)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        block = np.searchsorted(offsets, picked, side="right") - 1
        return starts[block] + picked - offsets[block]

    def candidates(self, query: np.ndarray, top_k: int, partitioned: bool) -> np.ndarray:
        """Pet ids among which the ``top_k`` best pets are (all of them when not ``partitioned``).

        Exact: the pool of the best-scoring templates (ties at its cut included) holds at least
        ``top_k`` distinct pets, so every pet scoring at or above the pool's lowest score is in it.
        """
        lay = self.layout
        pool_size = max(MIN_POOL, POOL_PER_MATCH * top_k)
        if partitioned and self.centroids is not None:
            rows = self._coarse(query, CODE_CANDIDATES * -(-pool_size // MIN_POOL))
            scores, tids = lay.vectors[rows] @ query, lay.row_tid[rows]
        else:
            end = int(lay.starts[-1] + lay.sizes[-1])
            scores, tids = lay.vectors[:end] @ query, lay.row_tid[:end]
        n = len(scores)
        pool_size = min(n, pool_size)
        while True:
            if pool_size < n:
                cut = np.partition(scores, n - pool_size)[n - pool_size]
                pool = tids[scores >= cut]
            else:
                pool = tids
            pets = np.unique(self.tid_pet[pool[pool >= 0]])
            if len(pets) >= top_k or pool_size >= n:
                return pets
            pool_size *= 4


def _nearest_by_code(query_code: np.ndarray, codes: Sequence[np.ndarray], want: int, scratch: np.ndarray
                     ) -> np.ndarray:
    """Positions (in the concatenation of ``codes``) of the ``want`` codes nearest ``query_code``, ties at the cut kept.

    One XOR per block, on flat views against the query code tiled to the longest block (3x faster
    than broadcasting over a 2-word row), into ``scratch`` (reused: a fresh 4 MB buffer per query
    costs its page faults); then one popcount and a histogram cut (distances are small integers, so
    no sort). The coarse pass costs about one memory read of the probed codes.
    """
    words = query_code.shape[0]
    sizes = [len(block) for block in codes]
    tiled = np.tile(query_code, max(sizes, default=0))
    flat = scratch.reshape(-1)
    at = 0
    for block in codes:
        n = block.size
        np.bitwise_xor(block.reshape(-1), tiled[:n], out=flat[at:at + n])
        at += n
    bits = np.bitwise_count(scratch[:sum(sizes)])
    distance = bits[:, 0].astype(np.uint16)
    for word in range(1, words):  # column adds: 10x faster than sum(axis=1) on 2 columns
        distance += bits[:, word]
    if len(distance) <= want:
        return np.arange(len(distance))
    cut = int(np.searchsorted(np.cumsum(np.bincount(distance)), want))
    return np.flatnonzero(distance <= cut)


def build_partition(snap: Snapshot, signs: SignCodes, seed: int = 0) -> tuple[np.ndarray, Layout]:
    """Train centroids on a sample of ``snap`` and lay all its templates out by list (runs outside the lock)."""
    row_tid = snap.layout.row_tid
    rows = np.flatnonzero((row_tid >= 0) & (row_tid < snap.next_tid))  # later rows are replayed by adopt
    lists = list_count(len(rows))
    rng = np.random.default_rng(seed)
    sample = rows if len(rows) <= KMEANS_SAMPLE_PER_LIST * lists else np.sort(
        rng.choice(rows, KMEANS_SAMPLE_PER_LIST * lists, replace=False))
    centroids = train_centroids(snap.layout.vectors[sample], lists, seed)
    nearest = np.concatenate([assign(snap.layout.vectors[rows[i:i + _CHUNK]], centroids)
                              for i in range(0, len(rows), _CHUNK)]) if len(rows) else np.zeros(0, np.int32)
    tids = snap.layout.row_tid[rows]
    layout = Layout.build(_Rows(snap.layout.vectors, rows), tids, nearest, lists, signs,
                          codes=_Rows(snap.layout.codes, rows))
    return centroids, layout


class _Rows:
    """``vectors[rows]`` read block by block, so a layout build never holds a second full copy."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self.vectors, self.rows = vectors, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: slice) -> np.ndarray:
        return self.vectors[self.rows[index]]
