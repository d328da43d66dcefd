"""The event contract: the CloudEvents envelope and one schema per event type and version."""

from shared.events.catalog import CATALOG, EventSpec, UnknownEventType, spec_for
from shared.events.envelope import Event, MalformedEvent

__all__ = ["CATALOG", "Event", "EventSpec", "MalformedEvent", "UnknownEventType", "spec_for"]
