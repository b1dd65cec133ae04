"""Evaluation metrics against hand-computed values and scikit-learn on small fixed inputs."""

import math

import numpy as np
import pytest
from sklearn.metrics import label_ranking_average_precision_score, ndcg_score, roc_auc_score, roc_curve

from petface_edge.evaluation import metrics as M

S = 1 / math.sqrt(2)


@pytest.fixture
def tied_set():
    """A1, A2, B1, B2 (two identities of 2 images) and C, a singleton identical to A1 (exact ties).

    Similarities from each query (wrong items ahead of right ones on ties):
    A1: C 1.0, A2 .707 (right)               -> first hit at rank 2
    A2: B1 .707, C .707, A1 .707 (right)     -> rank 3 (a three-way tie, the right one last)
    B1: A2 .707, B2 .707 (right)             -> rank 2
    B2: B1 .707 (right)                      -> rank 1
    """
    e = np.array([[1, 0, 0], [S, S, 0], [0, 1, 0], [0, S, S], [1, 0, 0]], dtype=np.float32)
    return e, np.array(["A", "A", "B", "B", "C"])


def test_retrieval_hand_computed_with_ties_and_a_distractor(tied_set):
    emb, labels = tied_set
    r = M.retrieval_metrics(emb, labels)
    ranks = np.array([2, 3, 2, 1])
    assert r["queries"] == 4 and r["distractors"] == 1
    assert r["recall@1"] == pytest.approx(0.25)
    assert r["recall@5"] == r["recall@10"] == 1.0
    assert r["mrr"] == pytest.approx(np.mean(1 / ranks))  # (1/2 + 1/3 + 1/2 + 1) / 4
    # One relevant item per query (identities of 2 images): NDCG = 1 / log2(rank + 1).
    assert r["ndcg@10"] == pytest.approx(np.mean(1 / np.log2(ranks + 1)))


def test_ranking_order_puts_wrong_items_first_on_ties(tied_set):
    emb, labels = tied_set
    ranking = M.rank_gallery(emb[:4], labels[:4], emb, labels, exclude=np.arange(4), top=4)
    np.testing.assert_array_equal(ranking.first_hit, [2, 3, 2, 1])
    assert ranking.top[1].tolist()[:3] == [2, 4, 0]  # A2's three-way tie: B1, C, then A1
    assert not (ranking.top == np.arange(4)[:, None]).any()  # a query never retrieves itself
    np.testing.assert_array_equal(ranking.positives, [1, 1, 1, 1])


def test_collapsed_embeddings_score_zero_recall():
    emb = np.tile([[1.0, 0.0]], (12, 1)).astype(np.float32)
    r = M.retrieval_metrics(emb, np.repeat(np.arange(4), 3))
    assert r["recall@1"] == 0.0  # file order must not rescue a model that cannot tell pets apart


def _random_set(seed, identities, per_identity, dim=16, decimals=None):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(identities), per_identity)
    emb = rng.normal(size=(len(labels), dim)) + 1.5 * rng.normal(size=(identities, dim))[labels]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    if decimals is not None:  # coarse values create many exact ties
        emb = np.round(emb, decimals)
    return emb.astype(np.float32), labels


@pytest.mark.parametrize("decimals", [None, 1])
def test_mrr_matches_sklearn_label_ranking_average_precision(decimals):
    # With exactly one other image per identity, LRAP of each query is its reciprocal rank, and
    # scikit-learn counts ties pessimistically as we do.
    emb, labels = _random_set(1, identities=30, per_identity=2, decimals=decimals)
    sim = emb @ emb.T
    off = ~np.eye(len(labels), dtype=bool)
    scores = sim[off].reshape(len(labels), -1)
    truth = (labels[:, None] == labels[None, :])[off].reshape(len(labels), -1)
    assert M.retrieval_metrics(emb, labels)["mrr"] == pytest.approx(
        label_ranking_average_precision_score(truth, scores))


def test_ndcg_and_recall_match_sklearn_without_ties():
    emb, labels = _random_set(2, identities=25, per_identity=4)
    sim = emb @ emb.T
    off = ~np.eye(len(labels), dtype=bool)
    scores = sim[off].reshape(len(labels), -1)
    truth = (labels[:, None] == labels[None, :])[off].reshape(len(labels), -1)
    r = M.retrieval_metrics(emb, labels)
    assert r["ndcg@10"] == pytest.approx(ndcg_score(truth, scores, k=10))
    order = np.argsort(-scores, axis=1)
    for k in (1, 5, 10):
        hit = np.take_along_axis(truth, order[:, :k], axis=1).any(axis=1)
        assert r[f"recall@{k}"] == pytest.approx(hit.mean())


