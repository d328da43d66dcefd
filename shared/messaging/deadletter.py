"""Dead letters: records a consumer could not process, parked with the reason in headers so the partition flows.

Replaying republishes the original bytes to the original topic; the consumer's inbox makes a replay of
something already handled a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from shared.db import utcnow
from shared.events.catalog import dead_letter_topic

DLQ_PREFIX = "dlq."


def send_to_dead_letter(producer, group: str, record, reason: str, error: str, timeout: float = 30.0) -> None:
    """Publish ``record`` to the group's dead-letter topic and wait for the acknowledgement."""
    headers = [(k, v) for k, v in (record.headers or []) if not k.startswith(DLQ_PREFIX)]
    headers += [
        ("dlq.reason", reason.encode()),
        ("dlq.error", error[:1000].encode()),
        ("dlq.group", group.encode()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.failed_at", utcnow().isoformat().encode()),
    ]
    future = producer.send(dead_letter_topic(group), key=record.key, value=record.value, headers=headers)
    future.get(timeout=timeout)


@dataclass
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers["dlq.topic"]


def read_dead_letters(bootstrap: str, group: str, timeout_ms: int = 5000) -> list[DeadLetter]:
    """Everything in the group's dead-letter topic, read without joining a consumer group."""
    topic = dead_letter_topic(group)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = consumer.poll(timeout_ms=timeout_ms)
            if not batch:
                break
            for tp, records in batch.items():
                for r in records:
                    letters.append(
                        DeadLetter(r.partition, r.offset, r.key, r.value, {k: v.decode() for k, v in r.headers or []})
                    )
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return sorted(letters, key=lambda d: (d.partition, d.offset))
    finally:
        consumer.close()


def replay(producer, letter: DeadLetter, timeout: float = 30.0) -> None:
    headers = [(k, v.encode()) for k, v in letter.headers.items() if not k.startswith(DLQ_PREFIX)]
    headers.append(("dlq.replayed_from", f"{letter.partition}:{letter.offset}".encode()))
    producer.send(letter.original_topic, key=letter.key, value=letter.value, headers=headers).get(timeout=timeout)
