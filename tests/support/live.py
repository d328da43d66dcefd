"""Serve a Flask app on a real loopback port in a thread (for end-to-end and browser tests)."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server

from tests.support.ports import free_port


class LiveServer:
    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
