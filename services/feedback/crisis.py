"""What the client is told straight after a risk answer, on any measure with risk items: which answer worried
us (the measure's own plain words, or a neutral sentence for a licensed item) and where to get help now (the
measure's crisis text, else the practice's). Decided from the submission's own scores."""

from __future__ import annotations

from dataclasses import dataclass

from services.feedback import measures
from services.feedback.scoring import Score

NEUTRAL_STATEMENT = "Some of your answers tell us you may not be safe right now."


@dataclass(frozen=True)
class CrisisNotice:
    statement: str
    resources: str


def notices(scores: list[Score], practice_text: str) -> list[CrisisNotice]:
    """One notice per distinct thing to say, in the order the measures were answered (none: no risk answer)."""
    found: list[CrisisNotice] = []
    for score in scores:
        if not score.has_risk:
            continue
        definition = measures.get(score.measure)
        statements = {r["item"]: r.get("statement") for r in definition.risk_items}
        for answered in score.risk_items:
            notice = CrisisNotice(
                statements.get(answered["item"]) or NEUTRAL_STATEMENT, definition.crisis_text or practice_text
            )
            if notice not in found:
                found.append(notice)
    return found
