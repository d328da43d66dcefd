"""Expected treatment response: where a client's score should be at the n-th questionnaire, given the intake.

Two models, both intake-stratified and both stated in numbers a clinician can check:

* **A published default** (``expected_course`` in the measure definition, model ``quadratic_weeks``): the
  mean course of a large routine-care sample, ``mean(w) = b0 + b1*w + b2*w**2`` for w weeks since intake
  (held at its lowest point after the vertex), scaled to the client's intake: the client is expected to
  cover the same share of the distance to the scale's best end as the sample's mean did
  (``best + (intake - best) * (mean(w) - best) / (b0 - best)``). The failure boundary is the measure's
  reliable-change criterion worse than that, because the published sources give no spread around their
  curves. A measure whose definition says ``"model": "none"`` has no published curve: the reliable-change
  rule alone watches it until the practice fits its own.
* **The practice's own curves** (:func:`fit_course`, stored with a version by ``flask fit-curves``): at each
  questionnaire number n, a least-squares line ``expected = intercept + slope * intake`` over the practice's
  finished episodes (intake-stratified as Finch, Lambert & Schaalje 2001 did for the OQ-45), with the
  failure boundary at a stated percentile of the residuals: the 90th by default, which on the benchmark
  cohort flags every deteriorator by the end while flagging about one improver in seven (docs/alert-accuracy.md);
  the 95th, the bound of the two-sided 90% interval Lutz et al. use, misses about one deteriorator in ten.

Pure: no Flask, SQL or Kafka.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from services.feedback.change import reliable_change_points
from services.feedback.measures import Measure

DEFAULT_PERCENTILE = 90.0


@dataclass(frozen=True)
class Expected:
    session: int
    expected: float
    boundary: float  # the failure boundary: worse than this is off track
    source: str  # which model, for the explanation


@dataclass(frozen=True)
class SessionFit:
    """The practice's line at one questionnaire number."""

    intercept: float
    slope: float
    margin: float  # the residual percentile: how much worse than expected is off track
    episodes: int  # how many finished episodes reached this questionnaire
    rmse: float  # the residuals' root mean square, to show how good the fit is


@dataclass(frozen=True)
class FittedCourse:
    measure: str
    version: int
    percentile: float
    episodes: int
    sessions: dict[int, SessionFit] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"practice curves v{self.version} ({self.episodes} episodes)"


def _worse(higher_is_worse: bool, a: float, b: float) -> bool:
    """Is ``a`` worse than ``b``?"""
    return a > b if higher_is_worse else a < b


def _clip(measure: Measure, x: float) -> float:
    lo, hi = measure.range
    return min(max(x, lo), hi)


def _expected(measure: Measure, n: int, expected: float, margin: float, source: str) -> Expected:
    expected = _clip(measure, expected)
    boundary = expected + margin if measure.higher_is_worse else expected - margin
    return Expected(n, round(expected, 2), round(boundary, 2), source)


def published_label(measure: Measure) -> str:
    course = measure.expected_course or {}
    if course.get("model") == "quadratic_weeks":
        return f"published course: {course['citation']}"
    return "reliable-change rule only (no published curve)"


def published_expected(measure: Measure, intake: float, n: int) -> Expected | None:
    """The measure's published default at the n-th questionnaire (1 = intake), or None when it has none."""
    course = measure.expected_course or {}
    if course.get("model") != "quadratic_weeks":
        return None
    b0, b1, b2 = course["b0"], course["b1"], course["b2"]
    weeks = (n - 1) * course.get("weeks_per_questionnaire", 1)
    if b2 > 0:  # a U-shaped fit: past its lowest point, hold there rather than predict a relapse
        weeks = min(weeks, -b1 / (2 * b2))
    mean = b0 + b1 * weeks + b2 * weeks**2
    best = measure.range[0] if measure.higher_is_worse else measure.range[1]
    expected = best + (intake - best) * (mean - best) / (b0 - best)
    return _expected(measure, n, expected, reliable_change_points(measure) or 0.0, published_label(measure))


def fitted_expected(measure: Measure, course: FittedCourse, intake: float, n: int) -> Expected | None:
    fit = course.sessions.get(n)
    if fit is None:
        return None
    return _expected(measure, n, fit.intercept + fit.slope * intake, fit.margin, course.label)


class ExpectedCourse:
    """``expected_for(n)`` for one client and measure: the practice's fitted curve where it has one for that
    questionnaire number, else the published default, else None (no off-track rule). ``label`` names the
    model, so an alert can record which one it was judged against."""

    def __init__(self, measure: Measure, intake: float, fitted: FittedCourse | None = None):
        self.measure, self.intake, self.fitted = measure, intake, fitted
        self.label = fitted.label if fitted else published_label(measure)

    def __call__(self, n: int) -> Expected | None:
        if self.fitted is not None:
            found = fitted_expected(self.measure, self.fitted, self.intake, n)
            if found is not None:
                return found
        return published_expected(self.measure, self.intake, n)


def _percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def fit_course(
    measure: Measure,
    episodes: list[dict[int, float]],
    *,
    version: int = 0,
    percentile: float = DEFAULT_PERCENTILE,
    min_episodes: int = 30,
    max_questionnaires: int = 30,
) -> FittedCourse:
    """Fit the practice's curves to finished ``episodes`` ({n-th questionnaire: total}; 1 holds the intake).
    Questionnaire numbers reached by fewer than ``min_episodes`` episodes get no line (the published default,
    if any, covers them)."""
    sessions: dict[int, SessionFit] = {}
    for n in range(2, max_questionnaires + 1):
        pairs = [(e[1], e[n]) for e in episodes if 1 in e and n in e]
        if len(pairs) < min_episodes:
            break
        intakes, scores = zip(*pairs, strict=True)
        if len(set(intakes)) > 1:
            slope, intercept = statistics.linear_regression(intakes, scores)
        else:
            slope, intercept = 0.0, statistics.fmean(scores)
        residuals = [y - (intercept + slope * x) for x, y in pairs]
        worse_by = residuals if measure.higher_is_worse else [-r for r in residuals]
        sessions[n] = SessionFit(
            round(intercept, 4),
            round(slope, 4),
            round(max(_percentile(worse_by, percentile), 0.0), 3),
            len(pairs),
            round(statistics.fmean(r * r for r in residuals) ** 0.5, 3),
        )
    return FittedCourse(measure.id, version, percentile, sum(1 for e in episodes if 1 in e), sessions)


def position(score: float, expected: Expected, higher_is_worse: bool) -> str:
    """``on_track`` (as good as expected or better), ``watch`` (worse than expected, inside the boundary) or
    ``off_track`` (beyond the failure boundary)."""
    if _worse(higher_is_worse, score, expected.boundary):
        return "off_track"
    if _worse(higher_is_worse, score, expected.expected):
        return "watch"
    return "on_track"