def test_ranking_is_independent_of_chunking():
    emb, labels = _random_set(3, identities=9, per_identity=3, decimals=1)
    q = np.arange(len(labels))
    a = M.rank_gallery(emb, labels, emb, labels, exclude=q, top=5, chunk=4)
    b = M.rank_gallery(emb, labels, emb, labels, exclude=q, top=5)
    np.testing.assert_array_equal(a.first_hit, b.first_hit)
    np.testing.assert_array_equal(a.top, b.top)


def test_retrieval_needs_an_identity_with_two_images():
    with pytest.raises(ValueError, match="no identity has two images"):
        M.retrieval_metrics(np.eye(3, dtype=np.float32), ["a", "b", "c"])


def test_purity_hand_computed():
    # Clusters: {0, 0} -> 2 majority, {0, 1, 1} -> 2, {2} -> 1: purity 5/6.
    assert M.purity([0, 0, 0, 1, 1, 2], [1, 1, 0, 0, 0, 2]) == pytest.approx(5 / 6)
    assert M.purity([0, 1, 2], [0, 0, 0]) == pytest.approx(1 / 3)


def test_clustering_separated_identities_is_perfect():
    emb = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)
    c = M.clustering_metrics(emb, np.repeat(list("wxyz"), 3))
    assert c["k"] == 4
    assert c["nmi"] == pytest.approx(1.0) and c["ari"] == pytest.approx(1.0) and c["purity"] == 1.0


def test_roc_matches_sklearn_with_ties():
    rng = np.random.default_rng(4)
    pos, neg = np.round(rng.normal(0.6, 0.2, 400), 2), np.round(rng.normal(0.2, 0.2, 5000), 2)
    y, s = np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]
    far, tar, thresholds = M.roc(pos, neg)
    ref_far, ref_tar, ref_thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(far, ref_far)
    np.testing.assert_allclose(tar, ref_tar)
    np.testing.assert_allclose(thresholds[1:], ref_thr[1:])
    result = M.pair_metrics(pos, neg)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    for target in M.FAR_TARGETS:
        best = ref_tar[ref_fpr_ok].max() if (ref_fpr_ok := ref_far <= target).any() else 0.0
        entry = result["far"][f"{target:.0e}"]
        assert entry["tar"] == pytest.approx(best)
        assert entry["achieved_far"] <= target
        # The threshold reproduces the operating point (accept score >= threshold).
        assert np.mean(pos >= entry["threshold"]) == pytest.approx(entry["tar"])
        assert np.mean(neg >= entry["threshold"]) == pytest.approx(entry["achieved_far"])
    assert [result["far"][k]["resolved"] for k in ("1e-02", "1e-03", "1e-04")] == [True, True, False]


def test_eer_tar_and_accuracy_hand_computed():
    # Thresholds descending: .9 (FAR 0, TAR 1/3), .8 (0, 2/3), .7 (1/3, 2/3), .4 (1/3, 1) ...
    # FAR = FRR = 1/3 exactly at .7; the best balanced accuracy (5/6) at .8 and .4: the stricter wins.
    r = M.pair_metrics(np.array([0.9, 0.8, 0.4]), np.array([0.7, 0.3, 0.2]))
    assert r["eer"] == pytest.approx(1 / 3)
    assert r["eer_threshold"] == pytest.approx(0.7)
    assert r["best_accuracy"] == pytest.approx(5 / 6)
    assert r["best_accuracy_threshold"] == pytest.approx(0.8)
    # No false accept allowed among 3 impostors: the threshold sits just above the highest impostor (.7).
    assert r["far"]["1e-02"] == {"tar": pytest.approx(2 / 3), "threshold": pytest.approx(0.7),
                                 "achieved_far": 0.0, "resolved": False}
    assert r["far"]["1e-02"]["threshold"] > 0.7
    assert r["roc_auc"] == pytest.approx(8 / 9)  # 8 of 9 (pos, neg) pairs ordered correctly


def test_eer_interpolates_between_roc_points():
    # A positive and a negative tie at .5: the ROC steps diagonally from (0, .5) to (.5, 1), where
    # FAR - FRR goes from -.5 to +.5; the crossing is halfway, at FAR = FRR = .25.
    r = M.pair_metrics(np.array([0.9, 0.5]), np.array([0.5, 0.1]))
    assert r["eer"] == pytest.approx(0.25)
    assert r["roc_auc"] == pytest.approx(0.875)  # 3 of 4 pairs ordered, 1 tied (half credit)


def test_pairs_are_reproducible_distinct_and_balanced():
    labels = np.repeat(np.arange(20), 5)  # 200 same-identity pairs, 4750 different
    pairs, same = M.sample_pairs(labels, 300, seed=7)
    again, _ = M.sample_pairs(labels, 300, seed=7)
    np.testing.assert_array_equal(pairs, again)
    assert not np.array_equal(pairs, M.sample_pairs(labels, 300, seed=8)[0])
    assert same.sum() == 150 and len(pairs) == 300
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert len({tuple(p) for p in pairs}) == 300
    np.testing.assert_array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)


