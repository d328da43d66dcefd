"""A local mail sink: a real SMTP server (aiosmtpd) that keeps every message as an .eml file, plus a small
page listing them so a person can open the questionnaire link from the "email".

    python -m deploy.mailsink --dir var/mail --smtp-port 8025 --web-port 8025
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: Path
    message: EmailMessage

    @property
    def to(self) -> str:
        return self.message["To"]

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""


class _SaveHandler:
    def __init__(self, directory: Path):
        self.directory = directory
        self.lock = threading.Lock()
        self.count = 0
        self.refuse_with: str | None = None  # tests: make the server answer e.g. "451 try later"
        self.stall_seconds = 0.0  # tests: take the message, then answer only after this long (a timeout)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_with:
            return self.refuse_with
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        with self.lock:
            self.count += 1
            name = f"{time.time_ns()}-{self.count:06d}.eml"
        # written under another name, then renamed: a reader of *.eml never sees half a message
        partial = self.directory / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 8025):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.handler = _SaveHandler(self.directory)
        self.host, self.port = host, port
        self.controller: Controller | None = None

    def start(self) -> MailSink:
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages(self) -> list[Received]:
        out = []
        for path in sorted(self.directory.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            out.append(Received(path, msg))
        return out

    def wait_for(self, predicate, count: int = 1, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if predicate(m)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def make_viewer(sink: MailSink):
    """A tiny Flask page: the newest messages first, each opened as text with clickable links."""
    from flask import Flask, abort, render_template_string

    app = Flask("mailsink")
    page = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Attune mail sink</title>
    <style>body{font-family:system-ui;max-width:60rem;margin:1rem auto;padding:0 1rem}td,th{padding:.3rem .6rem;
    text-align:left;border-bottom:1px solid #ddd}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}</style>
    </head><body><h1>Mail sink</h1>{% if msg %}<p><a href="/">&larr; all mail</a></p><h2>{{ msg.subject }}</h2>
    <p>To: {{ msg.to }}</p><pre>{{ body|urlize }}</pre>{% else %}<p>{{ items|length }} message(s) in {{ dir }}</p>
    <table><tr><th>To</th><th>Subject</th><th>File</th></tr>{% for m in items %}<tr><td>{{ m.to }}</td>
    <td><a href="/m/{{ m.path.name }}">{{ m.subject }}</a></td><td>{{ m.path.name }}</td></tr>{% endfor %}
    </table>{% endif %}</body></html>"""

    @app.get("/")
    def index():
        return render_template_string(page, items=list(reversed(sink.messages())), dir=sink.directory, msg=None)

    @app.get("/m/<name>")
    def show(name):
        match = [m for m in sink.messages() if m.path.name == name]
        if not match:
            abort(404)
        return render_template_string(page, msg=match[0], body=match[0].text(), items=[])

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.mailsink")
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--web-port", type=int, default=8090)
    args = parser.parse_args(argv)
    sink = MailSink(args.dir, port=args.smtp_port).start()
    print(
        f"SMTP on 127.0.0.1:{args.smtp_port}, mail in {args.dir}, viewer on http://127.0.0.1:{args.web_port}/",
        flush=True,
    )
    try:
        make_viewer(sink).run(host="127.0.0.1", port=args.web_port)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
