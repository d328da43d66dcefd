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

from shared.config import DEV_OIDC_CLIENT_SECRET, CommonSettings


@dataclass(kw_only=True)
class SchedulingSettings(CommonSettings):
    USES_LINK_KEY: ClassVar[bool] = True  # seals appointments' video links for the bus
    SERVICE: ClassVar[str] = "scheduling"

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.oidc_admin_client_secret in ("", DEV_OIDC_CLIENT_SECRET):
            problems.append("OIDC_ADMIN_CLIENT_SECRET is unset or a development default (staff accounts)")
        return problems

    late_cancel_hours: float = 24.0
    practice_timezone: str = "Europe/London"
    phone_region: str = "GB"  # the country a phone number without +<country code> is read as (ISO 3166)

    @classmethod
    def service_from_env(cls, env: Mapping[str, str]) -> dict:
        values = {}
        if env.get("LATE_CANCEL_HOURS"):
            values["late_cancel_hours"] = float(env["LATE_CANCEL_HOURS"])
        if env.get("PRACTICE_TIMEZONE"):
            values["practice_timezone"] = env["PRACTICE_TIMEZONE"]
        if env.get("PRACTICE_PHONE_REGION"):
            values["phone_region"] = env["PRACTICE_PHONE_REGION"].upper()
        return values
