"""The main flow driven through the public HTTP surfaces only, as the front desk and clients would: register a
client, book a session, complete it, read the invitation from the mail sink, answer the questionnaire page.

Every POST carries an ``Idempotency-Key`` and is retried on a connection error or a 5xx (a well-behaved API
client: a retry after a lost answer cannot create anything twice). A flow that waits for an email does not
hold a thread: the mail index hands it back to the pool when its invitation arrives.
"""

from __future__ import annotations

import email
import email.policy
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

LINK = re.compile(r"https?://[^\s/]+/q/[A-Za-z0-9_\-]+")
ZERO = {f"phq9.{i}": "0" for i in range(1, 10)} | {"phq9.difficulty": "1"}
RISK = ZERO | {"phq9.9": "1"}  # "thoughts that you would be better off dead": several days -> urgent alert
BASELINE = ZERO | {"phq9.1": "2", "phq9.2": "2", "phq9.3": "2", "phq9.4": "1"}  # 7
WORSE = BASELINE | {"phq9.5": "2", "phq9.6": "2", "phq9.7": "2", "phq9.8": "1"}  # 14: a reliable deterioration
KINDS = ("steady", "risk", "deteriorating")


class Gone(Exception):
    """The server answered that the thing is not there (a used link): said once, not retried."""


@dataclass
class Api:
    """Staff API calls with a real access token (refreshed before it expires), retried through outages."""

    token: Callable[[], str]
    stop: threading.Event = field(default_factory=threading.Event)  # set: no more retries (the run is over)
    retry_for: float = 300.0
    calls: int = 0
    retries: int = 0

    def post(self, url: str, json: dict | None = None) -> dict:
        return self._call("POST", url, json, {"Idempotency-Key": str(uuid.uuid4())})

    def _call(self, method: str, url: str, body, headers: dict) -> dict:
        deadline = time.monotonic() + self.retry_for
        delay = 0.5
        while True:
            self.calls += 1
            try:
                response = requests.request(
                    method, url, json=body, timeout=30, headers={**headers, "Authorization": f"Bearer {self.token()}"}
                )
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise RuntimeError(f"{method} {url.split('/api/', 1)[-1]}: {response.status_code}")
                    return response.json()
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.stop.is_set():
                raise RuntimeError(f"{method} {url} kept failing for {self.retry_for:.0f} s")
            self.retries += 1
            self.stop.wait(delay)
            delay = min(delay * 2, 5.0)


def answer(link: str, answers: dict, stop: threading.Event, retry_for: float = 300.0) -> str:
    """Open the questionnaire page and submit it, as a phone's browser would; retried through outages.
    Returns ``submitted``, or ``already`` when a retry finds the link used (an earlier attempt went through)."""
    deadline = time.monotonic() + retry_for
    tried = False
    while True:
        browser = requests.Session()
        try:
            page = browser.get(link, timeout=30)
            if page.status_code in (404, 410) and tried:
                return "already"
            if page.status_code == 200:
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                tried = True
                done = browser.post(link, data={"csrf": csrf, **answers}, timeout=30)
                if done.status_code == 200:
                    return "submitted"
            elif page.status_code < 500:
                raise Gone(f"questionnaire page answered {page.status_code}")
        except requests.RequestException:
            tried = True  # the POST may have gone through
        if time.monotonic() > deadline or stop.is_set():
            raise RuntimeError(f"the questionnaire page kept failing for {retry_for:.0f} s")
        stop.wait(1.0)


@dataclass
class Flow:
    number: int
    kind: str
    client_id: str | None = None
    clinician_id: str | None = None
    email: str = ""
    sessions: int = 0  # completed
    answered: int = 0
    done: bool = False
    error: str | None = None
    lost: int = 0  # found by the tally
    steps: list[float] = field(default_factory=list)  # wall-clock times of its steps

    @property
    def sessions_wanted(self) -> int:
        return 2 if self.kind == "deteriorating" else 1

    def answers_for(self, session: int) -> dict:
        if self.kind == "risk":
            return RISK
        if self.kind == "deteriorating":
            return BASELINE if session == 1 else WORSE
        return ZERO


