"""Decision policies: the impostor tail model against exact counts, the identify table, its run-time lookup."""

import numpy as np
import pytest
from scipy import stats

from petface_edge.runtime.decisions import DecisionPolicy, OperatingPoint, resolve
from petface_edge.thresholds import (
    IDENTIFY_FPIRS,
    TEMPLATE_COUNTS,
    VERIFY_FARS,
    UnsupportedTargetError,
    calibrate_policies,
    fit_tail,
    identify_threshold,
    tail_thresholds,
    verify_threshold,
)

DIM = 64  # cosines of independent random unit vectors in DIM dimensions: (1 + c) / 2 ~ Beta(a, a), a = (DIM-1)/2
A = (DIM - 1) / 2


def _true_far(t: float) -> float:
    return float(stats.beta.sf((t + 1) / 2, A, A))


def _cosines(n: int, seed: int) -> np.ndarray:
    return 2 * np.random.default_rng(seed).beta(A, A, n) - 1


@pytest.fixture(scope="module")
def policies():
    """Tables from 30 identities x 6 images of clustered random embeddings (15,660 impostor pairs)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(30), 6)
    emb = rng.standard_normal((30, 48))[labels] + 1.2 * rng.standard_normal((180, 48))
    return calibrate_policies(emb, [f"pet{i}" for i in labels])


def test_tail_model_against_exact_counts():
    """Fitted on 5,000 impostor scores, the bound holds at FARs 2 to 20 times below 1 / pairs, without absurd margin."""
    fars = [1e-3, 1e-4, 1e-5]
    ratios = []
    for seed in range(10):
        scores = _cosines(5000, seed)
        point = fit_tail(scores)
        bound = tail_thresholds(scores, fars, seed=seed)
        ratios.append([_true_far(t) / far for t, far in zip(bound, fars)])
        assert all(b >= point.threshold(far) for b, far in zip(bound, fars))  # the bound is never looser
    ratios = np.array(ratios)
    print(f"\ntrue FAR / target at the shipped threshold, 10 samples:\n{np.round(ratios, 3)}")
    assert np.median(ratios, axis=0).max() <= 1.0  # conservative as a rule
    assert ratios.max() <= 2.0  # and never more than 2x off
    assert np.median(ratios[:, 0]) >= 0.05  # not so conservative that it rejects everything


def test_point_estimate_tracks_direct_counts_where_the_sample_resolves_them():
    scores = _cosines(20_000, 1)
    fit = fit_tail(scores)
    for far in (1e-2, 1e-3):  # 200 and 20 false accepts in the sample itself
        assert _true_far(fit.threshold(far)) == pytest.approx(far, rel=0.5)
        assert fit.far(fit.threshold(far)) == pytest.approx(far, rel=0.05)


def test_tail_model_refuses_bad_input():
    with pytest.raises(ValueError):
        fit_tail(np.r_[_cosines(500, 0), np.nan])
    with pytest.raises(ValueError):
        fit_tail(_cosines(20, 0))
    assert tail_thresholds(_cosines(1000, 0), [1e-6]) == [None]  # 1e-6 * 1000 * 100 < 1: unsupported




def test_identify_table_is_monotonic_in_n_and_fpir(policies):
    table = policies["identify"]
    assert table["template_counts"] == list(TEMPLATE_COUNTS) and table["default_fpir"] == 1e-2
    columns = [table["thresholds"][k] for k in ("1e-1", "1e-2", "1e-3")]
    for column in columns:
        known = [t for t in column if t is not None]
        assert known == sorted(known) and len(set(known)) == len(known)  # strictly rises with N
        first_gap = column.index(None) if None in column else len(column)
        assert all(t is None for t in column[first_gap:])  # supported up to some N, then never again
    for looser, stricter in zip(columns, columns[1:]):
        assert all(s > loose for loose, s in zip(looser, stricter) if s is not None)
    # One template at FPIR p is verify at FAR p: the same tail, the same number.
    assert columns[1][0] == policies["verify"]["thresholds"]["1e-2"]
    assert set(policies["verify"]["thresholds"]) == {f"1e-{k}" for k in range(2, 6)} and len(VERIFY_FARS) == 4
    assert policies["calibration"]["impostor_pairs"] == 15660 and len(IDENTIFY_FPIRS) == 3


def test_identify_table_against_direct_counts_on_simulated_galleries(policies):
    """Export simulates galleries of the held-out pets and counts strangers accepted at the table's thresholds."""
    checks = policies["identify"]["checks"]
    assert sorted({c["pets"] for c in checks}) == [2, 5, 10, 20]  # 30 pets: 25 leave 5 strangers, 50 do not fit
    for c in checks:
        assert c["templates"] == 2 * c["pets"] and c["strangers"] == 10 * (30 - c["pets"]) * 6
        assert c["threshold"] == identify_threshold(policies, float(c["fpir"]), c["templates"])
        assert c["false_alarms"] / c["strangers"] == c["measured_fpir"] <= float(c["fpir"])  # conservative


def test_lookup_interpolates_on_log_n(policies):
    column = policies["identify"]["thresholds"]["1e-2"]
    counts = list(TEMPLATE_COUNTS)
    at = {n: identify_threshold(policies, 1e-2, n) for n in (10, 20, 14, 1, 0)}
    assert at[10] == column[counts.index(10)] and at[20] == column[counts.index(20)]
    f = np.log(14 / 10) / np.log(2)
    assert at[14] == pytest.approx(at[10] + f * (at[20] - at[10]))
    assert at[1] == at[0] == column[0]  # an empty gallery decides like a single template
    assert verify_threshold(policies, 1e-3) == policies["verify"]["thresholds"]["1e-3"]


def test_unsupported_and_uncalibrated_targets_are_refused_in_one_line(policies):
    with pytest.raises(UnsupportedTargetError) as info:
        identify_threshold(policies, 1e-3, 100_000, "onnx-fp32")
    message = str(info.value)
    assert "\n" not in message and "onnx-fp32" in message and "100000 templates" in message
    assert "30 held-out identities" in message and "15660 impostor pairs" in message
    with pytest.raises(UnsupportedTargetError, match="was not calibrated"):
        identify_threshold(policies, 2e-2, 10)
    with pytest.raises(UnsupportedTargetError, match="no identify calibration"):
        identify_threshold({"best_accuracy": 0.3}, 1e-2, 10)
    with pytest.raises(UnsupportedTargetError, match="beyond"):
        identify_threshold(policies, 1e-2, 10**7)


def test_resolve_precedence_and_operating_point(policies):
    levels = [(None, None, "call"), (None, 1e-1, "gallery policy"), (0.9, None, "embedder options")]
    point = resolve("identify", levels, policies, "tflite-fp32", templates=24)
    assert point == OperatingPoint("identify", identify_threshold(policies, 1e-1, 24), 1e-1, 24, point.source)
    assert "gallery policy" in point.source and "FPIR 1e-1 at 24 templates" in point.describe()
    raw = resolve("verify", [(0.5, None, "call"), (None, 1e-2, "embedder options")], policies, "x")
    assert (raw.threshold, raw.target, raw.gallery_size) == (0.5, None, None)
    default = resolve("verify", [], policies, "x")
    assert default.target == 1e-3 and default.threshold == policies["verify"]["thresholds"]["1e-3"]
    with pytest.raises(UnsupportedTargetError, match="pass a threshold"):
        resolve("identify", [], None, "x", templates=4)
    with pytest.raises(ValueError, match="not both"):
        DecisionPolicy(identify_fpir=1e-2, identify_threshold=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        DecisionPolicy(verify_far=1.5)
