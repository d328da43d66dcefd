"""The CloudEvents 1.0 envelope (structured JSON mode) plus correlation and causation ids.

The whole envelope travels as the Kafka value; its key attributes are repeated as ``ce_*`` headers so
tools can route and inspect without parsing, and the Kafka key is the subject (the client id), which keeps
one client's events in order on one partition.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"


class MalformedEvent(ValueError):
    """The bytes are not a valid Attune envelope: such a record can only be dead-lettered."""


class _EnvelopeSchema(Schema):
    id = fields.UUID(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1))
    type = fields.String(required=True, validate=validate.Regexp(r"^attune\.[a-z_]+\.[a-z_.]+$"))
    specversion = fields.String(required=True, validate=validate.Equal(SPECVERSION))
    time = fields.AwareDateTime(required=True, format="iso")
    subject = fields.String(required=True, validate=validate.Length(min=1))
    datacontenttype = fields.String(load_default="application/json")
    dataversion = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    correlationid = fields.String(allow_none=True, load_default=None)
    causationid = fields.String(allow_none=True, load_default=None)
    data = fields.Dict(required=True)


_ENVELOPE = _EnvelopeSchema()


@dataclass(frozen=True)
class Event:
    type: str
    source: str
    subject: str
    data: Any  # the wire dict; after the consumer loads it, the spec's frozen dataclass
    dataversion: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlationid: str | None = None
    causationid: str | None = None

    @property
    def name(self) -> str:
        """The short name, e.g. ``session.completed`` for ``attune.scheduling.session.completed``."""
        return self.type.split(".", 2)[2]

    def to_json(self) -> str:
        return json.dumps(
            {
                "specversion": SPECVERSION,
                "id": self.id,
                "source": self.source,
                "type": self.type,
                "time": self.time.astimezone(UTC).isoformat(),
                "subject": self.subject,
                "datacontenttype": "application/json",
                "dataversion": self.dataversion,
                "correlationid": self.correlationid,
                "causationid": self.causationid,
                "data": self.data,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        attrs = {
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_source": self.source,
            "ce_specversion": SPECVERSION,
            "ce_subject": self.subject,
            "ce_time": self.time.astimezone(UTC).isoformat(),
            "ce_dataversion": str(self.dataversion),
            "ce_correlationid": self.correlationid or "",
            "ce_causationid": self.causationid or "",
            "content-type": CONTENT_TYPE,
        }
        return [(k, v.encode()) for k, v in attrs.items()]

    def with_data(self, data: Any) -> Event:
        return replace(self, data=data)

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Event:
        if raw is None:
            raise MalformedEvent("no value (a null record)")
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise MalformedEvent(f"not JSON: {type(exc).__name__}") from exc
        if not isinstance(doc, dict):
            raise MalformedEvent("envelope is not a JSON object")
        try:
            loaded = _ENVELOPE.load(doc, unknown="exclude")
        except ValidationError as exc:
            raise MalformedEvent(f"bad envelope: {exc.messages}") from exc
        return cls(
            id=str(loaded["id"]),
            type=loaded["type"],
            source=loaded["source"],
            subject=loaded["subject"],
            data=loaded["data"],
            dataversion=loaded["dataversion"],
            time=loaded["time"],
            correlationid=loaded["correlationid"],
            causationid=loaded["causationid"],
        )
