"""Gallery: enrollment, ranking rules, persistence (atomic, versioned, bound to the model), approximate search."""

import io
import json
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from petface_edge import DecisionPolicy, Embedder, Gallery, GalleryError, Match, UnsupportedTargetError, VerifyResult
from petface_edge.data import load_splits
from petface_edge.runtime.gallery_file import CENTROIDS_MEMBER, LISTS_MEMBER, META_MEMBER, TEMPLATES_MEMBER
from petface_edge.thresholds import TEMPLATE_COUNTS, identify_threshold


@pytest.fixture(scope="module")
def embedder(exported):
    return Embedder.open(exported.export)


def _unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _basis(dim, *axes):
    out = np.zeros((len(axes), dim), np.float32)
    out[np.arange(len(axes)), axes] = 1
    return out


def test_identify_and_verify_real_photos(embedder, exported):
    test = load_splits(exported.splits)["test"]
    by_pet = {}
    for rel, label in test:
        by_pet.setdefault(label, []).append(exported.data / rel)
    gallery = Gallery(embedder)
    for name, paths in by_pet.items():
        assert gallery.enroll(name, paths[:2]) == 2
    assert len(gallery) == len(by_pet) and gallery.names() == sorted(by_pet)

    queries = [(name, path) for name, paths in by_pet.items() for path in paths[2:]]
    vectors = embedder.embed([path for _, path in queries])
    correct = 0
    for k, ((name, path), q) in enumerate(zip(queries, vectors)):
        matches = gallery.identify(path, top_k=3) if k < 3 else gallery.search(q, top_k=3)
        assert len(matches) == 3 and all(isinstance(m, Match) for m in matches)
        assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
        for m in matches:  # a pet's score is its best template, computed here by hand
            assert m.score == pytest.approx(float(np.max(gallery.templates(m.name) @ q)), abs=1e-6)
            assert m.accepted == (m.score >= matches.operating_point.threshold)
        correct += matches[0].name == name
    result = gallery.verify(queries[0][0], queries[0][1])
    assert isinstance(result, VerifyResult) and result.threshold == embedder.threshold
    assert result.score == pytest.approx(float(np.max(gallery.templates(queries[0][0]) @ vectors[0])), abs=1e-6)
    print(f"\nidentify top-1 on {len(by_pet)} held-out pets (2 enrolled photos each): {correct}/{len(queries)}")
    assert correct / len(queries) > 2 / len(by_pet)  # well above chance for the briefly trained model


def test_pet_score_is_the_best_template_and_ties_break_by_name(embedder):
    d = embedder.dim
    gallery = Gallery(embedder, search="exact")
    e = _basis(d, 0, 1, 2, 3)
    gallery.enroll_embeddings("bella", e[[0, 1]])  # her best template matches the query exactly
    gallery.enroll_embeddings("abby", e[[1]])  # tied with bella
    gallery.enroll_embeddings("coco", _unit(e[1] + e[2]))  # cosine 0.707
    gallery.enroll_embeddings("dora", e[[3]])  # orthogonal
    matches = gallery.search(e[1], top_k=3, threshold=0.9)
    assert list(matches) == [Match("abby", 1.0, True), Match("bella", 1.0, True),
                             Match("coco", pytest.approx(0.70710677), False)]
    assert matches.best == "abby" and matches.operating_point.threshold == 0.9
    assert [m.name for m in gallery.search(e[1], top_k=10, threshold=0.5)] == ["abby", "bella", "coco", "dora"]
    # A tie exactly at the top-k cut: the name decides who is in.
    assert [m.name for m in gallery.search(e[1], top_k=1, threshold=0.5)] == ["abby"]
    # The mean of bella's templates would score 0.707; the maximum is 1.
    assert gallery.verify("bella", e[1], threshold=0.9).same


def _at_cosine(t, dim):
    """A unit vector at cosine ``t`` to the first basis vector."""
    return _unit(np.r_[[t], [np.sqrt(1 - t * t)], np.zeros(dim - 2)])


