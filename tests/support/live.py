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


def serve(name: str, db_url: str, ports: dict[str, int] | None = None):
    """A service on a real port whose public URL is that port, registered with the test Keycloak so staff can
    sign in to it in a browser. ``ports`` fixes the ports of several services that link to each other.
    Returns (runtime, server)."""
    from tests.support import identity
    from tests.support.apps import FACTORIES, service_runtime

    ports = ports or {name: free_port()}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    runtime = service_runtime(name, db_url)
    runtime.settings = runtime.settings.replace(public_urls={**runtime.settings.public_urls, **urls})
    server = LiveServer(FACTORIES[name](runtime.settings, runtime), ports[name]).start()
    identity.register_service(name, server.url)
    return runtime, server


def public_feedback(db_url: str):
    """Feedback on a real port, for pages without staff sign-in (the questionnaire, the tablet): its public
    URL is that port. Returns (runtime, server)."""
    from services.feedback import create_app
    from tests.support.apps import service_runtime

    port = free_port()
    runtime = service_runtime(
        "feedback",
        db_url,
        wake_port=None,
        public_urls={"scheduling": "", "feedback": f"http://127.0.0.1:{port}", "notifications": ""},
    )
    return runtime, LiveServer(create_app(runtime.settings, runtime), port).start()


def keycloak_sign_in(page, username: str, password: str, otp: str | None = None) -> None:
    """Fill in Keycloak's own login page (and its one-time-code page), as a person would."""
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#kc-login").click()
    if otp is not None:
        page.locator("#otp").fill(otp)
        page.locator("#kc-login").click()


def signed_in_page(browser, server, role: str, clinician_id: str | None, path: str, viewport=(1280, 900)):
    """A Chromium page signed in through Keycloak's login page as a staff member with ``role``, at ``path``."""
    from tests.support import identity

    person = identity.account(role, clinician_id)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.goto(f"{server.url}{path}")
    keycloak_sign_in(page, person.username, person.password, otp=identity.totp(person) if person.otp_secret else None)
    page.wait_for_url(f"{server.url}{path}*")
    return page
