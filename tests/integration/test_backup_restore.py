"""``attune backup`` and ``attune restore`` on the embedded default (SQLite, the online backup API) with the real
broker and SMTP: a session completed and its questionnaire answered after the backup, the database files
deleted, the archive restored. The completion, the answers, the scores and the alert come back from the event
log, the second invitation's link still opens, and nothing is emailed twice when the workers start again.
(PostgreSQL, many flows and the counting harness: the restore drill, test_restore_drill.py.)"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from deploy.ops import cli as ops
from deploy.ops.archive import ArchiveError
from services.feedback import assignments
from services.feedback.models import Alert, Assignment, Response
from services.scheduling.models import Appointment
from shared.statuses import AppointmentStatus
from tests.e2e.test_main_flow import _complete_past_session, _register_and_complete, _submit
from tests.support.stack import Stack

RISK = {f"phq9.{i}": "0" for i in range(1, 10)} | {"phq9.9": "2", "phq9.difficulty": "1"}


def _links(mail, address: str, count: int) -> list[str]:
    found = mail.wait_for(lambda m: m.to == address, count=count)
    return [re.search(r"http://127\.0\.0\.1:\d+/q/[A-Za-z0-9_\-]+", m.text()).group(0) for m in found]


@pytest.mark.kafka
def test_a_restore_rebuilds_the_work_after_the_backup_and_sends_nothing_twice(
    kafka_bootstrap, kafka_namespace, sqlite_urls, mail, tmp_path
):
    stack = Stack(sqlite_urls, kafka_bootstrap, mail.port)
    settings = {name: svc.runtime.settings for name, svc in stack.services.items()}
    try:
        clinician, client = _register_and_complete(stack)
        first = _links(mail, "jo.bloggs@example.org", 1)[0]
        stack.settle()
        archive = ops.backup(tmp_path / "backups", settings=settings, quiet=True)
        # after the backup: a risk answer, then a second session whose invitation is left unanswered
        assert _submit(first, RISK).status_code == 200
        mail.wait_for(lambda m: m.to == "dr.ada@practice.example")
        _complete_past_session(stack, clinician, client, datetime.now(UTC) - timedelta(hours=1))
        second = _links(mail, "jo.bloggs@example.org", 2)[1]
        stack.settle()
        sent_before = len(mail.messages())
    finally:
        stack.close()
    for url in sqlite_urls.values():  # the disk is lost
        path = Path(url.removeprefix("sqlite:///"))
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
    with pytest.raises(ArchiveError, match="encrypted|damaged|cannot be read"):
        tampered = tmp_path / "tampered.tar.gz"
        tampered.write_bytes(archive.read_bytes()[:-100])
        ops.restore(tampered, settings=settings, quiet=True)
    result = ops.restore(archive, settings=settings, quiet=True)
    assert result["unrestored"] == 0
    assert result["scheduling"]["restored"] >= 2  # the second booking and its completion
    assert result["feedback"]["restored"] >= 3  # the answer (with its scores), the alert, the second questionnaire
    assert result["notifications"]["restored"] >= 3  # the alert notices, the second invitation
    with pytest.raises(SystemExit, match="empty databases"):
        ops.restore(archive, settings=settings, quiet=True)

    again = Stack(sqlite_urls, kafka_bootstrap, mail.port)
    try:
        again.settle(timeout=120)
        time.sleep(2)
        again.settle()
        assert len(mail.messages()) == sent_before  # nothing emailed twice
        with again.services["scheduling"].runtime.sessions() as s:
            statuses = sorted(a.status for a in s.scalars(select(Appointment)))
        assert statuses == [AppointmentStatus.COMPLETED, AppointmentStatus.COMPLETED]
        with again.services["feedback"].runtime.sessions() as s:
            answered = s.scalars(select(Response)).all()
            assert [(r.measure, r.answers["9"], r.total) for r in answered] == [("phq9", 2, 2)]
            alert = s.scalar(select(Alert))
            assert alert.rule == "risk_item" and "restored" not in alert.explanation.lower()
            token = second.rsplit("/q/", 1)[1]
            assert assignments.find_open(s, token, datetime.now(UTC)) is not None  # the link still works
            assert len(s.scalars(select(Assignment)).all()) == 2
        page = requests.get(f"{again.services['feedback'].url}/q/{token}", timeout=10)
        assert page.status_code == 200
    finally:
        again.close()
