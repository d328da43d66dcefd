"""A service's worker process: the outbox relay, the consumer loop and the service's extra loops, each in a
thread; a loopback endpoint answers health (``/``) and Prometheus metrics (``/metrics``).

Clients are created here, after any fork. SIGTERM / SIGINT stop both cleanly: the consumer finishes the
record in hand and commits its offset; unpublished outbox rows simply wait for the next start.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shared import logs, metrics
from shared.db import utcnow
from shared.events.catalog import dead_letter_topic, ensure_all_topics, group_id
from shared.loops import Health, run_guarded
from shared.messaging.backlog_metrics import messaging_state
from shared.messaging.consumer import ConsumerLoop
from shared.messaging.kafka_clients import make_admin, make_consumer, make_producer, make_reader, use_security
from shared.messaging.relay import OutboxRelay
from shared.runtime import Runtime
from shared.wiring import Wiring

log = logs.get("worker")
SHUTDOWN_SECONDS = 10.0  # every thread gets this long, in all, to finish the item in hand


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
        park_timeout=timedelta(hours=cfg.park_timeout_hours),
        setup=lambda: ensure_all_topics(
            bootstrap, cfg.kafka_partitions, cfg.kafka_replication_factor, cfg.kafka_min_insync_replicas
        ),
        reader_factory=lambda: make_reader(bootstrap, f"{cfg.service}-directory"),
        directory_topics=tuple(wiring.directory_topics),
    )
    return relay, loop


def _as(service: str, target):
    """Run ``target`` with this thread's log lines saying which service it works for."""

    def run(*args):
        logs.service.set(service)
        return target(*args)

    return run


def start_threads(
    relay: OutboxRelay, loop: ConsumerLoop, stop: threading.Event, extra=(), health: Health | None = None
) -> list[threading.Thread]:
    """Relay, consumer and the wiring's extra loops, each in a thread, each guarded and reporting to ``health``."""
    health = health or Health()
    targets = [("relay", relay.run, (stop, health)), ("consumer", loop.run, (stop, health))]
    targets += [(name, run_guarded, (name, one_pass, stop, health)) for name, one_pass in extra]
    threads = []
    for name, target, args in targets:
        thread = threading.Thread(target=_as(relay.name, target), args=args, name=name, daemon=True)
        health.threads[name] = thread
        thread.start()
        threads.append(thread)
    return threads


def metrics_registry(runtime: Runtime, wiring: Wiring):
    """What a worker's ``/metrics`` shows: its own counters, its database's state and its Kafka lag."""
    cfg = runtime.settings
    kafka = metrics.KafkaState(
        cfg.service,
        group_id(cfg.service),
        wiring.topics,
        dead_letter_topic(cfg.service),
        lambda: (
            make_admin(cfg.kafka_bootstrap, f"{cfg.service}-metrics"),
            make_reader(cfg.kafka_bootstrap, f"{cfg.service}-metrics", request_timeout_ms=8_000),
        ),
    )
    database = metrics.DatabaseState(
        cfg.service, runtime.sessions, [messaging_state(cfg.service), *wiring.metrics], utcnow
    )
    return metrics.registry_with(database, kafka)


def serve_health(health: Health, port: int, registry=None) -> ThreadingHTTPServer:
    """On loopback ``port``: ``GET /`` answers 200 with each loop's last progress, or 503 saying why not;
    ``GET /metrics`` answers the Prometheus exposition of ``registry``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            if self.path.split("?", 1)[0] == "/metrics" and registry is not None:
                self._answer(200, metrics.CONTENT_TYPE, metrics.exposition(registry))
                return
            healthy, details = health.report()
            body = json.dumps({"status": "ok" if healthy else "unhealthy", **details}).encode()
            self._answer(200 if healthy else 503, "application/json", body)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # probes every few seconds: not worth a log line each
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def run_forever(runtime: Runtime, wiring: Wiring) -> int:
    """Run the worker until SIGTERM/SIGINT (returns 0) or until a loop's thread dies, which no loop should
    ever let happen (returns 1, so the process supervisor restarts the worker)."""
    settings = runtime.settings
    stop = threading.Event()
    relay, loop = build(runtime, wiring)

    def _stop(signum, _frame):
        log.info("worker.stopping", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    health = Health(stall_after=settings.worker_stall_seconds)
    server = None
    if settings.worker_health_port:
        server = serve_health(health, settings.worker_health_port, metrics_registry(runtime, wiring))
    threads = start_threads(relay, loop, stop, wiring.loops, health)
    log.info(
        "worker.started", service=settings.service, sources=wiring.sources, health_port=settings.worker_health_port
    )
    status = 0
    while not stop.wait(1.0):
        dead = [t.name for t in threads if not t.is_alive()]
        if dead:
            log.error("worker.thread_died", service=settings.service, threads=dead)
            status = 1
            stop.set()
    deadline = time.monotonic() + SHUTDOWN_SECONDS
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    if server is not None:
        server.shutdown()
    log.info("worker.stopped", service=settings.service, status=status)
    return status


def main(settings_class, bootstrap) -> None:
    """``python -m services.<name>.worker``: settings from the environment, composed by the service's bootstrap."""
    settings = settings_class.from_env()
    logs.configure(settings.service)
    use_security(settings.kafka_security())
    runtime = Runtime.build(settings)
    sys.exit(run_forever(runtime, bootstrap(settings, runtime)))