def test_default_thresholds_come_from_the_manifest_policies(embedder):
    gallery = Gallery(embedder)
    gallery.enroll_embeddings("a", _basis(embedder.dim, 0))
    table = embedder.artifact.thresholds
    t = gallery.identify_point().threshold
    assert t == table["identify"]["thresholds"]["1e-2"][0]  # FPIR 1e-2 at one template
    assert gallery.search(_at_cosine(t + 0.01, embedder.dim))[0].accepted
    result = gallery.search(_at_cosine(t - 0.01, embedder.dim))
    assert not result[0].accepted and result.best is None
    point = result.operating_point
    assert (point.policy, point.target, point.gallery_size, point.threshold) == ("identify", 1e-2, 1, t)
    verify = gallery.verify("a", _at_cosine(0.5, embedder.dim))
    assert verify.threshold == embedder.threshold == table["verify"]["thresholds"]["1e-3"] and verify.far == 1e-3


def test_identify_threshold_moves_as_the_gallery_grows_past_table_entries(embedder):
    gallery = Gallery(embedder, search="exact")
    rng = np.random.default_rng(3)
    table = embedder.artifact.thresholds
    seen = []
    for size in (4, 5, 7, 10, 20):  # across the entries at 5, 10 and 20 templates
        while gallery.identify_point().gallery_size < size:
            gallery.enroll_embeddings(f"pet{len(gallery)}", rng.standard_normal(embedder.dim))
        point = gallery.identify_point()
        assert point.threshold == pytest.approx(identify_threshold(table, 1e-2, size))
        if size in TEMPLATE_COUNTS:
            assert point.threshold == table["identify"]["thresholds"]["1e-2"][TEMPLATE_COUNTS.index(size)]
        seen.append(point.threshold)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    query = rng.standard_normal(embedder.dim)
    assert gallery.search(query).operating_point.gallery_size == 20
    gallery.remove("pet0")
    assert gallery.search(query).operating_point.gallery_size == 19  # and back down when a pet leaves


def test_policy_overrides_per_gallery_and_per_call(embedder, exported):
    q = _at_cosine(0.6, embedder.dim)
    strict = Gallery(embedder, policy=DecisionPolicy(identify_fpir=1e-3, verify_threshold=0.99))
    strict.enroll_embeddings("a", _basis(embedder.dim, 0))
    table = embedder.artifact.thresholds["identify"]["thresholds"]
    assert strict.search(q).operating_point.threshold == table["1e-3"][0]
    assert strict.search(q, fpir=1e-1).operating_point.threshold == table["1e-1"][0]  # the call wins
    raw = strict.search(q, threshold=0.5)
    assert raw[0].accepted and raw.operating_point.target is None
    assert strict.verify("a", q).threshold == 0.99 and strict.verify("a", q, far=1e-2).far == 1e-2
    loose = Embedder.open(exported.export, policy=DecisionPolicy(identify_threshold=0.1))
    assert Gallery(loose).identify_point().threshold == 0.1  # embedder options, below the gallery's own
    assert Gallery(loose, policy=DecisionPolicy(identify_fpir=1e-1)).identify_point().target == 1e-1
    with pytest.raises(UnsupportedTargetError, match="was not calibrated"):
        strict.search(q, fpir=5e-2)
    with pytest.raises(ValueError, match="not both"):
        strict.search(q, threshold=0.5, fpir=1e-2)


def test_remove_rename_and_errors(embedder):
    gallery = Gallery(embedder)
    e = _basis(embedder.dim, 0, 1, 2)
    for name, v in zip(("a", "b", "c"), e):
        gallery.enroll_embeddings(name, v)
    assert gallery.enroll_embeddings("a", e[1]) == 2  # enrolling again adds a template
    gallery.remove("b")
    gallery.rename("c", "zed")
    assert gallery.names() == ["a", "zed"] and len(gallery) == 2 and "zed" in gallery and "c" not in gallery
    assert gallery.search(e[2], threshold=0.5)[0] == Match("zed", 1.0, True)
    assert gallery.search(e[1], threshold=0.5)[0].name == "a"  # b's image still matches a's second template
    with pytest.raises(KeyError, match="no pet named 'b'"):
        gallery.remove("b")
    with pytest.raises(ValueError, match="already enrolled"):
        gallery.rename("a", "zed")
    with pytest.raises(ValueError, match="non-empty"):
        gallery.enroll_embeddings("  ", e[0])
    with pytest.raises(ValueError, match="dimensions"):
        gallery.enroll_embeddings("x", np.ones(3))
    with pytest.raises(ValueError, match="top_k"):
        gallery.search(e[0], top_k=0)


