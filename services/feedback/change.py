"""Change that means something: Jacobson & Truax (1991) reliable and clinically significant change."""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.feedback.measures import Measure

IMPROVED, RECOVERED, NO_CHANGE, DETERIORATED = "improved", "recovered", "no_reliable_change", "deteriorated"


def reliable_change_points(measure: Measure) -> float | None:
    """The threshold in points: given directly, or 1.96 (or the measure's z) x S_diff from SD and reliability;
    None when the measure has no published value."""
    rc = measure.reliable_change
    if rc is None:
        return None
    if "points" in rc:
        return float(rc["points"])
    se = rc["sd"] * math.sqrt(1 - rc["reliability"])
    s_diff = math.sqrt(2 * se**2)
    return rc.get("z", 1.96) * s_diff


def rci(measure: Measure, before: float, after: float) -> float:
    """The reliable change index (x2 - x1) / S_diff; needs SD and reliability in the definition."""
    rc = measure.reliable_change
    se = rc["sd"] * math.sqrt(1 - rc["reliability"])
    return (after - before) / math.sqrt(2 * se**2)


def worsening(measure: Measure, before: float, after: float) -> float:
    """Points of change in the 'worse' direction (negative when the client improved)."""
    return after - before if measure.higher_is_worse else before - after


def in_clinical_range(measure: Measure, value: float) -> bool | None:
    if measure.clinical_cutoff is None:
        return None
    return value >= measure.clinical_cutoff if measure.higher_is_worse else value < measure.clinical_cutoff


def classify(measure: Measure, baseline: float, latest: float) -> str | None:
    threshold = reliable_change_points(measure)
    if threshold is None:
        return None
    worse = worsening(measure, baseline, latest)
    if worse >= threshold:
        return DETERIORATED
    if -worse >= threshold:
        if in_clinical_range(measure, baseline) and in_clinical_range(measure, latest) is False:
            return RECOVERED
        return IMPROVED
    return NO_CHANGE


CLASS_IN_WORDS = {
    RECOVERED: "Recovered: a reliable improvement that ended below the clinical cut-off",
    IMPROVED: "Reliably improved",
    NO_CHANGE: "No reliable change",
    DETERIORATED: "Reliably deteriorated",
    None: "No published reliable-change threshold for this measure",
}


def in_words(change_class: str | None) -> str:
    """The Jacobson–Truax class as a clinician reads it on the progress page."""
    return CLASS_IN_WORDS[change_class]


@dataclass(frozen=True)
class ScoreChange:
    """One score with its change from the baseline (the first score) and from the score before it."""

    total: float
    from_baseline: float | None
    from_previous: float | None


def changes(totals: list[float]) -> list[ScoreChange]:
    out = []
    for n, total in enumerate(totals):
        out.append(ScoreChange(total, total - totals[0] if n else None, total - totals[n - 1] if n else None))
    return out


def direction(measure: Measure, delta: float | None) -> str:
    """ "better", "worse" or "same" for a change of ``delta`` points on ``measure``."""
    if not delta:
        return "same"
    return "worse" if (delta > 0) == measure.higher_is_worse else "better"
