"""A study's headline claims, each with our verdict and the rows that decide it.

Verdicts: ``supported``, ``contradicted``, or ``not testable at this scale``. A comparison of two
rates decides only when the difference exceeds two standard errors of the difference of two
binomial proportions (``noise``); inside that band the data of this scale cannot tell, and the
verdict says so instead of calling a coin flip. A claim about an absolute number of the study
(e.g. a robust accuracy on CIFAR-10 with a ResNet-18) is testable only at a scale that uses the
study's data and network; elsewhere our number is given as evidence and the verdict is
*not testable*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labelrobust.errors import ConfigError

SUPPORTED, CONTRADICTED, NOT_TESTABLE = "supported", "contradicted", "not testable at this scale"
VERDICTS = (SUPPORTED, CONTRADICTED, NOT_TESTABLE)


@dataclass(frozen=True)
class Claim:
    """One line of the claims table: the study's claim, our verdict, and the evidence."""

    claim: str
    verdict: str
    evidence: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ConfigError(f"claim {self.claim!r}: verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")


def noise(a: float, b: float, n_a: int, n_b: int) -> float:
    """Two standard errors of ``a − b`` for rates measured on ``n_a`` and ``n_b`` samples. The
    variance uses the Agresti–Caffo adjusted rates ``(x + 1)/(n + 2)``, so a rate of 0 or 1
    on few samples does not claim a band of zero (0 of 100 vs 4 of 100 is within noise)."""
    if n_a < 1 or n_b < 1:
        return math.inf

    def variance(rate: float, n: int) -> float:
        adjusted = (rate * n + 1) / (n + 2)
        return adjusted * (1 - adjusted) / (n + 2)

    return 2 * math.sqrt(variance(a, n_a) + variance(b, n_b))


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def greater(claim: str, a: tuple[str, float, int], b: tuple[str, float, int], where: str = "") -> Claim:
    """``claim`` says rate ``a`` exceeds rate ``b``; each is (name, rate, number of samples)."""
    (name_a, rate_a, n_a), (name_b, rate_b, n_b) = a, b
    band = noise(rate_a, rate_b, n_a, n_b)
    diff = rate_a - rate_b
    evidence = f"{name_a} {pct(rate_a)} vs {name_b} {pct(rate_b)} ({100 * diff:+.1f} points, noise ±{100 * band:.1f})"
    if where:
        evidence = f"{where}: {evidence}"
    if diff > band:
        return Claim(claim, SUPPORTED, evidence)
    if diff < -band:
        return Claim(claim, CONTRADICTED, evidence)
    return Claim(claim, NOT_TESTABLE, evidence + "; within noise")


def majority(claim: str, outcomes: list[Claim], where: str = "") -> Claim:
    """One verdict from several comparisons of the same claim (e.g. one per eps or per target).
    Supported when more comparisons support it than contradict it *and* at least a third of all
    of them support it; contradicted in the mirror case; else not testable (one decided
    comparison out of ten is no evidence either way). The evidence lists the counts and every
    comparison."""
    counts = {v: sum(o.verdict == v for o in outcomes) for v in VERDICTS}
    enough = max(1.0, len(outcomes) / 3)
    if counts[SUPPORTED] > counts[CONTRADICTED] and counts[SUPPORTED] >= enough:
        verdict = SUPPORTED
    elif counts[CONTRADICTED] > counts[SUPPORTED] and counts[CONTRADICTED] >= enough:
        verdict = CONTRADICTED
    else:
        verdict = NOT_TESTABLE
    tally = f"{counts[SUPPORTED]} supported, {counts[CONTRADICTED]} contradicted, {counts[NOT_TESTABLE]} within noise"
    detail = "; ".join(o.evidence for o in outcomes)
    return Claim(claim, verdict, f"{where + ': ' if where else ''}{tally} — {detail}")


def at_study_setting(claim: str, ours: float | None, theirs: float, comparable: bool, tolerance: float, what: str) -> Claim:
    """A claimed absolute number (``theirs``, a rate): supported when ours is within
    ``tolerance`` of it, contradicted when below by more; *not testable* when this scale does
    not use the study's setting (``comparable`` false) or nothing was measured."""
    if ours is None:
        return Claim(claim, NOT_TESTABLE, f"{what}: not measured at this scale")
    evidence = f"{what}: ours {pct(ours)}, study {pct(theirs)}"
    if not comparable:
        return Claim(claim, NOT_TESTABLE, evidence + " (different data or network at this scale)")
    if abs(ours - theirs) <= tolerance or ours > theirs:
        return Claim(claim, SUPPORTED, evidence)
    return Claim(claim, CONTRADICTED, evidence)
