"""Structured JSON logs that never carry personal data.

Call sites log ids and counts only; as a safety net a processor drops any field whose name suggests personal
or clinical content, so a careless ``log.info("x", email=...)`` cannot leak.
"""

from __future__ import annotations

import logging
import sys

import structlog

_FORBIDDEN = ("name", "email", "phone", "answer", "address", "note", "body", "token", "dob", "birth")


def _drop_personal_fields(_logger, _method, event_dict):
    for key in list(event_dict):
        if key != "event" and any(word in key.lower() for word in _FORBIDDEN):
            event_dict[key] = "[redacted]"
    return event_dict


def configure(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level, force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_personal_fields,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),  # today's stderr, not configure-time's
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get(name: str | None = None):
    return structlog.get_logger(name)


def safe_error(exc: BaseException) -> str:
    """Describe an error without its values: database errors print their SQL parameters, which may be PII."""
    from marshmallow import ValidationError

    from shared.errors import PermanentError
    from shared.events.envelope import MalformedEvent

    if isinstance(exc, MalformedEvent | ValidationError | PermanentError):
        return f"{type(exc).__name__}: {exc}"[:1000]
    return type(exc).__name__
