"""Structured JSON logs that never carry personal data.

Call sites log ids and counts only; as a safety net a processor drops any field whose name suggests personal
or clinical content, so a careless ``log.info("x", email=...)`` cannot leak.

Every line carries the ``service``; a line written while a request or an event is being handled also carries
its ``correlation_id`` (one per flow: a request's id, copied into every event it causes) and the
``event_id``. These are read from context variables at write time, so lines from any thread carry them.
"""

from __future__ import annotations

import contextvars
import logging
import sys

import structlog

# The request (or consumed event) that started the current work: copied into every event written meanwhile.
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
# Which service a thread works for (several share a process in the tests); else the one configured.
service: contextvars.ContextVar[str | None] = contextvars.ContextVar("service", default=None)
_service = {"name": None}

_FORBIDDEN = ("name", "email", "phone", "answer", "address", "note", "body", "token", "dob", "birth")


def _drop_personal_fields(_logger, _method, event_dict):
    for key in list(event_dict):
        if key != "event" and any(word in key.lower() for word in _FORBIDDEN):
            event_dict[key] = "[redacted]"
    return event_dict


def _add_context(_logger, _method, event_dict):
    event_dict.setdefault("service", service.get() or _service["name"])
    for key, var in (("correlation_id", correlation_id), ("event_id", event_id)):
        value = var.get()
        if value is not None:
            event_dict.setdefault(key, value)
    return event_dict


def configure(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level, force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_personal_fields,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),  # today's stderr, not configure-time's
        cache_logger_on_first_use=False,
    )
    _service["name"] = service


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
