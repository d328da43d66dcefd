"""Scoring exactly as the manuals say: sums with reverse-scored items, bands at their boundaries, pro-rating
only where a measure's policy allows it, and never an imputed risk item."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.feedback.measures import Measure


class InvalidAnswers(ValueError):
    """The answer set cannot be scored; ``problems`` maps item id to a message for the person answering."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"item {k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Score:
    measure: str
    total: float
    band: str | None
    prorated: bool
    item_scores: dict[str, int]
    risk_items: list[dict] = field(default_factory=list)  # [{"item": "9", "value": 2, "severity": "urgent"}]

    @property
    def has_risk(self) -> bool:
        return bool(self.risk_items)


def band_for(measure: Measure, total: float) -> str | None:
    for band in measure.bands:
        if band["min"] <= total <= band["max"]:
            return band["label"]
    # A pro-rated total may fall between integer bands: round half up before banding.
    rounded = int(total + 0.5)
    for band in measure.bands:
        if band["min"] <= rounded <= band["max"]:
            return band["label"]
    return None


def score(measure: Measure, answers: dict[str, int | None]) -> Score:
    """Score one completed measure. ``answers`` maps item id to the chosen option value (None = unanswered)."""
    problems: dict[str, str] = {}
    known = {i["id"] for i in measure.items} | {i["id"] for i in measure.extra_items}
    for key in answers:
        if key not in known:
            problems[key] = "not an item of this questionnaire"
    values: dict[str, int] = {}
    missing: list[str] = []
    for item in measure.items:
        raw = answers.get(item["id"])
        if raw is None:
            missing.append(item["id"])
            continue
        if raw not in [o["value"] for o in measure.options_for(item)]:
            problems[item["id"]] = "not one of the answer choices"
            continue
        values[item["id"]] = raw
    for item in measure.extra_items:
        raw = answers.get(item["id"])
        if raw is None and item.get("required", True):
            problems[item["id"]] = "please choose an answer"
        elif raw is not None and raw not in [o["value"] for o in measure.options_for(item)]:
            problems[item["id"]] = "not one of the answer choices"

    risk_ids = {r["item"] for r in measure.risk_items}
    allowed_missing = int(measure.missing.get("prorate_max_missing", 0))
    for item_id in missing:
        if item_id in risk_ids:
            problems[item_id] = "please choose an answer (this question cannot be skipped)"
        elif len(missing) > allowed_missing:
            problems[item_id] = "please choose an answer"
    if problems:
        raise InvalidAnswers(problems)

    lo_opt, hi_opt = min(measure.option_values), max(measure.option_values)
    item_scores = {
        item_id: (hi_opt + lo_opt - v if item_id in measure.reverse_items else v) for item_id, v in values.items()
    }
    total: float = sum(item_scores.values())
    prorated = bool(missing)
    if prorated:  # mean of answered items times the number of items, as the manuals that allow it say
        total = round(total / len(item_scores) * len(measure.items), 1)
    risks = [
        {"item": r["item"], "value": values[r["item"]], "severity": r["severity"]}
        for r in measure.risk_items
        if values.get(r["item"], 0) >= r["threshold"]
    ]
    return Score(measure.id, total, band_for(measure, total), prorated, item_scores, risks)
