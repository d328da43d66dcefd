"""Scheduling's settings: the common ones plus the practice's calendar rules.

| variable | meaning | default |
| --- | --- | --- |
| ``LATE_CANCEL_HOURS`` | a cancellation closer to the start than this is a late cancellation | 24 |
| ``PRACTICE_TIMEZONE`` | the timezone the front-desk pages show | ``Europe/London`` |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from shared.config import CommonSettings


@dataclass(kw_only=True)
class SchedulingSettings(CommonSettings):
    SERVICE: ClassVar[str] = "scheduling"

    late_cancel_hours: float = 24.0
    practice_timezone: str = "Europe/London"

    @classmethod
    def service_from_env(cls, env: Mapping[str, str]) -> dict:
        values = {}
        if env.get("LATE_CANCEL_HOURS"):
            values["late_cancel_hours"] = float(env["LATE_CANCEL_HOURS"])
        if env.get("PRACTICE_TIMEZONE"):
            values["practice_timezone"] = env["PRACTICE_TIMEZONE"]
        return values
