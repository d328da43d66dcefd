"""A service's worker process: the outbox relay in a thread and the consumer loop in the main thread.

Clients are created here, after any fork. SIGTERM / SIGINT stop both cleanly: the consumer finishes the
record in hand and commits its offset; unpublished outbox rows simply wait for the next start.
"""

from __future__ import annotations

import signal
import threading

from shared import logs
from shared.events.catalog import group_id
from shared.messaging.consumer import ConsumerLoop
from shared.messaging.kafka_clients import make_consumer, make_producer
from shared.messaging.relay import OutboxRelay
from shared.runtime import Runtime
from shared.wiring import Wiring

log = logs.get("worker")


def build(runtime: Runtime, wiring: Wiring, **relay_opts) -> tuple[OutboxRelay, ConsumerLoop]:
    cfg = runtime.settings
    bootstrap = cfg.kafka_bootstrap
    relay = OutboxRelay(
        runtime.sessions,
        lambda: make_producer(bootstrap, f"{cfg.service}-relay"),
        name=cfg.service,
        wake_port=cfg.wake_port,
        **relay_opts,
    )
    topics = wiring.topics
    loop = ConsumerLoop(
        group=cfg.service,
        handlers=wiring.handlers,
        session_factory=runtime.sessions,
        consumer_factory=lambda: make_consumer(bootstrap, group_id(cfg.service), topics, f"{cfg.service}-worker"),
        producer_factory=lambda: make_producer(bootstrap, f"{cfg.service}-dlq"),
    )
    return relay, loop


def start_threads(relay: OutboxRelay, loop: ConsumerLoop, stop: threading.Event, extra=()) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=relay.run, args=(stop,), name="relay", daemon=True),
        threading.Thread(target=loop.run, args=(stop,), name="consumer", daemon=True),
    ]
    threads += [
        threading.Thread(target=fn, args=(stop,), name=getattr(fn, "__name__", "loop"), daemon=True) for fn in extra
    ]
    for t in threads:
        t.start()
    return threads


def run_forever(runtime: Runtime, wiring: Wiring) -> None:
    """Entry point for ``python -m services.<name>.worker``."""
    stop = threading.Event()
    relay, loop = build(runtime, wiring)

    def _stop(signum, _frame):
        log.info("worker.stopping", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threads = start_threads(relay, loop, stop, wiring.loops)
    log.info("worker.started", service=runtime.settings.service, sources=wiring.sources)
    while not stop.is_set():
        stop.wait(1.0)
    for t in threads:
        t.join(timeout=15)
    log.info("worker.stopped", service=runtime.settings.service)


def main(settings_class, bootstrap) -> None:
    """``python -m services.<name>.worker``: settings from the environment, composed by the service's bootstrap."""
    settings = settings_class.from_env()
    logs.configure(settings.service)
    runtime = Runtime.build(settings)
    run_forever(runtime, bootstrap(settings, runtime))
