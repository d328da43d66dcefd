"""A local SMS provider: Twilio's documented Messages API and its webhooks, on 127.0.0.1, for the dev stack
and the tests (the SMS counterpart of the mail sink). Nothing leaves the machine.

    python -m deploy.smssink --dir var/sms --port 8035 --inbound-url http://127.0.0.1:8003/sms/inbound

What it checks, as the provider does:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (the Account SID and Auth
  Token; 401 with error 20003 otherwise), ``To`` in E.164 (400, 21211), ``From`` or ``MessagingServiceSid``
  (400, 21603), a ``Body`` of 1-1600 characters (400, 21617). A number that replied STOP is refused (400,
  21610). Answers 201 with the message resource (``sid``, ``status: queued``).
* Then the delivery reports to the message's ``StatusCallback``: ``sent``, then ``delivered``, or ``failed``
  with ``ErrorCode`` 30003 for numbers listed with ``--fail`` (tests: ``fail_numbers``). Each is signed as the
  provider signs (``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by the sorted parameters'
  names and values, keyed with the Auth Token).
* ``reply(number, body)`` sends a client's reply to the inbound webhook, signed the same way; a stop word
  also blocks that number here, as the provider's own opt-out handling does.

Every accepted message is kept as a JSON file in ``--dir``; a small page lists them (``/``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from werkzeug.serving import make_server

DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "dev-sms-auth-token-not-for-production"  # noqa: S105 - the dev stack's, like its SMTP sink
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The provider's webhook signature (its security documentation's algorithm)."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Text:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str | None
    at: float

    @classmethod
    def load(cls, path: Path) -> Text:
        return cls(**json.loads(path.read_text()))


class SmsSink:
    def __init__(
        self,
        directory: Path,
        port: int = 8035,
        account_sid: str = DEV_ACCOUNT_SID,
        auth_token: str = DEV_AUTH_TOKEN,
        inbound_url: str | None = None,
    ):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port, self.account_sid, self.auth_token, self.inbound_url = port, account_sid, auth_token, inbound_url
        self.fail_numbers: set[str] = set()  # tests: these numbers get a "failed" delivery report
        self.stopped: set[str] = set()  # numbers that replied STOP: refused with 21610
        self.unavailable = False  # tests: answer 503 to every request (the provider is down)
        self.reports: list[tuple[str, str, int]] = []  # (sid, status, HTTP status of our webhook's answer)
        self._server = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the API -------------------------------------------------------------------------------------------

    def app(self):
        from flask import Flask, jsonify, render_template_string, request

        app = Flask("smssink")

        def error(status: int, code: int, message: str):
            return jsonify({"code": code, "message": message, "status": status}), status

        @app.post("/2010-04-01/Accounts/<sid>/Messages.json")
        def create(sid):
            if self.unavailable:
                return error(503, 20500, "Service unavailable")
            auth = request.authorization
            if sid != self.account_sid or auth is None or (auth.username, auth.password) != (sid, self.auth_token):
                return error(401, 20003, "Authenticate")
            form = request.form
            to, body = form.get("To", ""), form.get("Body", "")
            sender = form.get("From") or form.get("MessagingServiceSid")
            if not E164.match(to):
                return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            if not sender:
                return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
            if not 1 <= len(body) <= 1600:
                return error(400, 21617, "The concatenated message body exceeds the 1600 character limit")
            if to in self.stopped:
                return error(400, 21610, "Attempt to send to unsubscribed recipient")
            text = Text("SM" + uuid.uuid4().hex, to, sender, body, form.get("StatusCallback"), time.time())
            with self._lock:
                (self.directory / f"{time.time_ns()}-{text.sid}.json").write_text(json.dumps(text.__dict__))
            if text.status_callback:
                threading.Thread(target=self._report, args=(text,), daemon=True).start()
            resource = {"sid": text.sid, "account_sid": sid, "to": to, "from": sender, "body": body}
            return jsonify({**resource, "status": "queued", "num_segments": "1", "direction": "outbound-api"}), 201

        @app.get("/")
        def index():
            page = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Attune SMS sink</title>
            <style>body{font-family:system-ui;max-width:60rem;margin:1rem auto;padding:0 1rem}td,th{padding:.3rem
            .6rem;text-align:left;border-bottom:1px solid #ddd}</style></head><body><h1>SMS sink</h1>
            <table><tr><th>To</th><th>Text</th></tr>{% for t in texts %}<tr><td>{{ t.to }}</td>
            <td>{{ t.body|urlize }}</td></tr>{% endfor %}</table></body></html>"""
            return render_template_string(page, texts=list(reversed(self.messages())))

        return app

    def _post_signed(self, url: str, params: dict[str, str]) -> int:
        headers = {"X-Twilio-Signature": signature(self.auth_token, url, params)}
        try:
            return requests.post(url, data=params, headers=headers, timeout=10).status_code
        except requests.RequestException:
            return 0

    def _report(self, text: Text) -> None:
        base = {"MessageSid": text.sid, "AccountSid": self.account_sid, "To": text.to, "From": text.sender}
        steps = [("sent", None), ("failed", "30003")] if text.to in self.fail_numbers else [("sent", None)]
        if text.to not in self.fail_numbers:
            steps.append(("delivered", None))
        for status, code in steps:
            time.sleep(0.05)
            params = {**base, "MessageStatus": status, **({"ErrorCode": code} if code else {})}
            answer = self._post_signed(text.status_callback, params)
            with self._lock:
                self.reports.append((text.sid, status, answer))

    def reply(self, number: str, body: str) -> int:
        """The client with ``number`` replies ``body``: delivered to the inbound webhook, signed."""
        if " ".join(body.upper().split()) in STOP_WORDS:
            self.stopped.add(number)
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.account_sid,
            "From": number,
            "To": "+447700900000",
            "Body": body,
        }
        return self._post_signed(self.inbound_url, params)

    # -- running and reading -------------------------------------------------------------------------------

    def start(self) -> SmsSink:
        self._server = make_server("127.0.0.1", self.port, self.app(), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def messages(self) -> list[Text]:
        with self._lock:
            return [Text.load(p) for p in sorted(self.directory.glob("*.json"))]

    def wait_for(self, predicate, count: int = 1, timeout: float = 30.0) -> list[Text]:
        deadline = time.monotonic() + timeout
        while True:
            found = [t for t in self.messages() if predicate(t)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.smssink")
    parser.add_argument("--dir", type=Path, default=Path("var/sms"))
    parser.add_argument("--port", type=int, default=8035)
    parser.add_argument("--inbound-url", default="http://127.0.0.1:8003/sms/inbound")
    parser.add_argument("--fail", action="append", default=[], help="a number whose texts fail (repeat)")
    args = parser.parse_args(argv)
    sink = SmsSink(args.dir, args.port, inbound_url=args.inbound_url)
    sink.fail_numbers.update(args.fail)
    sink.start()
    print(f"SMS provider API on {sink.url}, texts in {args.dir}, list at {sink.url}/", flush=True)
    try:
        threading.Event().wait()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