def test_save_and_load_round_trip_exactly(embedder, tmp_path):
    rng = np.random.default_rng(0)
    gallery = Gallery(embedder)
    for i in range(5):
        gallery.enroll_embeddings(f"pet {i} é", _unit(rng.standard_normal((i + 1, embedder.dim))))
    path = gallery.save(tmp_path / "pets.gallery")
    loaded = Gallery.load(path, embedder)
    assert loaded.names() == gallery.names() and loaded.fingerprint == embedder.fingerprint
    for name in gallery.names():
        assert np.array_equal(loaded.templates(name), gallery.templates(name))
    q = _unit(rng.standard_normal(embedder.dim))
    assert loaded.search(q, 5) == gallery.search(q, 5)
    # The documented layout: a plain zip with gallery.json and an .npy that numpy reads without pickle.
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == [META_MEMBER, TEMPLATES_MEMBER]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        meta = json.loads(z.read(META_MEMBER))
    assert meta["schema"] == "petface-gallery" and meta["schema_version"] == 1 and meta["dim"] == embedder.dim
    assert [p["templates"] for p in meta["pets"]] == [1, 2, 3, 4, 5]
    assert np.load(path, allow_pickle=False)["templates"].shape == (15, embedder.dim)
    # Listing and editing work without a model; searching then needs an explicit threshold.
    bare = Gallery.load(path)
    bare.remove("pet 0 é")
    bare.save(path)
    assert Gallery.load(path, embedder).names() == gallery.names()[1:]


def _rewrite(path, meta_change=None, templates=None):
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read(META_MEMBER))
        raw = z.read(TEMPLATES_MEMBER)
    meta.update(meta_change or {})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(META_MEMBER, json.dumps(meta))
        if templates is not None:
            buf = io.BytesIO()
            np.save(buf, templates)
            raw = buf.getvalue()
        z.writestr(TEMPLATES_MEMBER, raw)


@pytest.fixture()
def saved(embedder, tmp_path):
    gallery = Gallery(embedder)
    gallery.enroll_embeddings("a", _basis(embedder.dim, 0, 1))
    gallery.enroll_embeddings("b", _basis(embedder.dim, 2))
    return gallery.save(tmp_path / "g.gallery")


def test_gallery_from_another_model_is_refused(embedder, saved):
    _rewrite(saved, {"fingerprint": "f" * 64})
    with pytest.raises(GalleryError, match="enrolled with model ffffffffffff.*not comparable"):
        Gallery.load(saved, embedder)


