"""Feedback's own settings (environment variables with defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from shared.config import ServiceConfig


@dataclass
class FeedbackSettings:
    public_url: str
    session_measures: list[str] = field(default_factory=lambda: ["phq9"])
    intake_measures: list[str] | None = None  # None: the same as the session measures
    link_ttl_hours: float = 72.0
    crisis_text: str = (
        "If you are in danger or might act on thoughts of harming yourself, call your local emergency number "
        "now. In the UK you can call 999, or Samaritans free on 116 123, any time. In the US call or text 988."
    )

    def default_plan(self):
        from services.feedback.plans import Plan

        intake = self.session_measures if self.intake_measures is None else self.intake_measures
        return Plan(intake_measures=list(intake), session_measures=list(self.session_measures))

    @classmethod
    def from_config(cls, config: ServiceConfig) -> FeedbackSettings:
        env = os.environ
        kwargs = {"public_url": config.public_url("feedback")}
        if env.get("FEEDBACK_SESSION_MEASURES"):
            kwargs["session_measures"] = [m.strip() for m in env["FEEDBACK_SESSION_MEASURES"].split(",") if m.strip()]
        if "FEEDBACK_INTAKE_MEASURES" in env:
            kwargs["intake_measures"] = [m.strip() for m in env["FEEDBACK_INTAKE_MEASURES"].split(",") if m.strip()]
        if env.get("FEEDBACK_LINK_TTL_HOURS"):
            kwargs["link_ttl_hours"] = float(env["FEEDBACK_LINK_TTL_HOURS"])
        if env.get("FEEDBACK_CRISIS_TEXT"):
            kwargs["crisis_text"] = env["FEEDBACK_CRISIS_TEXT"]
        kwargs.update(config.extra.get("feedback", {}))
        return cls(**kwargs)
