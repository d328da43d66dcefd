"""Errors that cross module lines, and the domain errors every service maps to problem+json in one place
(``shared.web``): a rule module raises ``NotFound("No client with id x.")`` and knows nothing of HTTP."""

from __future__ import annotations


class PermanentError(Exception):
    """A handler's verdict that retrying cannot help (the event goes to the dead-letter topic).
    The message must hold no personal data: it travels in the dead letter's headers."""


class MissingDependency(Exception):
    """A handler's verdict that it needs an entity that has not arrived yet (``key``, e.g. "contact:k1"): the
    consumer parks the event and hands it back once that entity's event has been handled."""

    def __init__(self, key: str):
        super().__init__(f"waiting for {key.split(':', 1)[0]}")
        self.key = key


class DomainError(Exception):
    """A request the rules refuse; the message is written for the person who made it."""

    status = 409
    title = "Conflict"

    def problem_extra(self) -> dict:
        """Extra members of the problem+json body (e.g. the conflicting appointments)."""
        return {}


class NotFound(DomainError, LookupError):
    status = 404
    title = "Not Found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