@pytest.mark.parametrize("damage, words", [
    ("random", "not a petface gallery or corrupt"),
    ("truncated", "not a petface gallery or corrupt"),
    ("future", "schema version 7 is newer"),
    ("not-ours", "expected schema 'petface-gallery'"),
    ("shape", "templates are float32 (3, 5)"),
    ("nan", "not finite unit vectors"),
    ("pickle", "templates.npy unreadable"),
])
def test_corrupt_or_future_gallery_is_a_clear_error(saved, damage, words):
    if damage == "random":
        saved.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif damage == "truncated":
        saved.write_bytes(saved.read_bytes()[:300])
    elif damage == "future":
        _rewrite(saved, {"schema_version": 7})
    elif damage == "not-ours":
        _rewrite(saved, {"schema": "something-else"})
    elif damage == "shape":
        _rewrite(saved, templates=np.ones((3, 5), np.float32))
    elif damage == "nan":
        bad = np.full((3, 128), np.nan, np.float32)
        _rewrite(saved, templates=bad)
    elif damage == "pickle":
        _rewrite(saved, templates=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(GalleryError) as err:
        Gallery.load(saved)
    assert str(saved) in str(err.value) and words in str(err.value)


KILL_DURING_SAVE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from petface_edge import Gallery
    from petface_edge.runtime import gallery_file

    gallery = Gallery.load(sys.argv[1], search="approximate")
    gallery.enroll_embeddings("intruder", np.ones((500, gallery.dim), np.float32))

    def write_then_die(member, pets):  # half the templates reach the disk, then the power fails
        data = np.concatenate(list(pets)).tobytes()
        member.write(data[: len(data) // 2])
        member.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    gallery_file._write_templates = write_then_die
    gallery.save(sys.argv[1])
""")


def test_save_killed_mid_write_leaves_the_previous_gallery(embedder, tmp_path):
    rng = np.random.default_rng(5)
    first = Gallery(embedder, search="approximate")  # indexed from the start: the index must survive too
    for i in range(40):
        first.enroll_embeddings(f"p{i}", _unit(rng.standard_normal((3, embedder.dim))))
    saved = first.save(tmp_path / "g.gallery")
    old_bytes = saved.read_bytes()
    with zipfile.ZipFile(saved) as z:
        assert {CENTROIDS_MEMBER, LISTS_MEMBER} <= set(z.namelist())
    before = Gallery.load(saved, embedder)
    run = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, str(saved)], capture_output=True, text=True)
    assert run.returncode == -signal.SIGKILL, run.stderr
    leftovers = [p for p in saved.parent.iterdir() if p.name.startswith(f".{saved.name}.")]
    assert leftovers and leftovers[0].stat().st_size > 0  # the kill really happened mid-write
    assert saved.read_bytes() == old_bytes  # templates, index and all
    after = Gallery.load(saved, embedder)
    assert after.names() == before.names() and after.approximate
    for name in before.names():
        assert np.array_equal(after.templates(name), before.templates(name))
    after.enroll_embeddings("c", _basis(embedder.dim, 5))
    after.save(saved)  # the next save replaces the file as usual
    assert "c" in Gallery.load(saved, embedder).names()


def _clustered(rng, pets, per_pet, dim, noise):
    centres = _unit(rng.standard_normal((pets, dim)))
    templates = _unit(np.repeat(centres, per_pet, axis=0) + noise * rng.standard_normal((pets * per_pet, dim)))
    return centres, templates.reshape(pets, per_pet, dim)


def test_approximate_search_recall_against_exact(embedder):
    rng = np.random.default_rng(3)
    pets, per_pet = 2000, 2
    centres, templates = _clustered(rng, pets, per_pet, embedder.dim, noise=0.08)
    exact = Gallery(embedder, search="exact")
    approx = Gallery(embedder, search="approximate")
    for i in range(pets):
        exact.enroll_embeddings(f"pet{i:05d}", templates[i])
        approx.enroll_embeddings(f"pet{i:05d}", templates[i])
    assert approx.approximate and not exact.approximate
    queries = _unit(centres[:200] + 0.1 * rng.standard_normal((200, embedder.dim)))
    agree = 0
    for q in queries:
        e, a = exact.search(q, 5, threshold=0.5), approx.search(q, 5, threshold=0.5)
        agree += e[0].name == a[0].name
        if e[0].name == a[0].name:  # candidates are rescored over all their templates: the exact score
            assert a[0].score == pytest.approx(e[0].score, abs=1e-6)
    recall = agree / len(queries)
    print(f"\napproximate search recall@1 vs exact: {recall:.3f} ({pets * per_pet} templates)")
    assert recall >= 0.98
    # Edits reach the index: a removed pet is never returned, a renamed one under its new name.
    top = exact.search(queries[0], 1, threshold=0.5)[0].name
    approx.remove(top)
    assert approx.search(queries[0], 5, threshold=0.5)[0].name != top
    second = approx.search(queries[1], 1, threshold=0.5)[0].name
    approx.rename(second, "renamed")
    assert approx.search(queries[1], 1, threshold=0.5)[0].name == "renamed"


def test_auto_mode_switches_to_the_index_at_the_size_threshold(embedder):
    gallery = Gallery(embedder, search="auto", ann_min_templates=10)
    rng = np.random.default_rng(4)
    for i in range(9):
        gallery.enroll_embeddings(f"p{i}", _unit(rng.standard_normal(embedder.dim)))
    assert not gallery.approximate
    gallery.enroll_embeddings("p9", _unit(rng.standard_normal(embedder.dim)))
    assert gallery.approximate
    q = gallery.templates("p4")[0]
    assert gallery.search(q, 1, threshold=0.5)[0] == Match("p4", pytest.approx(1.0), True)


def test_gallery_needs_a_fingerprinted_model_and_a_threshold(embedder, saved):
    bare = Gallery.load(saved)
    with pytest.raises(Exception, match="no threshold"):
        bare.search(_basis(embedder.dim, 0)[0])
    assert bare.search(_basis(embedder.dim, 0)[0], threshold=0.5)[0].name == "a"
    with pytest.raises(Exception, match="loaded without a model"):
        bare.identify(np.zeros((8, 8, 3), np.uint8), threshold=0.5)


def _members(path):
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read(META_MEMBER))
        return meta["pets"], meta.get("index"), {n: z.read(n) for n in z.namelist() if n != META_MEMBER}


def test_indexed_gallery_round_trips_exactly_index_included(embedder, tmp_path):
    rng = np.random.default_rng(6)
    centres, templates = _clustered(rng, 1500, 3, embedder.dim, noise=0.08)
    gallery = Gallery(embedder, search="auto", ann_min_templates=1000)
    for i in range(1500):
        gallery.enroll_embeddings(f"pet{i:04d}", templates[i])
    gallery.remove("pet0007")  # a hole in the lists
    gallery.enroll_embeddings("pet0001", templates[2][:1])  # a pet whose templates sit in two places
    assert gallery.approximate and gallery._index.lists > 1
    first = gallery.save(tmp_path / "a.gallery")
    loaded = Gallery.load(first, embedder)
    assert loaded.approximate and loaded.names() == gallery.names()
    second = loaded.save(tmp_path / "b.gallery")
    assert _members(first) == _members(second)  # templates, centroids and lists byte for byte
    queries = _unit(centres[:50] + 0.1 * rng.standard_normal((50, embedder.dim)))
    for q in queries:
        assert loaded.search(q, 5, threshold=0.5) == gallery.search(q, 5, threshold=0.5)


def test_no_query_waits_for_an_index_build(embedder, monkeypatch):
    import threading

    from petface_edge.runtime import gallery as gallery_module

    started, release = threading.Event(), threading.Event()
    real = gallery_module.build_partition

    def slow_build(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(gallery_module, "build_partition", slow_build)
    rng = np.random.default_rng(7)
    gallery = Gallery(embedder, search="auto", ann_min_templates=50)
    for i in range(49):
        gallery.enroll_embeddings(f"p{i}", _unit(rng.standard_normal(embedder.dim)))
    enrolling = threading.Thread(target=gallery.enroll_embeddings, args=("p49", _unit(rng.standard_normal(
        embedder.dim))))
    enrolling.start()  # its enroll crosses the threshold and builds the index
    assert started.wait(30)
    q = gallery.templates("p3")[0]
    assert gallery.search(q, 1, threshold=0.5)[0].name == "p3"  # answered while the build is held
    gallery.enroll_embeddings("late", _unit(rng.standard_normal(embedder.dim)))  # enrolled mid-build
    gallery.remove("p5")
    assert not gallery.approximate
    release.set()
    enrolling.join(30)
    assert gallery.approximate and "late" in gallery.names() and "p5" not in gallery.names()
    assert gallery.search(gallery.templates("late")[0], 1, threshold=0.5)[0].name == "late"
    assert all(m.name != "p5" for m in gallery.search(q, 51, threshold=0.5))
    assert len(gallery.search(q, 100, threshold=0.5)) == 50  # every pet once: nothing lost or doubled
    layout = gallery._index.layout  # the additions and removal replayed into the new layout, codes included
    live = layout.row_tid >= 0
    np.testing.assert_array_equal(layout.codes[live], gallery._index.signs(layout.vectors[live]))
    assert not layout.codes[~live].any()


def test_sign_codes_follow_every_change(embedder):
    """The coarse pass reads codes, the answer comes from the floats: the two must never drift apart."""
    rng = np.random.default_rng(8)
    _, templates = _clustered(rng, 1200, 2, embedder.dim, noise=0.08)
    gallery = Gallery(embedder, search="auto", ann_min_templates=2048)
    for i in range(1200):
        gallery.enroll_embeddings(f"pet{i:04d}", templates[i])  # partitioned at 2,048, re-laid out as lists fill
        if i % 97 == 0:
            gallery.remove(f"pet{i:04d}")
    index = gallery._index
    assert index.lists > 1
    layout = index.layout
    live = layout.row_tid >= 0
    np.testing.assert_array_equal(layout.codes[live], index.signs(layout.vectors[live]))
    assert not layout.codes[~live].any()  # holes and free rows: the all-zero code, and skipped by their id
    # Hamming distance estimates the angle (SimHash): dim * angle / pi bits, std under 6 bits at 128-d.
    a, b = layout.vectors[np.flatnonzero(live)[:2]]
    bits = int(np.bitwise_count(index.signs(a[None]) ^ index.signs(b[None])).sum())
    assert abs(bits - embedder.dim * np.arccos(np.clip(a @ b, -1, 1)) / np.pi) < 24
