"""Where the practice stood on the broker when a backup began: each consumer group's committed offsets and the
end of each service's own topics (what its relay had published).

Both are read *before* the databases are dumped, so each dump holds at least what its group had committed
(the consumer commits after its transaction) and every event its relay published after the recorded end is
found again by scanning from there. On restore, each group is put back to its recorded offsets: what it
consumed after the backup is consumed again, and the restored inbox turns what the dump already holds into
no-ops.
"""

from __future__ import annotations

import time

from kafka import TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from shared.events import catalog
from shared.messaging.kafka_clients import make_admin, make_reader

SERVICES = ("scheduling", "feedback", "notifications")


class PositionsError(Exception):
    pass


def own_topics(service: str) -> list[str]:
    topics = [catalog.topic_for(service)]
    if catalog.directory_topic(service) in catalog.directory_topics():
        topics.append(catalog.directory_topic(service))
    return topics


def _partitions(reader, topics: list[str]) -> list[TopicPartition]:
    found = []
    for topic in topics:
        for p in sorted(reader.partitions_for_topic(topic) or ()):
            found.append(TopicPartition(topic, p))
    return found


def _as_json(offsets: dict[TopicPartition, int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for tp, offset in offsets.items():
        out.setdefault(tp.topic, {})[str(tp.partition)] = offset
    return out


def _from_json(stored: dict[str, dict[str, int]]) -> dict[TopicPartition, int]:
    return {TopicPartition(t, int(p)): o for t, parts in stored.items() for p, o in parts.items()}


def record(bootstrap: str) -> dict:
    """Committed offsets per group and the end offsets of every service's own topics, as JSON-able dicts."""
    admin, reader = make_admin(bootstrap, "attune-backup"), make_reader(bootstrap, "attune-backup", 30_000)
    try:
        groups = {}
        for service in SERVICES:
            committed = admin.list_group_offsets(catalog.group_id(service)).get(catalog.group_id(service), {})
            groups[service] = _as_json({tp: m.offset for tp, m in committed.items() if m.offset >= 0})
        ends = {service: _as_json(reader.end_offsets(_partitions(reader, own_topics(service)))) for service in SERVICES}
        return {"namespace": catalog.topic_for("x").rsplit(".", 1)[0], "groups": groups, "topic_ends": ends}
    except KafkaError as exc:
        raise PositionsError(f"the broker did not answer: {exc}") from exc
    finally:
        admin.close()
        reader.close()


def check_idle(bootstrap: str) -> None:
    """Refuse while any worker is still in its consumer group (a restore needs every worker stopped)."""
    admin = make_admin(bootstrap, "attune-restore")
    try:
        for service in SERVICES:
            group = catalog.group_id(service)
            members = admin.describe_groups([group]).get(group, {}).get("members") or []
            if members:
                raise PositionsError(f"{service}'s workers are still running ({len(members)} in its group): stop them")
    except KafkaError as exc:
        raise PositionsError(f"the broker did not answer: {exc}") from exc
    finally:
        admin.close()


def rewind(bootstrap: str, recorded: dict) -> dict[str, dict]:
    """Put every group back to the recorded offsets (clamped to what the broker still holds); a partition the
    group has reached since but had not at the backup goes back to its beginning. The groups must be empty
    (``check_idle``). Returns what was set, per group."""
    admin, reader = make_admin(bootstrap, "attune-restore"), make_reader(bootstrap, "attune-restore", 30_000)
    done = {}
    try:
        for service in SERVICES:
            group = catalog.group_id(service)
            wanted = _from_json(recorded["groups"].get(service, {}))
            now = admin.list_group_offsets(group).get(group, {})
            for tp in now:
                wanted.setdefault(tp, -1)  # not committed at the backup: from the start
            if not wanted:
                continue
            for topic in {tp.topic for tp in wanted}:
                reader.partitions_for_topic(topic)  # the reader needs their metadata before offsets
            first, last = reader.beginning_offsets(list(wanted)), reader.end_offsets(list(wanted))
            target = {tp: min(max(o if o >= 0 else first[tp], first[tp]), last[tp]) for tp, o in wanted.items()}
            errors = admin.alter_group_offsets(group, {tp: OffsetAndMetadata(o, "", -1) for tp, o in target.items()})
            failed = {tp: e for tp, e in errors.items() if e.__name__ != "NoError"}
            if failed:
                raise PositionsError(f"{service}: offsets not set: {failed}")
            done[service] = _as_json(target)
        return done
    except KafkaError as exc:
        raise PositionsError(f"the broker did not answer: {exc}") from exc
    finally:
        admin.close()
        reader.close()


def read_since(bootstrap: str, service: str, recorded: dict):
    """Every record on ``service``'s own topics from the recorded ends to the ends now, in partition order."""
    reader = make_reader(bootstrap, f"attune-restore-{service}", 30_000)
    try:
        start = _from_json(recorded["topic_ends"].get(service, {}))
        partitions = _partitions(reader, own_topics(service))
        if not partitions:
            return
        first, last = reader.beginning_offsets(partitions), reader.end_offsets(partitions)
        reader.assign(partitions)
        remaining = {}
        for tp in partitions:
            begin = min(max(start.get(tp, first[tp]), first[tp]), last[tp])
            if begin < last[tp]:
                reader.seek(tp, begin)
                remaining[tp] = last[tp]
            else:
                reader.pause(tp)
        quiet_since = time.monotonic()
        while remaining:
            batch = reader.poll(timeout_ms=1000, max_records=2000)
            if batch:
                quiet_since = time.monotonic()
            elif all(reader.position(tp) >= end for tp, end in remaining.items()):
                break
            elif time.monotonic() - quiet_since > 120:
                raise PositionsError(f"{service}: the broker stopped returning records before the end of its topics")
            for tp, records in batch.items():
                for r in records:
                    if r.offset < remaining.get(tp, -1):
                        yield r
                if reader.position(tp) >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
                    reader.pause(tp)
    finally:
        reader.close()
