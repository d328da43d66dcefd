"""After the databases are back: each service reads its own topics from where they ended at the backup to
where they end now and hands every event to its ``recovery.recover`` (its own code, on its own database), and
marks the outbox rows the relay had published but not yet recorded as published, so nothing is published
twice. What a service cannot rebuild is listed (ids and types only: never a name) for the front desk."""

from __future__ import annotations

import importlib
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from deploy.ops import positions
from shared.db import make_engine, make_session_factory, utcnow
from shared.events import catalog
from shared.events.envelope import Event, MalformedEvent
from shared.messaging.tables import OutboxMessage


@dataclass
class CatchUp:
    service: str
    counts: Counter = field(default_factory=Counter)
    unrestored: list[dict] = field(default_factory=list)  # {service, type, subject, event_id, time}


def _outbox_id(topic: str, event_id: str) -> str:
    """The outbox row's id for a record: a directory topic's copy is stored under an id derived from the event's."""
    if topic.endswith(".directory"):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"attune-directory:{event_id}"))
    return event_id


def catch_up(service: str, url: str, settings, bootstrap: str, recorded: dict, batch: int = 500) -> CatchUp:
    recover = importlib.import_module(f"services.{service}.recovery").recover
    result = CatchUp(service)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    main_topic = catalog.topic_for(service)
    try:
        session = sessions()
        pending = 0
        for record in positions.read_since(bootstrap, service, recorded):
            try:
                event = Event.from_json(record.value)
                spec = catalog.spec_for(event)
                event = event.with_data(spec.load_incoming(event.data))
            except (MalformedEvent, catalog.UnknownEventType):
                result.counts["unreadable"] += 1
                continue
            row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.event_id == _outbox_id(record.topic, event.id))
            )
            if row is not None and row.published_at is None:
                row.published_at = utcnow()
                result.counts["outbox rows found published"] += 1
            if record.topic == main_topic:
                with session.begin_nested():
                    outcome = recover(session, event, settings)
                result.counts[outcome] += 1
                if outcome == "not restorable":
                    result.unrestored.append(
                        {"service": service, "type": event.name, "subject": event.subject, "event_id": event.id,
                         "time": event.time.isoformat()}
                    )  # fmt: skip
            pending += 1
            if pending >= batch:
                session.commit()
                pending = 0
        session.commit()
        session.close()
    finally:
        engine.dispose()
    return result
