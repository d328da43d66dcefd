"""Measurement plans: which questionnaires a client gets, and when.

The practice has one default plan; a clinician may override it per client. A plan names the intake measures
(a baseline before the first session, sent when the episode's first appointment is booked) and the session
measures (after every Nth completed session, and at most once every N days). Pure decisions here; the
handlers and API store and apply them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Plan:
    intake_measures: list[str] = field(default_factory=lambda: ["phq9"])
    session_measures: list[str] = field(default_factory=lambda: ["phq9"])
    every_n_sessions: int = 1
    min_days_between: int = 0

    def as_dict(self) -> dict:
        return {
            "intake_measures": list(self.intake_measures),
            "session_measures": list(self.session_measures),
            "every_n_sessions": self.every_n_sessions,
            "min_days_between": self.min_days_between,
        }


def due_after_session(plan: Plan, session_number: int, last_issued: datetime | None, now: datetime) -> str | None:
    """None when a questionnaire is due after this session, else why not (shown to staff)."""
    if not plan.session_measures:
        return "the plan has no session measures"
    if session_number % plan.every_n_sessions != 0:
        return f"the plan asks every {plan.every_n_sessions} sessions"
    if last_issued is not None and plan.min_days_between and now - last_issued < timedelta(days=plan.min_days_between):
        return f"the last questionnaire went out less than {plan.min_days_between} days ago"
    return None
