"""The raw ceiling beside the pipeline: kafka-python alone producing and consuming records of the pipeline's size
through the same broker, with the same client settings (acks=all, idempotence, read_committed), and nothing
else: no database, no handler. The pipeline's events/s is reported as a fraction of it."""

from __future__ import annotations

import threading
import time
import uuid

from shared.messaging.kafka_clients import ensure_topics, make_consumer, make_producer


def raw_ceiling(bootstrap: str, records: int, size: int, partitions: int = 6) -> dict:
    """Produce ``records`` of ``size`` bytes from one thread while one consumer reads them in another: events/s
    for producing, and end to end (first send to last record read)."""
    topic = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions=partitions)
    group = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(bootstrap, group, [topic], "bench-ceiling")
    while not consumer.assignment():  # joined the group before the first record: none is missed
        consumer.poll(timeout_ms=200)
    value = b"x" * size
    read = {"n": 0, "last": 0.0}
    done, stop = threading.Event(), threading.Event()

    def consume() -> None:
        while read["n"] < records and not stop.is_set():
            for batch in consumer.poll(timeout_ms=200, max_records=2000).values():
                read["n"] += len(batch)
            read["last"] = time.perf_counter()
        done.set()

    reader = threading.Thread(target=consume, daemon=True)
    producer = make_producer(bootstrap, "bench-ceiling")
    started = time.perf_counter()
    reader.start()
    for n in range(records):
        producer.send(topic, key=f"client-{n % 997}".encode(), value=value)
    producer.flush(timeout=120)
    produced = time.perf_counter() - started
    finished = done.wait(timeout=max(300.0, 3 * produced))
    stop.set()
    reader.join(timeout=5)  # the reader stops polling before its consumer is closed
    consumer.close()
    producer.close(timeout=5)
    return {
        "records": records,
        "bytes": size,
        "produce_per_second": round(records / produced),
        "read": read["n"],  # fewer than ``records`` when the reader ran out of time: no end-to-end rate then
        "end_to_end_per_second": round(read["n"] / (read["last"] - started)) if finished else None,
    }
