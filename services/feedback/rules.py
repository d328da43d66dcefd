"""Alert rules over one client's scores on one measure. Pure: each signal says which rule fired, on what numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.feedback.change import reliable_change_points, worsening
from services.feedback.measures import Measure

SEVERITY_ORDER = {"low": 0, "moderate": 1, "high": 2, "urgent": 3}


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
    worse = worsening(measure, baseline.total, latest.total)
    if worse < threshold:
        return None
    verb = "rose" if measure.higher_is_worse else "fell"
    return Signal(
        "reliable_deterioration",
        "high",
        measure.id,
        f"{measure.name} {verb} from {_fmt(baseline.total)} at {baseline.label or 'baseline'} to "
        f"{_fmt(latest.total)} at {latest.label or 'the latest session'}: reliable deterioration "
        f"(a change of {_fmt(worse)} points; threshold {_fmt(threshold)}).",
    )


def evaluate(measure: Measure, history: list[Observation]) -> list[Signal]:
    """All signals for the latest observation in ``history`` (oldest first; the first is the baseline)."""
    if not history:
        return []
    signals = risk_signals(measure, history[-1])
    deterioration = deterioration_signal(measure, history)
    if deterioration:
        signals.append(deterioration)
    return signals
