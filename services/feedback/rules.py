"""Alert rules over one client's scores on one measure. Pure: each signal says which rule fired, on what numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.feedback.change import in_clinical_range, reliable_change_points, worsening
from services.feedback.measures import Measure
from services.feedback.trajectories import Expected, position
from shared.statuses import Severity


@dataclass(frozen=True)
class Observation:
    session_number: int | None
    total: float
    completed_at: datetime
    risk_items: list[dict] = field(default_factory=list)
    label: str = ""  # "intake" or "session 3", for explanations


@dataclass(frozen=True)
class Signal:
    rule: str
    severity: str
    measure: str
    explanation: str
    model: str | None = None  # the expected-course model in force (see trajectories.ExpectedCourse.label)


def _fmt(x: float) -> str:
    return f"{x:g}"


def risk_signals(measure: Measure, latest: Observation) -> list[Signal]:
    signals = []
    for hit in latest.risk_items:
        item = next(i for i in measure.items if i["id"] == hit["item"])
        label = next((o["label"] for o in measure.options_for(item) if o["value"] == hit["value"]), hit["value"])
        signals.append(
            Signal(
                "risk_item",
                hit["severity"],
                measure.id,
                f"{measure.name} item {hit['item']} ({item['text']}) was answered "
                f"\u201c{label}\u201d ({hit['value']}): any answer above 0 on this item needs same-day follow-up.",
            )
        )
    return signals


def deterioration_signal(measure: Measure, history: list[Observation]) -> Signal | None:
    if len(history) < 2:
        return None
    baseline, latest = history[0], history[-1]
    threshold = reliable_change_points(measure)
    if threshold is None:
        return None
    worse = worsening(measure, baseline.total, latest.total)
    if worse < threshold:
        return None
    verb = "rose" if measure.higher_is_worse else "fell"
    return Signal(
        "reliable_deterioration",
        Severity.HIGH,
        measure.id,
        f"{measure.name} {verb} from {_fmt(baseline.total)} at {baseline.label or 'baseline'} to "
        f"{_fmt(latest.total)} at {latest.label or 'the latest session'}: reliable deterioration "
        f"(a change of {_fmt(worse)} points; threshold {_fmt(threshold)}).",
    )


def off_track_signal(measure: Measure, history: list[Observation], expected: Expected | None) -> Signal | None:
    if len(history) < 2 or expected is None:
        return None
    latest = history[-1]
    if position(latest.total, expected, measure.higher_is_worse) != "off_track":
        return None
    return Signal(
        "off_track",
        Severity.MODERATE,
        measure.id,
        f"{measure.name} is {_fmt(latest.total)} at {latest.label or 'the latest session'}; from an intake of "
        f"{_fmt(history[0].total)} the expected score there is {_fmt(expected.expected)}, and "
        f"{_fmt(expected.boundary)} is the failure boundary ({expected.source}).",
    )


def plateau_signal(measure: Measure, history: list[Observation], after_sessions: int) -> Signal | None:
    threshold = reliable_change_points(measure)
    if threshold is None or len(history) < after_sessions or not in_clinical_range(measure, history[0].total):
        return None
    change = -worsening(measure, history[0].total, history[-1].total)
    if abs(change) >= threshold:
        return None
    return Signal(
        "plateau",
        Severity.LOW,
        measure.id,
        f"{measure.name} has not changed reliably in {len(history)} questionnaires "
        f"({_fmt(history[0].total)} at {history[0].label or 'baseline'}, {_fmt(history[-1].total)} now; "
        f"reliable change needs {_fmt(threshold)} points).",
    )


def alliance_signal(measure: Measure, history: list[Observation]) -> Signal | None:
    if not measure.alliance or not history:
        return None
    cutoff = measure.alliance["cutoff"]
    latest = history[-1]
    if latest.total < cutoff:
        return Signal(
            "alliance",
            Severity.MODERATE,
            measure.id,
            f"{measure.name} is {_fmt(latest.total)}, below {_fmt(cutoff)}: the client may not feel the "
            f"sessions fit; worth asking about.",
        )
    if len(history) >= 2 and latest.total < history[-2].total:
        return Signal(
            "alliance",
            Severity.LOW,
            measure.id,
            f"{measure.name} dropped from {_fmt(history[-2].total)} to {_fmt(latest.total)} since the last session.",
        )
    return None


def evaluate(
    measure: Measure,
    history: list[Observation],
    *,
    expected_for: Callable[[int], Expected | None] | None = None,
    plateau_after: int | None = None,
) -> list[Signal]:
    """All signals for the latest observation in ``history`` (oldest first; the first is the baseline).
    ``expected_for(session_number)`` gives the expected course there (None: no off-track rule);
    ``plateau_after`` defaults to the measure's own ``plateau_after``."""
    if not history:
        return []
    plateau_after = plateau_after or measure.plateau_after
    signals = risk_signals(measure, history[-1])
    expected = expected_for(len(history)) if expected_for else None  # the n-th questionnaire of the episode
    for found in (
        deterioration_signal(measure, history),
        off_track_signal(measure, history, expected),
        plateau_signal(measure, history, plateau_after),
        alliance_signal(measure, history),
    ):
        if found:
            signals.append(found)
    if any(s.rule == "reliable_deterioration" for s in signals):  # one alarm for one problem
        signals = [s for s in signals if s.rule not in ("off_track", "plateau")]
    model = getattr(expected_for, "label", None)  # a risk answer is judged against no course
    return [s if s.rule == "risk_item" or model is None else replace(s, model=model) for s in signals]


STATUSES = ("risk", "off_track", "watch", "on_track", "not_in_clinical_range", "no_data")


def client_status(measure: Measure, history: list[Observation], expected: Expected | None) -> str:
    """The dashboard colour for one measure, like the anchors': risk, off track, watch, on track, or not in
    the clinical range at intake."""
    if not history:
        return "no_data"
    if history[-1].risk_items:
        return "risk"
    if deterioration_signal(measure, history):
        return "off_track"
    if in_clinical_range(measure, history[0].total) is False and measure.alliance is None:
        return "not_in_clinical_range"
    if expected is None or len(history) < 2:
        return "on_track"
    return position(history[-1].total, expected, measure.higher_is_worse)
