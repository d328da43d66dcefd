"""The client's progress report: the clinician's printable copy, and the single-use link shared with the
client. Totals and what they mean only: never item answers, alert texts or risk flags."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.feedback import progress_report
from services.feedback.models import ProgressShare
from shared import sealed
from shared.db import transaction, utcnow
from shared.events import catalog as events
from shared.messaging.tables import OutboxMessage
from tests.support.apps import make_app
from tests.support.feedback_data import client_with_scores


@pytest.fixture
def fb(db_url):
    made = make_app("feedback", db_url)
    client_with_scores(made.runtime, "c-jo", "k-ada", [18, 15, 11, 9], name="Jo", risk_at=2)
    yield made
    made.close()


def _share(fb) -> str:
    page = fb.sign_in("clinician", "k-ada")
    html = page.get("/dashboard/clients/c-jo").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    done = page.post("/dashboard/clients/c-jo/share", data={"csrf": csrf})
    assert done.status_code == 303 and "shared=1" in done.headers["Location"]
    with fb.runtime.sessions() as s:
        payload = s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.event_type == events.PROGRESS_SHARED.type)
        ).one()
    assert "/p/" not in payload  # the link travels sealed
    return sealed.unseal(fb.runtime.settings.link_key, json.loads(payload)["data"]["sealed_url"])


def test_the_shared_link_shows_totals_and_meaning_once(fb):
    link = _share(fb)
    path = "/p/" + link.rsplit("/p/", 1)[1]
    anonymous = fb.app.test_client()  # the client, not signed in
    report = anonymous.get(path)
    assert report.status_code == 200 and report.headers["Cache-Control"] == "no-store"
    text = report.get_data(as_text=True)
    assert "Your progress, Jo" in text and "From <strong>18</strong> at the start to <strong>9</strong> now" in text
    assert "improved by more than everyday ups and downs" in text  # 18 to 9: reliable improvement, in words
    assert "A change of 6 points or more on the PHQ-9" in text
    for never in ("item 9", "Several days", "risk", "alert", "urgent", "failure boundary", "hurting yourself"):
        assert never.lower() not in text.lower(), never
    assert anonymous.get(path).status_code == 404  # single use
    with fb.runtime.sessions() as s:
        share = s.scalars(select(ProgressShare)).one()
        assert share.opened_at is not None and share.shared_by_clinician == "k-ada"
    page = fb.sign_in("clinician", "k-ada")
    assert "opened" in page.get("/dashboard/clients/c-jo").get_data(as_text=True)


def test_an_expired_link_shows_nothing(fb):
    link = _share(fb)
    with transaction(fb.runtime.sessions) as s:
        share = s.scalars(select(ProgressShare)).one()
        share.expires_at = utcnow() - timedelta(seconds=1)
    assert fb.app.test_client().get("/p/" + link.rsplit("/p/", 1)[1]).status_code == 404
    with fb.runtime.sessions() as s:
        assert progress_report.open_once(s, "not-a-token", utcnow()) is None


def test_the_clinicians_printable_copy_is_for_their_own_clients(fb):
    mine = fb.sign_in("clinician", "k-ada").get("/dashboard/clients/c-jo/report")
    assert mine.status_code == 200 and "Print or save as PDF" in mine.get_data(as_text=True)
    other = fb.sign_in("clinician", "k-lin", client=fb.app.test_client()).get("/dashboard/clients/c-jo/report")
    assert other.status_code == 404
