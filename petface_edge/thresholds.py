"""Operating points: the one definition of every decision threshold petface-edge uses.

Training (val accuracy), export (the thresholds shipped in the manifest, the parity gate's
accuracy delta) and evaluation (ROC, EER, TAR at FAR) all take their thresholds from here,
so "best accuracy" or "FAR 1e-3" means the same thing everywhere.

Conventions, once: a pair is accepted when ``score >= threshold`` (cosine similarity);
"genuine" pairs show the same pet, "impostor" pairs two different pets. Pair sampling is
bounded (``max_pairs``): a split is never turned into its full N x N similarity matrix.
numpy only: the runtime imports this module too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .errors import InvalidArgumentError

FAR_TARGETS = (1e-2, 1e-3, 1e-4)
# Pairs scored per split: all genuine pairs up to half of this, impostor pairs for the rest.
# 200k impostor pairs resolve FAR 1e-4 with 20 false accepts.
DEFAULT_MAX_PAIRS = 400_000
# Enumerate every pair below this many (then choose among them); sample above it.
_ENUMERATE_LIMIT = 4_000_000


def encode_labels(labels: Sequence) -> np.ndarray:
    """Identity labels to dense int codes (same code = same identity)."""
    return np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)


def _positive_pairs(y: np.ndarray) -> np.ndarray:
    parts = [np.empty((0, 2), dtype=np.int64)]
    for members in np.split(np.argsort(y, kind="stable"), np.cumsum(np.bincount(y))[:-1]):
        a, b = np.triu_indices(len(members), 1)
        parts.append(np.stack([members[a], members[b]], axis=1))
    return np.concatenate(parts)


def _negative_pairs(y: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    if n * (n - 1) // 2 <= _ENUMERATE_LIMIT:  # small enough to enumerate every pair and choose among them
        i, j = np.triu_indices(n, 1)
        different = np.flatnonzero(y[i] != y[j])
        chosen = np.sort(rng.choice(len(different), count, replace=False))
        return np.stack([i[different[chosen]], j[different[chosen]]], axis=1)
    # Large sets: draw random pairs, keep distinct different-identity ones in draw order.
    codes = np.empty(0, dtype=np.int64)
    while len(codes) < count:
        a, b = rng.integers(0, n, size=(2, 2 * count))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = y[lo] != y[hi]
        codes = np.concatenate([codes, lo[keep] * n + hi[keep]])
        _, first = np.unique(codes, return_index=True)
        codes = codes[np.sort(first)]
    codes = codes[:count]
    return np.stack([codes // n, codes % n], axis=1)


def sample_pairs(labels: Sequence, n_pairs: int = DEFAULT_MAX_PAIRS, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Reproducible distinct unordered pairs: up to half genuine, the rest impostor.

    Random pairs would be almost all impostors on a real set; balancing keeps the TAR estimate
    usable while leaving about ``n_pairs / 2`` impostors to resolve small FARs. When fewer
    pairs exist than asked for, every pair is returned. Returns ``(pairs (M, 2), same (M,))``.
    """
    y = encode_labels(labels)
    if y.max(initial=-1) < 1:
        raise InvalidArgumentError("pair ranking needs at least 2 identities")
    rng = np.random.default_rng(seed)
    positives = _positive_pairs(y)
    all_negatives = len(y) * (len(y) - 1) // 2 - len(positives)
    n_pos = min(len(positives), n_pairs // 2)
    positives = positives[np.sort(rng.choice(len(positives), n_pos, replace=False))]
    negatives = _negative_pairs(y, min(all_negatives, n_pairs - n_pos), rng)
    pairs = np.concatenate([positives, negatives])
    same = np.concatenate([np.ones(len(positives), bool), np.zeros(len(negatives), bool)])
    return pairs, same


def pair_similarities(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine of each pair of (already L2-normalized) rows, in float64."""
    return np.einsum("ij,ij->i", embeddings[pairs[:, 0]], embeddings[pairs[:, 1]]).astype(np.float64)


def pair_scores(embeddings: np.ndarray, labels: Sequence, max_pairs: int = DEFAULT_MAX_PAIRS,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) cosine scores over a bounded, reproducible sample of pairs."""
    emb = np.asarray(embeddings, dtype=np.float32)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    pairs, same = sample_pairs(labels, max_pairs, seed)
    scores = pair_similarities(emb, pairs)
    return scores[same], scores[~same]


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC over every distinct score, accepting ``score >= threshold``: ``(far, tar, thresholds)``.

    The first point (0, 0) has a threshold just above the highest score (accept nothing);
    each later point's threshold is a score, so all pairs scoring it are accepted.
    """
    scores = np.concatenate([genuine, impostor]).astype(np.float64)
    is_pos = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    order = np.argsort(-scores, kind="stable")
    scores, is_pos = scores[order], is_pos[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(is_pos)[last_of_value]
    fp = (last_of_value + 1) - tp
    far = np.r_[0.0, fp / max(len(impostor), 1)]
    tar = np.r_[0.0, tp / max(len(genuine), 1)]
    thresholds = np.r_[np.nextafter(scores[0], np.inf), scores[last_of_value]]
    return far, tar, thresholds


def best_accuracy(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(threshold, balanced accuracy) at the threshold that maximizes balanced accuracy.

    Balanced accuracy is the mean of the genuine accept rate and the impostor reject rate:
    plain accuracy on an impostor-heavy sample would favour rejecting everything. Ties go
    to the stricter threshold (fewer false accepts).
    """
    if len(genuine) == 0 or len(impostor) == 0:
        raise InvalidArgumentError(f"a threshold needs genuine and impostor pairs; got {len(genuine)} genuine "
                                   f"and {len(impostor)} impostor")
    far, tar, thresholds = roc(genuine, impostor)
    accuracy = (tar + (1.0 - far)) / 2
    best = int(np.argmax(np.round(accuracy, 12)))  # first maximum = highest threshold (ROC runs high to low)
    return float(thresholds[best]), float(accuracy[best])


def far_threshold(impostor: np.ndarray, far: float) -> float:
    """The lowest threshold whose false-accept rate on these impostor scores is at most ``far``.

    With fewer than ``1 / far`` impostor scores no false accept is allowed, and this is just
    above the highest impostor score: the strictest estimate the data supports. Callers that
    need FARs the sample cannot resolve must model the tail instead.
    """
    desc = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    if len(desc) == 0:
        raise InvalidArgumentError("a FAR threshold needs impostor pairs")
    allowed = int(np.floor(far * len(desc)))
    if allowed >= len(desc):
        return float(desc[-1])
    return float(np.nextafter(desc[allowed], np.inf))


def far_resolvable(impostor_count: int, far: float) -> bool:
    """Whether ``impostor_count`` pairs can measure ``far`` (at least one false accept allowed)."""
    return impostor_count * far >= 1


# -- Decision policies: verify (1:1, a target FAR) and identify (1:N, a target FPIR at the gallery's size) --------
#
# A held-out split holds thousands of impostor pairs; FPIR 1e-2 over 200 templates needs a FAR near 5e-5. So the
# upper tail of the impostor scores is modelled, not counted: a generalized Pareto distribution (GPD, the
# extreme-value law of exceedances over a high threshold) is fitted to the top scores by probability-weighted
# moments, and its quantile is the threshold. Its uncertainty is applied conservatively: the identities behind the
# pairs are resampled with replacement (pairs of the same pets are not independent), the fit is repeated, and the
# threshold shipped is the 99th percentile of the refits. Identify thresholds come from the verify tail through the
# union bound: a stranger is falsely accepted when any of the N templates scores above t, so
# FPIR(t, N) <= N * FAR(t) whatever the dependence between templates, and t(N) = t_FAR(FPIR / N).
# A target whose FAR lies more than MAX_EXTRAPOLATION times below 1 / (impostor pairs) is not supported: it is
# stored as null and the runtime refuses it instead of guessing.

VERIFY_FARS = (1e-2, 1e-3, 1e-4, 1e-5)
IDENTIFY_FPIRS = (1e-1, 1e-2, 1e-3)
DEFAULT_FAR = 1e-3
DEFAULT_FPIR = 1e-2
# Template counts of the identify table (1-2-5 steps); the runtime interpolates on log N between them.
TEMPLATE_COUNTS = tuple(int(m * 10 ** e) for e in range(6) for m in (1, 2, 5) if m * 10 ** e <= 100_000)
MAX_EXTRAPOLATION = 100  # trust the tail model down to FAR = 1 / (100 x impostor pairs), no further
# The exceedances: the top 3% of impostor scores, but at least 50 and at most 500 (the tail, not the body: a
# 10% tail biased the shape towards a too-short tail in simulations against 3M direct counts).
TAIL_FRACTION = 0.03
MIN_EXCEEDANCES = 50
MAX_EXCEEDANCES = 500
MIN_IMPOSTORS = 2 * MIN_EXCEEDANCES
BOOTSTRAP_ROUNDS = 200
COSINE_MAX = 1.0
CONFIDENCE = 0.99


def rate_key(rate: float) -> str:
    """The manifest's spelling of a rate: 1e-3 -> "1e-3"."""
    return f"{rate:.0e}".replace("e-0", "e-").replace("e+0", "e")


class TailFit:
    """A GPD fitted to the upper tail of (weighted) impostor scores: ``FAR(t)`` and its inverse.

    ``u`` is the tail's start, ``rate`` the weight fraction of scores above it, ``sigma`` and ``xi``
    the GPD scale and shape (``xi < 0``: a bounded tail, as cosines are, ending at or below 1).
    Below ``rate`` the threshold comes from the GPD; at or above it, from the scores themselves.
    """

    def __init__(self, desc: np.ndarray, weights: np.ndarray) -> None:
        keep = weights > 0
        self._desc, self._w = desc[keep], weights[keep].astype(np.float64)
        total = self._w.sum()
        self._cum = np.cumsum(self._w) / total
        fraction = min(max(TAIL_FRACTION, MIN_EXCEEDANCES / len(self._desc)), MAX_EXCEEDANCES / len(self._desc))
        k = int(np.searchsorted(self._cum, fraction)) + 1  # top entries holding that weight fraction
        k = min(max(k, 2), len(self._desc) - 1)
        self.u = float(self._desc[k])
        self.rate = float(self._cum[k - 1])
        y, w = self._desc[:k][::-1] - self.u, self._w[:k][::-1]  # exceedances, ascending
        plotting = (np.cumsum(w) - 0.5 * w) / w.sum()
        a0 = float(np.sum(w * y) / w.sum())
        a1 = float(np.sum(w * y * (1.0 - plotting)) / w.sum())
        denom = a0 - 2.0 * a1
        if a0 <= 0 or denom <= 0:  # every exceedance equal: a point mass, the tail ends at u
            self.xi, self.sigma = -1.0, max(a0, 1e-12)
        else:  # Hosking & Wallis (1987) probability-weighted moments
            self.xi = float(2.0 - a0 / denom)
            self.sigma = float(2.0 * a0 * a1 / denom)
        # Cosines end at 1: a tail whose end, u + sigma / -xi, lies beyond is capped to end there (a fit on a few
        # identities can come out heavy-tailed, xi > 0, which no cosine distribution is).
        self.xi = min(self.xi, -self.sigma / max(COSINE_MAX - self.u, 1e-9))

    def threshold(self, far: float) -> float:
        """The score above which a fraction ``far`` of impostors lies."""
        if far >= self.rate:
            i = int(np.searchsorted(self._cum, far, side="right"))
            return float(np.nextafter(self._desc[min(i, len(self._desc) - 1)], np.inf))
        ratio = far / self.rate
        if abs(self.xi) < 1e-9:
            return self.u - self.sigma * float(np.log(ratio))
        return self.u + self.sigma / self.xi * (ratio ** (-self.xi) - 1.0)

    def far(self, threshold: float) -> float:
        """The modelled fraction of impostor scores at or above ``threshold``."""
        if threshold <= self.u:
            return float(np.sum(self._w[self._desc >= threshold]) / self._w.sum())
        if abs(self.xi) < 1e-9:
            return self.rate * float(np.exp(-(threshold - self.u) / self.sigma))
        return self.rate * float((1.0 + self.xi * (threshold - self.u) / self.sigma) ** (-1.0 / self.xi))


def fit_tail(impostor: np.ndarray) -> TailFit:
    """The tail model of impostor scores (all pairs weighted equally)."""
    desc = _checked_desc(impostor)
    return TailFit(desc, np.ones(len(desc)))


def _checked_desc(impostor: np.ndarray) -> np.ndarray:
    scores = np.asarray(impostor, dtype=np.float64).reshape(-1)
    if not np.isfinite(scores).all():
        raise InvalidArgumentError("impostor scores contain NaN or infinity")
    if len(scores) < MIN_IMPOSTORS:
        raise InvalidArgumentError(f"the tail model needs at least {MIN_IMPOSTORS} impostor pairs, got {len(scores)}")
    return np.sort(scores)[::-1]


def supported_far(impostor_count: int, far: float) -> bool:
    """Whether ``impostor_count`` pairs support a threshold at ``far`` through the tail model."""
    return impostor_count >= MIN_IMPOSTORS and far * impostor_count * MAX_EXTRAPOLATION >= 1


def tail_thresholds(impostor: np.ndarray, fars: Sequence[float], identities: Optional[np.ndarray] = None,
                    seed: int = 0) -> list[Optional[float]]:
    """Conservative thresholds for each target FAR (None where unsupported), from the tail model.

    ``identities`` (M, 2): the identity codes of each impostor pair; the bootstrap then resamples
    identities, else pairs. Each value is the larger of the point estimate and the
    ``CONFIDENCE`` percentile of ``BOOTSTRAP_ROUNDS`` refits.
    """
    scores = np.asarray(impostor, dtype=np.float64).reshape(-1)
    ok = [supported_far(len(scores), far) for far in fars]
    if not any(ok):
        return [None] * len(fars)
    order = np.argsort(-scores, kind="stable")
    desc = _checked_desc(scores)
    wanted = [far for far, good in zip(fars, ok) if good]
    point = TailFit(desc, np.ones(len(desc)))
    rng = np.random.default_rng(seed)
    rounds = np.empty((BOOTSTRAP_ROUNDS, len(wanted)))
    ids = None if identities is None else encode_labels(np.asarray(identities).reshape(-1)).reshape(-1, 2)[order]
    for b in range(BOOTSTRAP_ROUNDS):
        if ids is None:
            weights = rng.multinomial(len(desc), np.full(len(desc), 1.0 / len(desc))).astype(np.float64)
        else:
            n_ids = int(ids.max()) + 1
            times = np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids).astype(np.float64)
            weights = times[ids[:, 0]] * times[ids[:, 1]]
        if np.count_nonzero(weights) < MIN_IMPOSTORS:
            rounds[b] = np.inf  # a resample this thin supports nothing: count it as the strictest outcome
            continue
        fit = TailFit(desc, weights)
        rounds[b] = [fit.threshold(far) for far in wanted]
    bound = np.quantile(rounds, CONFIDENCE, axis=0, method="higher")
    values = iter(max(point.threshold(far), float(hi)) for far, hi in zip(wanted, bound))
    return [next(values) if good else None for good in ok]


def identify_far(fpir: float, templates: int) -> float:
    """The per-template FAR that keeps a stranger's false-alarm rate over ``templates`` at ``fpir`` (union bound)."""
    return fpir / max(int(templates), 1)


def calibrate_policies(embeddings: np.ndarray, labels: Sequence, max_pairs: int = DEFAULT_MAX_PAIRS,
                       seed: int = 0) -> dict:
    """The verify and identify tables of one artifact, from its embeddings of held-out identities.

    ``verify``: a threshold per target FAR. ``identify``: per target FPIR, a threshold per entry
    of ``template_counts``. Unsupported entries are None (the runtime refuses them).
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if not np.isfinite(emb).all():
        raise InvalidArgumentError("embeddings contain NaN or infinity")
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    y = encode_labels(labels)
    pairs, same = sample_pairs(labels, max_pairs, seed)
    scores = pair_similarities(emb, pairs)
    impostor, identities = scores[~same], y[pairs[~same]]
    fars = sorted({*VERIFY_FARS, *(identify_far(p, n) for p in IDENTIFY_FPIRS for n in TEMPLATE_COUNTS)})
    table = dict(zip(fars, tail_thresholds(impostor, fars, identities, seed)))
    n = len(impostor)
    policies = {
        "verify": {
            "default_far": DEFAULT_FAR,
            "thresholds": {rate_key(far): table[far] for far in VERIFY_FARS},
        },
        "identify": {
            "default_fpir": DEFAULT_FPIR,
            "template_counts": list(TEMPLATE_COUNTS),
            "thresholds": {rate_key(p): [table[identify_far(p, t)] for t in TEMPLATE_COUNTS] for p in IDENTIFY_FPIRS},
        },
        "calibration": {
            "identities": int(y.max()) + 1, "images": int(len(y)), "impostor_pairs": n,
            "genuine_pairs": int(same.sum()), "lowest_far": 1.0 / (MAX_EXTRAPOLATION * n),
            "method": (f"GPD tail of impostor scores (top {TAIL_FRACTION:.0%}, {MIN_EXCEEDANCES}..{MAX_EXCEEDANCES} "
                       f"scores, probability-weighted moments), {CONFIDENCE:.0%} upper bound over "
                       f"{BOOTSTRAP_ROUNDS} identity resamples; identify: union bound FAR = FPIR / templates; "
                       f"unsupported below FAR 1/({MAX_EXTRAPOLATION} x impostor pairs)"),
        },
    }
    policies["identify"]["checks"] = _identify_checks(emb, labels, policies, seed)
    return policies


def _identify_checks(embeddings: np.ndarray, labels: Sequence, policies: dict, seed: int) -> list[dict]:
    """The table against direct counts: galleries simulated from the held-out pets, strangers counted.

    Few held-out pets make small galleries and few strangers, so this checks the small-N end of
    the table (and FPIRs the stranger count resolves); the tail model carries it further.
    """
    checks = []
    for pets in gallery_sizes(labels, CHECK_GALLERY_PETS):
        s = open_set_scores(embeddings, labels, pets, seed=seed)
        for fpir in IDENTIFY_FPIRS:
            try:
                t = identify_threshold(policies, fpir, s.templates)
            except UnsupportedTargetError:
                continue
            checks.append({"pets": pets, "templates": s.templates, "fpir": rate_key(fpir), "threshold": t,
                           "strangers": int(len(s.stranger_best)),
                           "false_alarms": int(np.sum(s.stranger_best >= t)), "measured_fpir": s.fpir(t)})
    return checks


# -- Simulated galleries: open-set scores in NIST FRVT's terms ---------------------------------------------------

ENROLL_IMAGES = 2
MIN_STRANGER_PETS = 5  # a gallery size is measured only when this many pets stay out of it
ROUNDS = 10
CHECK_GALLERY_PETS = (2, 5, 10, 20, 50, 100)  # gallery sizes export simulates from the val pets, where they fit


@dataclass
class OpenSetScores:
    """Pooled scores of one gallery size: strangers' best scores, mated queries' own-pet score and rank."""

    pets: int
    templates: int  # templates per gallery (the N an identify threshold is chosen for)
    stranger_best: np.ndarray
    mated_score: np.ndarray
    mated_rank: np.ndarray  # 1-based, ties pessimistic (another pet at the same score ranks first)

    def fpir(self, threshold: float) -> float:
        return float(np.mean(self.stranger_best >= threshold))

    def fnir(self, threshold: float) -> float:
        return float(np.mean(~((self.mated_rank == 1) & (self.mated_score >= threshold))))

    def rank(self, k: int) -> float:
        return float(np.mean(self.mated_rank <= k))


def gallery_sizes(labels: Sequence, sizes: Sequence[int], enroll: int = ENROLL_IMAGES) -> list[int]:
    """The sizes the set can hold: pets with a photo beyond ``enroll`` for the gallery, ``MIN_STRANGER_PETS`` left."""
    counts = np.bincount(encode_labels(labels))
    eligible = int((counts > enroll).sum())
    return [g for g in sizes if g <= eligible and len(counts) - g >= MIN_STRANGER_PETS]


def open_set_scores(embeddings: np.ndarray, labels: Sequence, pets: int, enroll: int = ENROLL_IMAGES,
                    rounds: int = ROUNDS, seed: int = 0) -> OpenSetScores:
    """Enroll ``pets`` random pets (``enroll`` photos each) ``rounds`` times; score every other photo against them."""
    emb = np.asarray(embeddings, dtype=np.float32)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    y = encode_labels(labels)
    eligible = np.flatnonzero(np.bincount(y) > enroll)
    rng = np.random.default_rng(seed)
    stranger, mated, ranks = [], [], []
    for _ in range(rounds):
        chosen = rng.choice(eligible, pets, replace=False)
        slot = np.full(y.max() + 1, -1)
        slot[chosen] = np.arange(pets)
        templates, owner, enrolled = [], [], np.zeros(len(y), bool)
        for p, identity in enumerate(chosen):
            photos = rng.choice(np.flatnonzero(y == identity), enroll, replace=False)
            templates.append(emb[photos])
            owner += [p] * enroll
            enrolled[photos] = True
        sims = emb[~enrolled] @ np.concatenate(templates).T  # (queries, templates)
        pet_scores = np.full((len(sims), pets), -np.inf, np.float32)
        np.maximum.at(pet_scores.T, np.asarray(owner), sims.T)
        query_pet = slot[y[~enrolled]]
        is_mated = query_pet >= 0
        stranger.append(pet_scores[~is_mated].max(axis=1))
        own = pet_scores[is_mated, query_pet[is_mated]]
        mated.append(own)
        ranks.append((pet_scores[is_mated] >= own[:, None]).sum(axis=1))  # itself and every pet tied or above
    return OpenSetScores(pets, pets * enroll, np.concatenate(stranger).astype(np.float64),
                         np.concatenate(mated).astype(np.float64), np.concatenate(ranks))


# -- Run-time lookup of the tables that calibrate_policies wrote (the manifest's artifact ``thresholds``) -----------

class UnsupportedTargetError(InvalidArgumentError):
    """A target rate the artifact's calibration cannot support (or never calibrated): refused, not guessed."""


def _rates(table: dict, where: str, policy: str) -> dict:
    if not isinstance(table, dict) or not isinstance(table.get("thresholds"), dict):
        raise UnsupportedTargetError(f"{where} has no {policy} calibration in its manifest; re-export it with this "
                                     "petface-edge or pass a raw threshold")
    return table["thresholds"]


def _entry(rates: dict, rate: float, where: str, what: str) -> list | float:
    key = rate_key(rate)
    if key not in rates or abs(float(key) - rate) > 1e-9 * rate:
        raise UnsupportedTargetError(f"{where}: {what} {rate:g} was not calibrated (calibrated: "
                                     f"{', '.join(rates)}); pass one of those or a raw threshold")
    return rates[key]


def verify_threshold(policies: dict, far: float, where: str = "this artifact") -> float:
    """The verify threshold for target ``far`` from an artifact's calibration; refuses unsupported targets."""
    value = _entry(_rates(policies.get("verify"), where, "verify"), far, where, "verify FAR")
    if value is None:
        raise UnsupportedTargetError(f"{where}: verify FAR {far:g} is below what its calibration supports "
                                     f"({_support(policies)}); choose a higher FAR or pass a raw threshold")
    return float(value)


def identify_threshold(policies: dict, fpir: float, templates: int, where: str = "this artifact") -> float:
    """The identify threshold for target ``fpir`` over ``templates`` gallery templates, interpolated on log N.

    Between two table entries the threshold is linear in log N; below the first entry the first
    is used. Past the last supported entry the target is refused.
    """
    table = policies.get("identify")
    column = _entry(_rates(table, where, "identify"), fpir, where, "identify FPIR")
    counts = np.asarray(table.get("template_counts", []), dtype=np.float64)
    if len(counts) != len(column) or len(counts) == 0 or np.any(np.diff(counts) <= 0):
        raise UnsupportedTargetError(f"{where}: its identify table is malformed (template counts and thresholds "
                                     "do not line up); re-export it")
    n = max(int(templates), int(counts[0]))
    hi = int(np.searchsorted(counts, n))  # counts[hi - 1] < n <= counts[hi]
    if hi == len(counts) or column[hi] is None or (counts[hi] != n and column[hi - 1] is None):
        largest = max((int(c) for c, t in zip(counts, column) if t is not None), default=0)
        raise UnsupportedTargetError(
            f"{where}: identify FPIR {fpir:g} over {templates} templates is beyond what its calibration supports "
            f"(up to {largest} templates; {_support(policies)}); choose a higher FPIR or pass a raw threshold")
    if counts[hi] == n:
        return float(column[hi])
    lo = hi - 1
    f = (np.log(n) - np.log(counts[lo])) / (np.log(counts[hi]) - np.log(counts[lo]))
    return float(column[lo] + f * (column[hi] - column[lo]))


def _support(policies: dict) -> str:
    cal = policies.get("calibration", {})
    if "impostor_pairs" not in cal:
        return "no calibration details"
    return (f"{cal['identities']} held-out identities, {cal['impostor_pairs']} impostor pairs: "
            f"FAR down to {cal['lowest_far']:.1e}")
