"""Feedback's settings: the common ones plus measurement defaults and the client-facing texts.

| variable | meaning | default |
| --- | --- | --- |
| ``FEEDBACK_SESSION_MEASURES`` | measures after a session when no plan says otherwise (comma list) | ``phq9`` |
| ``FEEDBACK_INTAKE_MEASURES`` | measures sent before the first session (empty: none) | the session measures |
| ``FEEDBACK_LINK_TTL_HOURS`` | how long a questionnaire link works | 72 |
| ``FEEDBACK_CRISIS_TEXT`` | help shown after a risk answer (a measure's ``crisis_text`` wins) | UK and US numbers |
| ``FEEDBACK_ANSWERS_AUDIENCE`` | who the questionnaire page says sees the answers | your therapist and their team |
| ``FEEDBACK_ESCALATE_AFTER_HOURS`` | an urgent alert unacknowledged this long goes out again, wider | 4 |
| ``SUPERVISORS_SEE_PRACTICE`` | supervisors see every caseload, not only their supervisees' (``true``) | ``false`` |
| ``BREAK_GLASS_HOURS`` | how long a client opened outside the caseload (with a reason) stays open | 4 |
| ``REPORT_MIN_EPISODES`` | an outcome report shows no figures for a group with fewer finished episodes | 5 |
| ``FEEDBACK_MEASURES_DIR`` | a folder of extra measure definitions (e.g. licensed ORS/SRS wording) | none |
| ``FEEDBACK_RECORD_KEY`` | feedback's own Fernet key: seals answers, alert details on its events (restore) | dev |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from shared.config import CommonSettings, csv_list

DEV_RECORD_KEY = "ZGV2LW9ubHktcmVjb3JkLWtleS1jaGFuZ2UtbWUtMDA="  # noqa: S105 - base64 of 32 dev-only bytes

DEFAULT_CRISIS_TEXT = (
    "If you are in danger or might act on thoughts of harming yourself, call your local emergency number "
    "now. In the UK you can call 999, or Samaritans free on 116 123, any time. In the US call or text 988."
)


@dataclass(kw_only=True)
class FeedbackSettings(CommonSettings):
    SERVICE: ClassVar[str] = "feedback"
    USES_LINK_KEY: ClassVar[bool] = True

    session_measures: list[str] = field(default_factory=lambda: ["phq9"])
    intake_measures: list[str] | None = None  # None: the same as the session measures
    link_ttl_hours: float = 72.0
    crisis_text: str = DEFAULT_CRISIS_TEXT
    answers_audience: str = "your therapist and the clinical team that supports them"  # true: supervisors see them
    measures_dir: str | None = None
    escalate_after_hours: float = 4.0  # an urgent alert nobody acknowledged is sent again, wider
    supervisors_see_practice: bool = False
    break_glass_hours: float = 4.0
    report_min_episodes: int = 5  # small numbers are suppressed so that a report never points at a client
    # fit-curves: fewer finished episodes than this (in all, and at a questionnaire number) keep the default
    curve_min_episodes: int = 30
    record_key: str = DEV_RECORD_KEY  # feedback's alone (never given to another service)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.record_key == DEV_RECORD_KEY:
            problems.append("FEEDBACK_RECORD_KEY is unset or the development key (make one: Fernet.generate_key())")
        elif self.record_key == self.link_key:
            problems.append("FEEDBACK_RECORD_KEY must differ from ATTUNE_LINK_KEY (other services hold that one)")
        return problems

    @property
    def questionnaire_base_url(self) -> str:
        """Feedback's own public base URL: questionnaire links start with it."""
        return self.public_url("feedback")

    def default_plan(self):
        from services.feedback.plans import Plan

        intake = self.session_measures if self.intake_measures is None else self.intake_measures
        return Plan(intake_measures=list(intake), session_measures=list(self.session_measures))

    @classmethod
    def service_from_env(cls, env: Mapping[str, str]) -> dict:
        values = {}
        if env.get("FEEDBACK_RECORD_KEY"):
            values["record_key"] = env["FEEDBACK_RECORD_KEY"]
        if env.get("FEEDBACK_SESSION_MEASURES"):
            values["session_measures"] = csv_list(env["FEEDBACK_SESSION_MEASURES"])
        if "FEEDBACK_INTAKE_MEASURES" in env:
            values["intake_measures"] = csv_list(env["FEEDBACK_INTAKE_MEASURES"])
        if env.get("FEEDBACK_LINK_TTL_HOURS"):
            values["link_ttl_hours"] = float(env["FEEDBACK_LINK_TTL_HOURS"])
        if env.get("FEEDBACK_CRISIS_TEXT"):
            values["crisis_text"] = env["FEEDBACK_CRISIS_TEXT"]
        if env.get("FEEDBACK_ANSWERS_AUDIENCE"):
            values["answers_audience"] = env["FEEDBACK_ANSWERS_AUDIENCE"]
        if env.get("FEEDBACK_ESCALATE_AFTER_HOURS"):
            values["escalate_after_hours"] = float(env["FEEDBACK_ESCALATE_AFTER_HOURS"])
        if env.get("SUPERVISORS_SEE_PRACTICE"):
            values["supervisors_see_practice"] = env["SUPERVISORS_SEE_PRACTICE"].lower() in ("1", "true", "yes")
        if env.get("BREAK_GLASS_HOURS"):
            values["break_glass_hours"] = float(env["BREAK_GLASS_HOURS"])
        if env.get("REPORT_MIN_EPISODES"):
            values["report_min_episodes"] = max(1, int(env["REPORT_MIN_EPISODES"]))
        if env.get("FEEDBACK_CURVE_MIN_EPISODES"):
            values["curve_min_episodes"] = max(2, int(env["FEEDBACK_CURVE_MIN_EPISODES"]))
        if env.get("FEEDBACK_MEASURES_DIR"):
            values["measures_dir"] = env["FEEDBACK_MEASURES_DIR"]
        return values
