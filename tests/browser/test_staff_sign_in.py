"""Staff sign-in in real Chromium through the real Keycloak: password and one-time code on Keycloak's own
pages, the front desk, the dashboard without signing in again, and one sign-out that ends both."""

from __future__ import annotations

import requests

from tests.support import identity
from tests.support.apps import staff_headers
from tests.support.feedback_data import client_with_scores
from tests.support.live import free_port, keycloak_sign_in, serve


def test_sign_in_with_password_and_totp_then_single_sign_on_and_single_sign_out(browser, tmp_path):
    ports = {"scheduling": free_port(), "feedback": free_port()}
    _, desk = serve("scheduling", f"sqlite:///{tmp_path / 's.db'}", ports)
    fb_rt, dashboard = serve("feedback", f"sqlite:///{tmp_path / 'f.db'}", ports)
    person = identity.account("frontdesk", "k-ada", otp=True, also=("clinician",))  # a small practice
    created = requests.post(
        f"{desk.url}/api/clinicians",
        headers=staff_headers("frontdesk"),
        json={"name": "Dr Ada Okafor", "email": "ada@p.example", "timezone": "Europe/London"},
        timeout=10,
    )
    assert created.status_code == 201
    client_with_scores(fb_rt, "c-jo", "k-ada", [14, 15, 20], name="Jo")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # The desk sends an unsigned-in browser to Keycloak; password, then the one-time code.
        page.goto(f"{desk.url}/desk/day")
        assert page.url.startswith(identity.provider().url)
        keycloak_sign_in(page, person.username, "wrong-password-123")
        page.get_by_text("Invalid username or password").first.wait_for(timeout=15000)
        keycloak_sign_in(page, person.username, person.password, otp=identity.totp(person))
        page.wait_for_url(f"{desk.url}/desk/day*")
        assert page.get_by_role("heading", name="Dr Ada Okafor").is_visible()
        cookie = {c["name"]: c for c in context.cookies(desk.url)}["attune_scheduling"]
        app = desk.server.app
        held = app.session_interface.get_signing_serializer(app).loads(cookie["value"])
        assert cookie["httpOnly"] and set(held) == {"staff_session"}  # a random id, nothing about anyone

        # The dashboard: signed in by the provider's session, no password asked again.
        page.goto(f"{dashboard.url}/dashboard")
        page.wait_for_url(f"{dashboard.url}/dashboard*")
        assert page.locator("#username").count() == 0
        assert "Jo" in page.locator("table.caseload tbody tr").first.inner_text()

        # One sign-out: the provider's back-channel logout ends the desk's session too.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{dashboard.url}/signed-out")
        page.goto(f"{desk.url}/desk/day")
        assert page.url.startswith(identity.provider().url) and page.locator("#username").is_visible()
        page.goto(f"{dashboard.url}/dashboard")
        assert page.url.startswith(identity.provider().url) and page.locator("#username").is_visible()
    finally:
        context.close()
        desk.stop()
        dashboard.stop()
