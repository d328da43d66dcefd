"""Read what is on a topic, for assertions: every record from the beginning to the current end, outside any
consumer group (nothing committed, nothing disturbed)."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from shared.events.envelope import Event


def events_on(bootstrap: str, topic: str) -> list[Event]:
    probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
        probe.assign(tps)
        probe.seek_to_beginning(*tps)
        end = probe.end_offsets(tps)
        found = []
        while any(probe.position(tp) < end[tp] for tp in tps):
            for records in probe.poll(timeout_ms=1000).values():
                found += [Event.from_json(r.value) for r in records]
        return found
    finally:
        probe.close()
