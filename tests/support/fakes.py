"""Fakes for unit tests: a Kafka record and a producer that only remembers what it was given."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Record:
    value: bytes
    topic: str = "attune.scheduling"
    partition: int = 0
    offset: int = 0
    key: bytes = b"c1"
    headers: list = field(default_factory=list)


class _Future:
    def get(self, timeout=None):
        return None


class FakeProducer:
    def __init__(self):
        self.sent = []

    def send(self, topic, key=None, value=None, headers=None):
        self.sent.append((topic, dict(headers)))
        return _Future()
