"""Every status and severity value, defined once. ``StrEnum`` members are plain strings, so they go into
database columns, events and JSON as they are and compare equal to the stored text."""

from __future__ import annotations

from enum import StrEnum


class ClientStatus(StrEnum):
    ACTIVE = "active"
    DISCHARGED = "discharged"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class QuestionnaireStatus(StrEnum):
    """A questionnaire assignment in feedback (and its projection in notifications)."""

    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # the measurement plan said not this time
    NO_CONSENT = "no_consent"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Severity(StrEnum):
    """Alert severities, least to most urgent: the declaration order is the order."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @classmethod
    def most_urgent_first(cls, value: str) -> int:
        """A sort key that puts the most urgent first."""
        return -cls(value).rank
