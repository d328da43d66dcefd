"""The therapist's dashboard in Chromium: caseload, the progress chart, and resolving an alert."""

from __future__ import annotations

from pathlib import Path

from tests.support.feedback_data import client_with_scores
from tests.support.live import serve, signed_in_page

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


def test_caseload_chart_and_alert(browser, tmp_path):
    runtime, server = serve("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    client_with_scores(runtime, "c-jo", "k-ada", [14, 15, 20], name="Jo")
    client_with_scores(runtime, "c-sam", "k-ada", [18, 14, 11], name="Sam")
    page = signed_in_page(browser, server, "clinician", "k-ada", "/dashboard")
    try:
        rows = page.locator("table.caseload tbody tr")
        assert rows.count() == 2 and "Jo" in rows.nth(0).inner_text()
        assert "off track" in rows.nth(0).inner_text()
        assert rows.nth(0).locator("td.attended").inner_text() == "3"  # sessions attended, not questionnaires
        assert rows.nth(0).locator("td.last").inner_text() == "19 Jan 2026"
        page.get_by_role("link", name="Client").click()  # sort by name: Jo, Sam
        assert [rows.nth(i).locator("td a").first.inner_text() for i in range(2)] == ["Jo", "Sam"]
        page.get_by_label("Only clients who need attention").check()
        page.get_by_role("button", name="Show").click()
        assert rows.count() == 1 and "Jo" in rows.nth(0).inner_text()  # Sam improves, no alert

        page.get_by_role("link", name="Jo").click()
        assert page.locator("#attendance").inner_text() == (
            "3 sessions attended this episode, 3 questionnaires completed."
        )
        assert page.locator("#class-phq9").inner_text().startswith("Reliably deteriorated")
        cells = [
            [c.inner_text() for c in row.locator("td").all()] for row in page.locator("#scores-phq9 tbody tr").all()
        ]
        assert [(c[2], c[4], c[5]) for c in cells] == [
            ("14", "–", "–"),
            ("15", "+1 (worse)", "+1 (worse)"),
            ("20", "+6 (worse)", "+5 (worse)"),
        ]
        chart = page.locator("svg.progress-chart")
        assert chart.count() == 1
        assert chart.locator("polyline.scores").count() == 1 and chart.locator("polyline.expected").count() == 1
        assert chart.locator(".alert-marker").count() == 1
        assert "session 1 14, session 2 15, session 3 20" in chart.locator("desc").text_content()
        page.get_by_text("Answers to each question").click()
        assert page.locator("table.answers").is_visible()
        page.screenshot(path=str(FIGURES / "progress-page.png"), full_page=True)

        page.locator("ul.alerts a").first.click()
        assert "rose from 14" in page.locator(".explanation").inner_text()
        page.get_by_role("button", name="Acknowledge").click()
        assert page.locator("#alert-status").inner_text() == "acknowledged"
        page.get_by_role("button", name="Resolve").click()  # empty note: refused by the browser or the server
        page.get_by_label("What was done").fill("Reviewed in session; plan changed.")
        page.get_by_role("button", name="Resolve").click()
        assert page.locator("#alert-status").inner_text() == "resolved"
        page.get_by_role("link", name="Jo").click()  # the alert's history on the progress page
        history = page.locator("ul.alerts .history").first.inner_text()
        assert "acknowledged by" in history and "resolved by" in history
        assert "Reviewed in session; plan changed." in history
    finally:
        page.context.close()
        server.stop()


def test_a_supervisor_sees_the_teams_open_alerts_oldest_first_and_acknowledges_on_behalf(browser, tmp_path):
    from datetime import UTC, datetime

    from services.feedback.models import ClinicianRecord
    from shared.db import transaction

    runtime, server = serve("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    with transaction(runtime.sessions) as s:
        s.add_all([
            ClinicianRecord(id="k-sam", name="Sam Lindqvist"),
            ClinicianRecord(id="k-ada", name="Dr Ada Okafor", supervisor_id="k-sam"),
            ClinicianRecord(id="k-lin", name="Dr Lin", supervisor_id="k-sam"),
            ClinicianRecord(id="k-other", name="Dr Elsewhere"),
        ])  # fmt: skip
    client_with_scores(runtime, "c-jo", "k-ada", [14, 15, 20], name="Jo", start=datetime(2026, 2, 2, 9, tzinfo=UTC))
    client_with_scores(runtime, "c-kim", "k-lin", [8], name="Kim", risk_at=1, start=datetime(2026, 1, 5, 9, tzinfo=UTC))
    client_with_scores(runtime, "c-max", "k-other", [8], name="Max", risk_at=1)  # not Sam's team
    page = signed_in_page(browser, server, "supervisor", "k-sam", "/dashboard/team")
    try:
        rows = page.locator("table.team-alerts tbody tr")
        assert rows.count() == 2  # Kim's (opened 5 Jan) before Jo's (opened 16 Feb); Max is not on the team
        assert "Kim" in rows.nth(0).inner_text() and "Dr Lin" in rows.nth(0).inner_text()
        assert "urgent" in rows.nth(0).inner_text() and "not yet" in rows.nth(0).inner_text()
        assert "Jo" in rows.nth(1).inner_text() and "Dr Ada Okafor" in rows.nth(1).inner_text()
        assert "Max" not in page.content()
        assert "ago" in rows.nth(0).locator(".age").inner_text()

        rows.nth(0).get_by_label("Note").fill("Phoned Dr Lin: she is calling Kim now.")
        rows.nth(0).get_by_role("button", name="Acknowledge").click()
        page.wait_for_url("**/dashboard/team")
        first = page.locator("table.team-alerts tbody tr").nth(0)
        assert "acknowledged by Sam Lindqvist" in first.inner_text()
        assert "Phoned Dr Lin: she is calling Kim now." in first.inner_text()
        page.screenshot(path=str(FIGURES / "supervisor-team-alerts.png"), full_page=True)
    finally:
        page.context.close()
        server.stop()


def _finished_episode(s, n: int, clinician_id: str, phq9: tuple[int, int], gad7: tuple[int, int], ended_at) -> None:
    """An episode of two attended sessions, each answered, ended at ``ended_at``."""
    from datetime import timedelta

    from services.feedback.models import Assignment, ClientRecord, EpisodeRecord, Response

    client, episode = f"c{n}", f"e{n}"
    s.add(ClientRecord(id=client, preferred_name=f"Client {n}", clinician_id=clinician_id, episode_id=episode))
    s.add(EpisodeRecord(id=episode, client_id=client, clinician_id=clinician_id, ended_at=ended_at))
    s.flush()  # the client row first: assignments refer to it
    for number in (1, 2):
        at = ended_at - timedelta(days=30 - 7 * number)
        assignment = Assignment(id=f"a{n}-{number}", client_id=client, clinician_id=clinician_id, episode_id=episode,
                                source_event_id=f"s{n}-{number}", trigger="session", session_number=number,
                                measures=["phq9", "gad7"], status="completed", issued_at=at)  # fmt: skip
        s.add(assignment)
        s.flush()
        for measure, totals in (("phq9", phq9), ("gad7", gad7)):
            s.add(Response(assignment_id=assignment.id, client_id=client, episode_id=episode, measure=measure,
                           measure_version=1, answers={}, total=totals[number - 1], completed_at=at))  # fmt: skip


def test_the_outcome_report_page_for_an_admin(browser, tmp_path):
    from datetime import UTC, datetime, timedelta

    from services.feedback.models import ClinicianRecord
    from shared.db import transaction
    from tests.support.accessibility import axe_violations

    runtime, server = serve("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    ended = datetime.now(UTC) - timedelta(days=3)
    with transaction(runtime.sessions) as s:
        s.add_all([
            ClinicianRecord(id="k-sam", name="Sam Lindqvist"),
            ClinicianRecord(id="k-ada", name="Dr Ada Okafor", supervisor_id="k-sam"),
            ClinicianRecord(id="k-lin", name="Dr Lin", supervisor_id="k-sam"),
        ])  # fmt: skip
        courses = [((16, 6), (12, 5))] * 3 + [((20, 14), (15, 14)), ((12, 19), (9, 15)), ((7, 3), (6, 2))]
        for n, (phq9, gad7) in enumerate(courses):
            _finished_episode(s, n, "k-ada", phq9, gad7, ended)
        _finished_episode(s, 99, "k-lin", (15, 5), (10, 3), ended)  # one episode: never shown on its own
    page = signed_in_page(browser, server, "admin", None, "/dashboard/reports")
    try:
        table = page.locator("#outcomes")
        practice = table.locator("#row-all").inner_text()
        # 7 finished, all paired; cases: 6 (not the 7/6 one); recovered: 3 + Dr Lin's = 4 of 6
        assert "The practice" in practice and "67% (4/6)" in practice
        ada = table.locator("#row-clinician-k-ada").inner_text()
        assert "60% (3/5)" in ada and "17% (1/6)" in ada  # recovery 3 of 5 cases; 1 of 6 deteriorated
        assert "Fewer than 5 finished episodes" in table.locator("#row-clinician-k-lin").inner_text()
        assert "Sam Lindqvist's team" in table.inner_text()
        chart = page.locator("#outcome-chart")
        assert chart.locator("rect").count() == 3 * 3 + 3  # three rows shown, three bars each, and the legend
        assert axe_violations(page) == []
        page.screenshot(path=str(FIGURES / "outcome-report.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        assert download.value.suggested_filename.startswith("outcomes-")
        page.get_by_label("From").fill("2020-01-01")
        page.get_by_label("To").fill("2020-01-31")
        page.get_by_role("button", name="Show").click()
        assert page.locator("#outcome-chart").count() == 0
        assert "Fewer than 5" in page.locator("#row-all").inner_text()
    finally:
        page.context.close()
        server.stop()


def test_the_clients_progress_report_prints_on_one_page_without_answers_or_alerts(browser, tmp_path):
    import json
    import re

    from sqlalchemy import select

    from shared import sealed
    from shared.messaging.tables import OutboxMessage

    runtime, server = serve("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    client_with_scores(runtime, "c-jo", "k-ada", [19, 17, 14, 12, 9, 8], name="Jo", risk_at=3)
    page = signed_in_page(browser, server, "clinician", "k-ada", "/dashboard/clients/c-jo")
    try:
        page.get_by_role("link", name="The client's progress report").click()
        assert page.get_by_role("heading", name="Your progress, Jo").is_visible()
        text = page.locator("#report").inner_text()
        assert "From 19 at the start to 8 now (6 questionnaires)" in text
        for never in ("item 9", "Several days", "alert", "risk", "failure boundary"):
            assert never.lower() not in text.lower(), never
        assert page.locator("svg .alert-marker").count() == 0 and page.locator("svg .boundary").count() == 0
        assert page.get_by_role("button", name="Print or save as PDF").is_visible()
        page.screenshot(path=str(FIGURES / "progress-report.png"), full_page=True)
        page.emulate_media(media="print")
        assert not page.get_by_role("button", name="Print or save as PDF").is_visible()  # not on paper
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one page

        # shared with the client: the link from the bus opens the same report once, on a phone, signed out
        page.emulate_media(media="screen")
        page.go_back()
        page.get_by_role("button", name="Send it to the client").click()
        assert page.locator("#shared").is_visible()
        with runtime.sessions() as s:
            payload = s.scalars(
                select(OutboxMessage.payload).where(OutboxMessage.event_type == "attune.feedback.progress.shared")
            ).one()
        link = sealed.unseal(runtime.settings.link_key, json.loads(payload)["data"]["sealed_url"])
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        phone.goto(link)
        assert phone.get_by_role("heading", name="Your progress, Jo").is_visible()
        assert "Several days" not in phone.content() and phone.locator("svg .alert-marker").count() == 0
        phone.reload()
        assert phone.get_by_role("heading", name="Your progress, Jo").count() == 0  # single use
        phone.context.close()
    finally:
        page.context.close()
        server.stop()