class MailIndex:
    """Reads the mail sink's folder as files arrive (each file once) and hands each questionnaire link to
    whoever waits for that address."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.seen: set[str] = set()
        self.links: dict[str, list[str]] = {}
        self.waiting: dict[tuple[str, int], Callable[[str], None]] = {}
        self.lock = threading.Lock()

    def wait_for(self, address: str, nth: int, then: Callable[[str], None]) -> None:
        """Call ``then(link)`` once the ``nth`` (1-based) questionnaire link to ``address`` has arrived."""
        with self.lock:
            found = self.links.get(address, [])
            if len(found) >= nth:
                link = found[nth - 1]
            else:
                self.waiting[(address, nth)] = then
                return
        then(link)

    def scan(self) -> None:
        ready = []
        for path in sorted(self.directory.glob("*.eml")):
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            match = LINK.search(body.get_content() if body else "")
            if not match:
                continue
            address = str(message["To"])
            with self.lock:
                found = self.links.setdefault(address, [])
                if match.group(0) in found:
                    continue  # a flagged possible duplicate of an invitation already seen
                found.append(match.group(0))
                then = self.waiting.pop((address, len(found)), None)
            if then is not None:
                ready.append((then, match.group(0)))
        for then, link in ready:
            then(link)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self.scan()


@dataclass
class Practice:
    """What the flows book against: an appointment type, clinicians (each with a supervisor), free hours."""

    clinicians: list[str]
    supervisors: dict[str, str]
    _next_slot: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(minute=0, second=0, microsecond=0))

    def slot(self, clinician: str) -> datetime:
        """The clinician's next free hour, counting forward from 120 days ago (every session is in the past)."""
        with self._lock:
            k = self._next_slot.get(clinician, 0)
            self._next_slot[clinician] = k + 1
        return self.start - timedelta(days=120) + timedelta(hours=k)


def set_up_practice(api: Api, scheduling: str, clinicians: int, tag: str) -> Practice:
    api.post(f"{scheduling}/api/appointment-types", {"id": "individual", "name": "Individual therapy", "minutes": 50})
    supervisor = api.post(
        f"{scheduling}/api/clinicians",
        {"name": "Supervisor", "email": f"supervisor-{tag}@practice.example", "working_hours": {}},
    )["id"]
    ids = []
    for n in range(clinicians):
        ids.append(
            api.post(
                f"{scheduling}/api/clinicians",
                {
                    "name": f"Clinician {n}",
                    "email": f"clinician{n}-{tag}@practice.example",
                    "working_hours": {},
                    "supervisor_id": supervisor,
                },
            )["id"]
        )
    return Practice(ids, {c: supervisor for c in ids})


class Driver:
    """Runs flows: the staff steps in a thread pool, each answer once its invitation has arrived."""

    def __init__(self, api: Api, urls: dict[str, str], practice: Practice, mail: MailIndex, threads: int, tag: str):
        self.api, self.urls, self.practice, self.mail, self.tag = api, urls, practice, mail, tag
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flow")
        self.flows: list[Flow] = []
        self._lock = threading.Lock()

    def plan(self, count: int, shares: dict[str, float], seed: int) -> list[Flow]:
        rng = random.Random(seed)
        kinds = rng.choices(list(shares), weights=list(shares.values()), k=count)
        self.flows = [Flow(n, kind) for n, kind in enumerate(kinds)]
        for flow in self.flows:
            flow.clinician_id = rng.choice(self.practice.clinicians)
            flow.email = f"client{flow.number}-{self.tag}@example.org"
        return self.flows

    def start(self, flow: Flow) -> None:
        self.pool.submit(self._guard, flow, self._register_and_complete)

    def _guard(self, flow: Flow, step, *args) -> None:
        try:
            step(flow, *args)
        except Exception as exc:  # noqa: BLE001 - recorded on the flow and reported; the run goes on
            flow.error = f"{type(exc).__name__}: {exc}"[:300]

    def _register_and_complete(self, flow: Flow) -> None:
        scheduling = self.urls["scheduling"]
        flow.steps.append(time.time())
        flow.client_id = self.api.post(
            f"{scheduling}/api/clients",
            {
                "legal_name": f"Client {flow.number}",
                "preferred_name": f"C{flow.number}",
                "email": flow.email,
                "consent_email": True,
                "clinician_id": flow.clinician_id,
            },
        )["id"]
        self._complete_a_session(flow)

    def _complete_a_session(self, flow: Flow) -> None:
        scheduling = self.urls["scheduling"]
        starts = self.practice.slot(flow.clinician_id)
        appointment = self.api.post(
            f"{scheduling}/api/appointments",
            {
                "client_id": flow.client_id,
                "clinician_id": flow.clinician_id,
                "type_id": "individual",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=50)).isoformat(),
                "override_reason": "chaos run: a session entered after it happened",
            },
        )
        self.api.post(f"{scheduling}/api/appointments/{appointment['id']}/complete")
        flow.sessions += 1
        flow.steps.append(time.time())
        nth = flow.sessions
        self.mail.wait_for(flow.email, nth, lambda link: self.pool.submit(self._guard, flow, self._answer, nth, link))

    def _answer(self, flow: Flow, nth: int, link: str) -> None:
        answer(link, flow.answers_for(nth), self.api.stop)
        flow.answered += 1
        flow.steps.append(time.time())
        if flow.sessions < flow.sessions_wanted:
            self._complete_a_session(flow)
        else:
            flow.done = True

    def close(self) -> None:
        self.api.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
