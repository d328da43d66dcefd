"""The therapist's dashboard in Chromium: caseload, the progress chart, and resolving an alert."""

from __future__ import annotations

from tests.support.feedback_data import client_with_scores
from tests.support.live import serve, signed_in_page


def test_caseload_chart_and_alert(browser, tmp_path):
    runtime, server = serve("feedback", f"sqlite:///{tmp_path / 'f.db'}")
    client_with_scores(runtime, "c-jo", "k-ada", [14, 15, 20], name="Jo")
    client_with_scores(runtime, "c-sam", "k-ada", [18, 14, 11], name="Sam")
    page = signed_in_page(browser, server, "clinician", "k-ada", "/dashboard")
    try:
        rows = page.locator("table.caseload tbody tr")
        assert rows.count() == 2 and "Jo" in rows.nth(0).inner_text()
        assert "off track" in rows.nth(0).inner_text()

        page.get_by_role("link", name="Jo").click()
        chart = page.locator("svg.progress-chart")
        assert chart.count() == 1
        assert chart.locator("polyline.scores").count() == 1 and chart.locator("polyline.expected").count() == 1
        assert chart.locator(".alert-marker").count() == 1
        assert "session 1 14, session 2 15, session 3 20" in chart.locator("desc").text_content()
        page.get_by_text("Answers to each question").click()
        assert page.locator("table.answers").is_visible()
        page.screenshot(path=str(tmp_path / "client.png"), full_page=True)

        page.locator("ul.alerts a").first.click()
        assert "rose from 14" in page.locator(".explanation").inner_text()
        page.get_by_role("button", name="Acknowledge").click()
        assert page.locator("#alert-status").inner_text() == "acknowledged"
        page.get_by_role("button", name="Resolve").click()  # empty note: refused by the browser or the server
        page.get_by_label("What was done").fill("Reviewed in session; plan changed.")
        page.get_by_role("button", name="Resolve").click()
        assert page.locator("#alert-status").inner_text() == "resolved"
    finally:
        page.context.close()
        server.stop()
