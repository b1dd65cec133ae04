"""Identify against 10k / 100k / 1M enrolled 128-d templates with the runtime ``Gallery``: exact and indexed.

The templates are synthetic, shaped like a real gallery (:mod:`benchmarks.galleries`). Each
gallery is built the way users build one (pet by pet, the index growing as it goes), saved,
and loaded again: the timed call is ``Gallery.search`` on the *loaded* gallery with a query
embedding (the model's own latency is in the latency table); memory is the RSS the loaded
gallery adds; recall@1 is the fraction of queries whose indexed top-1 pet is the exact top-1.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import time
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from petface_edge import DecisionPolicy, Embedder, Gallery
from petface_edge.runtime.search import INDEX_MIN_TEMPLATES

from .conftest import Bench, Model, bench_mode
from .galleries import Templates, synthetic_gallery
from .report import GalleryRow
from .rss import current_rss_bytes, release_free_heap
from .timing import measure

SEARCHES = ("exact", "approximate")
POLICY = DecisionPolicy(identify_threshold=0.5)


class _Cache:
    """One size's templates at a time: 1M templates are 512 MB, and the exact results must outlive a test."""

    def __init__(self) -> None:
        self.current: Templates | None = None

    def get(self, size: int, queries: int) -> Templates:
        if self.current is None or self.current.size != size:
            self.current = None
            gc.collect()
            self.current = synthetic_gallery(size, queries)
        return self.current


@pytest.fixture(scope="session")
def templates_cache() -> _Cache:
    return _Cache()


@pytest.fixture(scope="session")
def gallery_embedder(demo: Model) -> Iterator[Embedder]:
    """The model the gallery is bound to (its fingerprint); it embeds nothing here, so it runs in onnxruntime:
    an ExecuTorch program held for the session would pin ExecuTorch's one process-wide thread pool, and the
    latency rows at another thread count could not open."""
    with Embedder.open(demo.manifest.directory, backend="onnx-fp32", threads=1) as embedder:
        yield embedder


def _contents(path: Path) -> tuple:
    """What a gallery file holds (pets, index, each member's sha256), all but its "updated" time."""
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("gallery.json"))
        digests = {}
        for name in archive.namelist():
            digest = hashlib.sha256()
            with archive.open(name) as member:
                while block := member.read(1 << 24):
                    digest.update(block)
            digests[name] = digest.hexdigest() if name != "gallery.json" else None
    return meta["pets"], meta.get("index"), digests


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gallery_case" in metafunc.fixturenames:
        sizes = bench_mode(metafunc.config).gallery_sizes
        cases = [(size, search) for size in sizes for search in SEARCHES]  # exact first: recall needs it
        metafunc.parametrize("gallery_case", cases, ids=[f"{n // 1000}k-{s}" for n, s in cases])


def test_gallery_search(benchmark, bench: Bench, gallery_embedder: Embedder, templates_cache: _Cache,
                        gallery_case: tuple[int, str], tmp_path) -> None:
    size, search = gallery_case
    data = templates_cache.get(size, bench.mode.gallery_queries)
    start = time.perf_counter()
    built = Gallery(gallery_embedder, search=search, policy=POLICY)
    for name, vectors in zip(data.names, data.templates):
        built.enroll_embeddings(name, vectors)
    build_s = time.perf_counter() - start
    path = built.save(tmp_path / "bench.gallery")
    del built
    gc.collect()
    release_free_heap()
    before = current_rss_bytes()
    start = time.perf_counter()
    # Search speed, not decisions: a raw threshold, since 1M templates lie past any calibrated identify table.
    gallery = Gallery.load(path, gallery_embedder, search=search, policy=POLICY)
    load_s = time.perf_counter() - start
    memory = current_rss_bytes() - before
    assert gallery.approximate == (search == "approximate")

    top1: dict[int, str] = {}
    order = itertools.cycle(range(len(data.queries)))
    current = [0]

    def next_query() -> None:
        current[0] = next(order)

    def identify() -> None:
        top1[current[0]] = gallery.search(data.queries[current[0]])[0].name

    benchmark.group = f"gallery {size:,}"
    benchmark.extra_info.update(templates=size, search=search)
    timing = measure(benchmark, identify, bench.mode, setup=next_query, rounds=len(data.queries))

    # The generator knows whose photo each query is: exact search must find that pet nearly always.
    if search == "exact":
        data.exact_top1 = top1
        hits = np.mean([top1[i] == data.owners[i] for i in top1])
        assert hits >= 0.95, f"exact top-1 found the query's own pet for only {hits:.1%} of queries"
        recall = None
    else:
        common = [i for i in top1 if i in data.exact_top1]
        recall = float(np.mean([top1[i] == data.exact_top1[i] for i in common])) if common else None
    name = "exact (numpy)" if search == "exact" else "indexed (k-means lists, sign codes, exact rescoring)"
    auto = (search == "approximate") == (size >= INDEX_MIN_TEMPLATES)
    bench.results.gallery.append(GalleryRow(size, name, timing, memory, build_s, recall, load_s=load_s,
                                            auto=auto, float_bytes=data.templates.nbytes))
    # Saved again after loading: the same file, templates and index byte for byte.
    again = gallery.save(tmp_path / "again.gallery")
    assert _contents(again) == _contents(path)
    path.unlink()
    again.unlink()
    del gallery
