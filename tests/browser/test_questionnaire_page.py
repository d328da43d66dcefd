"""The client's questionnaire in real Chromium on a phone-sized screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.feedback import assignments
from services.feedback.models import ClientRecord
from shared.db import transaction, utcnow
from shared.events.envelope import Event
from tests.support.live import public_feedback

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


@pytest.fixture
def issue_link(tmp_path):
    """A feedback service on a real port; ``issue_link(measures)`` issues a questionnaire and returns its link."""
    runtime, server = public_feedback(f"sqlite:///{tmp_path / 'f.db'}")

    def issue(measure_ids: list[str], client_id: str = "c1") -> str:
        from shared import sealed
        from shared.messaging.tables import OutboxMessage

        source = Event(type="attune.scheduling.session.completed", source="scheduling", subject=client_id, data={})
        with transaction(runtime.sessions) as s:
            client = ClientRecord(id=client_id, preferred_name="Jo", clinician_id="k1", consent_email=True)
            s.add(client)
            s.flush()
            assignments.issue(
                s,
                client=client,
                clinician_id="k1",
                measures=measure_ids,
                trigger="session",
                source=source,
                now=utcnow(),
                ttl=timedelta(hours=72),
                base_url=server.url,
                link_key=runtime.settings.link_key,
            )
            s.flush()
            payload = s.query(OutboxMessage).order_by(OutboxMessage.id.desc()).first().payload
        assert server.url not in payload  # on the bus the link is sealed
        return sealed.unseal(runtime.settings.link_key, re.search(r'"sealed_url":"([^"]+)"', payload).group(1))

    issue.runtime = runtime
    yield issue
    server.stop()


@pytest.fixture
def form_link(issue_link):
    return issue_link(["phq9", "gad7"])


def test_the_first_opening_of_the_link_is_announced_once(phone, issue_link):
    """So the front desk can tell "sent" from "opened"; a reload is not a second opening."""
    from sqlalchemy import select

    from shared.events import catalog as events
    from shared.messaging.tables import OutboxMessage

    link = issue_link(["phq9"])
    phone.goto(link)
    phone.reload()
    with issue_link.runtime.sessions() as s:
        opened = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == events.QUESTIONNAIRE_OPENED.type))
        assert [m.key for m in opened] == ["c1"]


def test_fill_in_on_a_phone_with_errors_then_risk_answer(phone, form_link, tmp_path):
    page = phone
    page.goto(form_link)
    assert page.title() == "Your check-in"
    assert page.get_by_text("Part 1 of 2").is_visible()
    # Each item is a fieldset with a legend; each choice has a label that can be tapped.
    assert page.locator("fieldset").count() == 9 + 1 + 7

    page.get_by_label("Several days").first.check()  # answer only the first item
    page.get_by_role("button", name="Send my answers").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible() and "Please check 15 answers" in summary.inner_text()
    assert "PHQ-9 question 2: please choose an answer" in summary.inner_text()
    assert page.get_by_label("Several days").first.is_checked()  # answers kept on error
    fieldset = page.locator("#phq9-2")
    assert "Please choose an answer" in fieldset.inner_text()
    assert fieldset.get_attribute("aria-describedby") == "phq9-2-error"
    page.screenshot(path=str(tmp_path / "errors.png"), full_page=True)

    for measure, items in (("phq9", 9), ("gad7", 7)):
        for i in range(1, items + 1):
            page.locator(f"#{measure}-{i}-{1 if (measure, i) == ('phq9', 9) else 0}").check()
    page.locator("#phq9-difficulty-0").check()
    page.get_by_role("button", name="Send my answers").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Please read this now" in alert.inner_text()
    assert "Samaritans" in alert.inner_text()
    page.screenshot(path=str(tmp_path / "thanks.png"), full_page=True)

    # The link is used now: a kind page that reveals nothing.
    page.goto(form_link)
    assert page.locator("h1").inner_text() == "This link can no longer be used"
    assert "Jo" not in page.content()


def test_keyboard_only_client_can_answer(phone, form_link):
    page = phone
    page.goto(form_link)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "phq9-1-0"  # the first choice is reachable first
    page.keyboard.press("ArrowDown")  # arrows move within the radio group
    assert page.evaluate("document.activeElement.id") == "phq9-1-1"
    assert page.locator("#phq9-1-1").is_checked()


def test_an_expired_link_shows_a_kind_page_that_reveals_nothing(phone, form_link, tmp_path):
    from sqlalchemy import create_engine, update

    from services.feedback.models import Assignment

    engine = create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    with engine.begin() as conn:
        conn.execute(update(Assignment).values(expires_at=datetime(2020, 1, 1, tzinfo=UTC)))
    engine.dispose()
    phone.goto(form_link)
    assert phone.locator("h1").inner_text() == "This link can no longer be used"
    assert "Jo" not in phone.content() and "PHQ" not in phone.content()
    assert phone.evaluate("document.querySelector('meta[name=referrer]').content") == "no-referrer"


def test_a_double_submit_counts_once(form_link, tmp_path):
    """Two tabs submit the same questionnaire: the second gets the used-link page and changes nothing."""
    import requests
    from sqlalchemy import create_engine, func, select

    from services.feedback.models import Response
    from shared.messaging.tables import OutboxMessage

    def tab():
        s = requests.Session()
        csrf = re.search(r'name="csrf" value="([^"]+)"', s.get(form_link).text).group(1)
        return s, csrf

    answers = {f"phq9.{i}": "1" for i in range(1, 10)} | {f"gad7.{i}": "0" for i in range(1, 8)}
    (first, c1), (second, c2) = tab(), tab()
    assert first.post(form_link, data={"csrf": c1, **answers}).status_code == 200
    again = second.post(form_link, data={"csrf": c2, **answers})
    assert again.status_code == 404 and "can no longer be used" in again.text
    engine = create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Response)) == 2  # PHQ-9 and GAD-7, once
        completed = conn.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.event_type == "attune.feedback.questionnaire.completed")
        )
        assert completed == 1
    engine.dispose()


def test_a_core10_risk_answer_shows_core10_words_and_help_at_once(phone, issue_link):
    """The crisis message comes from this submission's own result (no cookie: the browser keeps none here) and
    is worded for the item the client answered, not for PHQ-9's."""
    page = phone
    page.context.clear_cookies()
    page.goto(issue_link(["core10"]))
    assert "your therapist and the clinical team that supports them" in page.locator(".lead").inner_text()
    for i in range(1, 11):
        page.locator(f"#core10-{i}-{1 if i == 6 else 0}").check()
    page.context.clear_cookies()  # nothing may depend on a cookie surviving
    page.get_by_role("button", name="Send my answers").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "You told us you have made plans to end your life." in alert.inner_text()
    assert "better off dead" not in alert.inner_text()
    assert "Samaritans" in alert.inner_text()
    page.screenshot(path=str(FIGURES / "questionnaire-crisis-core10.png"), full_page=True)
    page.reload()  # the browser's history cannot show the message again
    assert "plans to end your life" not in page.content()
