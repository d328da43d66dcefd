"""gunicorn settings for every web service: ``gunicorn -c deploy/gunicorn_conf.py services.<name>.wsgi:app``.

Metrics in prometheus-client's multiprocess mode: each gunicorn worker writes its counters to files in a
directory made fresh for this master, and the master serves their sum on ``<SERVICE>_METRICS_PORT``
(loopback, never the public port). A worker that exits has its live gauges dropped.
"""

from __future__ import annotations

import os
import shutil
import tempfile

accesslog = None  # our own request log names the route template, never the raw path (it can carry a token)
graceful_timeout = 20
control_socket_disable = True  # gunicorn's control socket has one default path: the three services would share it

_state: dict = {}


def _service(server) -> str:
    """``services.<name>.wsgi:app`` -> ``<name>``."""
    return server.app.app_uri.split(".")[1]


def on_starting(server):
    service = _service(server)
    directory = tempfile.mkdtemp(prefix=f"attune-{service}-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # before prometheus_client is imported anywhere
    _state.update(service=service, directory=directory)


def when_ready(server):
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    from shared.config import SERVICES

    if _state["service"] not in SERVICES:
        return
    settings = _settings(_state["service"])
    if not settings.metrics_port:
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(settings.metrics_port, addr="127.0.0.1", registry=registry)
    server.log.info("metrics on http://127.0.0.1:%s/metrics", settings.metrics_port)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_state.get("directory", ""), ignore_errors=True)


def _settings(service: str):
    import importlib

    module = importlib.import_module(f"services.{service}.settings")
    return getattr(module, f"{service.capitalize()}Settings").from_env()