def test_pairs_take_everything_when_asked_for_more_than_exist():
    labels = np.array([0, 0, 1, 1, 2])  # 10 pairs, 2 same-identity
    pairs, same = M.sample_pairs(labels, 50_000)
    assert len(pairs) == 10 and same.sum() == 2
    assert len({tuple(p) for p in pairs}) == 10


def test_pairs_on_a_large_set_use_the_sampled_path():
    labels = np.repeat(np.arange(1500), 2)  # 3000 images: 4.5 M pairs, too many to enumerate
    pairs, same = M.sample_pairs(labels, 4000, seed=1)
    assert same.sum() == 1500 and (~same).sum() == 2500
    assert len({tuple(p) for p in pairs}) == 4000
    assert (labels[pairs[~same, 0]] != labels[pairs[~same, 1]]).all()


def test_pairs_need_two_identities():
    with pytest.raises(ValueError, match="2 identities"):
        M.sample_pairs(["a", "a", "a"], 10)


def test_triplets_hand_computed():
    emb = np.array([[1, 0], [S, S], [0, 1], [-1, 0]], dtype=np.float32)
    triplets = np.array([[0, 1, 2], [0, 2, 1], [0, 1, 1], [0, 1, 3]])
    # margins: .707 - 0, 0 - .707, 0 (a tie is a violation), .707 + 1
    t = M.triplet_metrics(emb, triplets)
    assert t["violation_rate"] == pytest.approx(0.5)
    assert t["mean_margin"] == pytest.approx((S - S + 0 + S + 1) / 4, abs=1e-6)


def test_triplet_sampling_is_valid_and_reproducible():
    labels = np.array([0, 0, 1, 1, 1, 2, 3, 3])  # identity 2 is a singleton: never an anchor
    t = M.sample_triplets(labels, 2000, seed=3)
    np.testing.assert_array_equal(t, M.sample_triplets(labels, 2000, seed=3))
    a, p, n = t.T
    assert (a != p).all() and (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all()
    assert 5 not in a and 5 in n  # singletons serve only as negatives
    assert set(a) == {0, 1, 2, 3, 4, 6, 7}


def test_matched_sample_has_equal_shape_in_both_sets():
    train = np.repeat(np.arange(50), 7)
    test = np.r_[np.repeat(np.arange(10), 4), [98, 99]]  # 10 identities of 4, 2 singletons
    ia, ib, k, m = M.matched_sample(train, test, max_images=2000, seed=0)
    assert (k, m) == (10, 4)
    for idx, labels in ((ia, train), (ib, test)):
        assert len(set(idx)) == 40
        _, counts = np.unique(labels[idx], return_counts=True)
        assert counts.tolist() == [4] * 10
    ia, ib, k, m = M.matched_sample(train, test, max_images=12, seed=0)
    assert k * m <= 12 and k >= 2 and len(ia) == len(ib) == k * m
    with pytest.raises(ValueError, match="2 identities with 2 images"):
        M.matched_sample(train, [1, 2, 3], max_images=100)


def test_open_set_scores_in_frvt_terms():
    """Known geometry: each pet's photos share one direction; pet 0 and pet 1 are look-alikes (cosine 0.8)."""
    from petface_edge.evaluation.openset import gallery_sizes, open_set_metrics, open_set_scores

    pets, photos, dim = 40, 4, 64
    directions = np.eye(dim)[:pets].copy()
    directions[1] = 0.8 * directions[0] + 0.6 * directions[1]
    labels = np.repeat(np.arange(pets), photos)
    emb = directions[labels]
    s = open_set_scores(emb, labels, pets=10, rounds=3, seed=0)
    assert s.templates == 20 and len(s.mated_score) == 3 * 10 * 2 and len(s.stranger_best) == 3 * 30 * 4
    assert np.allclose(s.mated_score, 1.0) and s.rank(1) == 1.0
    # A stranger scores 0.8 when its look-alike is enrolled, else 0.
    assert set(np.round(s.stranger_best, 6)) <= {0.0, 0.8}
    assert s.fpir(0.9) == 0.0 and s.fnir(0.9) == 0.0 and s.fnir(1.01) == 1.0
    assert s.fpir(0.5) == pytest.approx(np.mean(s.stranger_best > 0.5))
    assert gallery_sizes(labels, (10, 35, 36, 100)) == [10, 35]  # 5 pets must stay out as strangers
    m = open_set_metrics(emb, labels, sizes=(10, 100))
    assert m["gallery_sizes"] == [10] and m["skipped_sizes"] == [100]
    ten = m["by_size"]["10"]
    assert ten["rank1"] == ten["rank5"] == 1.0 and ten["fnir_at_fpir"]["1e-2"]["fnir"] == 0.0
