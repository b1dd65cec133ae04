"""Decision policies: which threshold a verify (1:1) or identify (1:N) decision uses, and why.

*Verify* ("is this Luna?") accepts a pair when its cosine reaches the threshold calibrated
for a target FAR (false accepts among impostor pairs; default 1e-3). *Identify* ("who is
this, or nobody?") accepts the best match when it reaches the threshold calibrated for a
target FPIR (strangers accepted as somebody; default 1e-2) **at the gallery's template
count**: a stranger's best score is the maximum over every template, so the threshold rises
with the gallery. Both come from the artifact's manifest tables
(:func:`petface_edge.thresholds.calibrate_policies`); a target the calibration cannot support
raises :class:`UnsupportedTargetError` instead of guessing.

Each decision can be set per call, per :class:`~petface_edge.runtime.gallery.Gallery` and per
:class:`~petface_edge.runtime.embedder.EmbedderOptions`, as a target rate or a raw threshold;
the most specific setting wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from ..errors import InvalidArgumentError
from ..thresholds import (
    DEFAULT_FAR,
    DEFAULT_FPIR,
    UnsupportedTargetError,
    identify_threshold,
    rate_key,
    verify_threshold,
)

VERIFY, IDENTIFY = "verify", "identify"
__all__ = ["DecisionPolicy", "OperatingPoint", "UnsupportedTargetError", "resolve"]


@dataclass(frozen=True)
class OperatingPoint:
    """The decision rule a result was judged by: accept when ``score >= threshold``.

    ``target``: the FAR (verify) or FPIR (identify) the threshold was calibrated for, None for a
    raw threshold. ``gallery_size``: identify only, the template count it was chosen at.
    """

    policy: str
    threshold: float
    target: Optional[float]
    gallery_size: Optional[int]
    source: str

    def describe(self) -> str:
        rate = "FAR" if self.policy == VERIFY else "FPIR"
        goal = f"{rate} {rate_key(self.target)}" if self.target is not None else "raw threshold"
        at = f" at {self.gallery_size} templates" if self.gallery_size is not None else ""
        return f"{self.policy} {goal}{at}: threshold {self.threshold:.4f} ({self.source})"

    def to_dict(self) -> dict:
        return {"policy": self.policy, "threshold": self.threshold, "target": self.target,
                "target_kind": "FAR" if self.policy == VERIFY else "FPIR", "gallery_size": self.gallery_size,
                "source": self.source}


@dataclass(frozen=True)
class DecisionPolicy:
    """Overrides of the default operating points; None leaves a setting to the next level.

    Per policy give a target rate *or* a raw cosine threshold, not both.
    """

    verify_far: Optional[float] = None
    verify_threshold: Optional[float] = None
    identify_fpir: Optional[float] = None
    identify_threshold: Optional[float] = None

    def __post_init__(self) -> None:
        check(self.verify_threshold, self.verify_far, "verify_threshold", "verify_far")
        check(self.identify_threshold, self.identify_fpir, "identify_threshold", "identify_fpir")

    def level(self, policy: str, origin: str) -> tuple[Optional[float], Optional[float], str]:
        """``(threshold, rate, origin)`` of ``policy`` for :func:`resolve`."""
        if policy == VERIFY:
            return self.verify_threshold, self.verify_far, origin
        return self.identify_threshold, self.identify_fpir, origin


def check(threshold: Optional[float], rate: Optional[float], threshold_name: str = "threshold",
          rate_name: str = "rate") -> None:
    """Refuse a rate and a threshold together, a rate outside (0, 1), a non-finite threshold."""
    if threshold is not None and rate is not None:
        raise InvalidArgumentError(f"give {threshold_name} or {rate_name}, not both")
    if rate is not None and not (isinstance(rate, (int, float)) and 0 < rate < 1):
        raise InvalidArgumentError(f"{rate_name} must be a rate between 0 and 1, got {rate!r}")
    if threshold is not None and not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise InvalidArgumentError(f"{threshold_name} must be a finite number, got {threshold!r}")


def resolve(policy: str, levels: Sequence[tuple[Optional[float], Optional[float], str]],
            calibration: Optional[dict], where: str, templates: Optional[int] = None) -> OperatingPoint:
    """The operating point from the first level that sets something, else the calibrated default.

    ``levels``: ``(threshold, rate, origin)`` from the most specific (the call) to the least.
    ``calibration``: the artifact's manifest ``thresholds`` (None when there is no model).
    """
    size = templates if policy == IDENTIFY else None
    for threshold, rate, origin in levels:
        check(threshold, rate)
        if threshold is not None:
            return OperatingPoint(policy, float(threshold), None, size, f"raw threshold from the {origin}")
        if rate is not None:
            return _calibrated(policy, rate, calibration, where, size, f"target from the {origin}")
    if calibration is None:
        raise UnsupportedTargetError(f"no threshold for {policy}: there is no model to take a calibrated one from; "
                                     "pass a threshold")
    table = calibration.get(policy) if isinstance(calibration.get(policy), dict) else {}
    default = table.get("default_far" if policy == VERIFY else "default_fpir",
                        DEFAULT_FAR if policy == VERIFY else DEFAULT_FPIR)
    return _calibrated(policy, float(default), calibration, where, size, "default target")


def _calibrated(policy: str, rate: float, calibration: Optional[dict], where: str, size: Optional[int],
                origin: str) -> OperatingPoint:
    if calibration is None:
        raise UnsupportedTargetError("a target rate needs a model's calibration; this gallery has none: pass a "
                                     "raw threshold")
    if policy == VERIFY:
        value = verify_threshold(calibration, rate, where)
    else:
        value = identify_threshold(calibration, rate, size or 0, where)
    source = calibration.get("calibration", {}).get("source", "export manifest")
    return OperatingPoint(policy, value, rate, size, f"{origin}; {where} calibrated on {source}")
