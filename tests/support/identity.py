"""The real identity provider for the tests: one Keycloak per test session (in-memory database), started on
first use, with staff accounts made on demand and real tokens from it.

The issuer URL is fixed when this module is imported (``OIDC_ISSUER``), before any app reads its settings, so
every app a test builds trusts this Keycloak; it starts only when a test first asks for a token or a sign-in.
"""

from __future__ import annotations

import atexit
import html
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyotp
import pytest
import requests

from deploy.keycloak import server as keycloak
from deploy.keycloak.demo import StaffAccount, user_representation
from tests.support.ports import free_port

PORT = int(os.environ.get("ATTUNE_TEST_KEYCLOAK_PORT") or 0) or free_port()
ISSUER = os.environ.setdefault("OIDC_ISSUER", f"http://127.0.0.1:{PORT}/realms/{keycloak.REALM}")
PASSWORD = "test-password-0123"  # noqa: S105 - an account in the throwaway test realm
_lock = threading.Lock()
_server: keycloak.Server | None = None
_tokens: dict[tuple, tuple[str, float]] = {}
_users: set[str] = set()


def provider() -> keycloak.Server:
    """The session's Keycloak, started on first use (a failure fails the test: never a skip)."""
    global _server
    with _lock:
        if _server is None:
            directory = Path(tempfile.mkdtemp(prefix="attune-keycloak-"))
            urls = {name: f"http://127.0.0.1:{8001 + i}" for i, name in enumerate(keycloak.SERVICES)}
            try:
                _server = keycloak.start(
                    directory,
                    PORT,
                    public_urls=urls,
                    smtp_port=1,
                    in_memory=True,
                    management_port=free_port(),
                    timeout=300,  # a loaded 2-core machine has taken 185 s
                )
            except Exception as exc:  # noqa: BLE001 - reported as a failure, never a skip
                pytest.fail(f"could not start the real Keycloak: {exc}", pytrace=False)
            atexit.register(keycloak.stop, directory)
        return _server


OTP_ROLES = {"clinician", "supervisor", "admin"}  # the realm makes them sign in with an authenticator


def account(role: str, clinician_id: str | None = None, *, otp: bool | None = None, also: tuple = ()) -> StaffAccount:
    """A staff account in the test realm with ``role`` (and ``also`` these roles, and a clinician id), created
    the first time; ``otp``: with an authenticator configured (the one-time code is ``totp(account)``), by
    default when a role needs one to sign in to pages."""
    if otp is None:
        otp = bool(OTP_ROLES & {role, *also})
    label = "-".join((role, *also, clinician_id or "none", *(["otp"] if otp else [])))
    name = re.sub(r"[^a-z0-9-]", "-", f"t-{label}".lower())[:200]
    found = StaffAccount(
        name,
        f"{name}@staff.example",
        role,
        PASSWORD,
        otp_secret=f"otp-{name}" if otp else None,
        extra_roles=tuple(also),
    )
    if name not in _users:
        server = provider()
        keycloak.import_users(server, [user_representation(found, clinician_id)])
        _users.add(name)
    return found


_last_code: dict[str, str] = {}


def totp(found: StaffAccount) -> str:
    """The account's current one-time code. Keycloak refuses a code used before, so a second sign-in within
    the same 30 s window waits for the next code, as a person would."""
    generator = pyotp.TOTP(keycloak.otp_secret_base32(found.otp_secret))
    code = generator.now()
    while code == _last_code.get(found.username):
        time.sleep(1)
        code = generator.now()
    _last_code[found.username] = code
    return code


def password_grant(username: str, password: str) -> requests.Response:
    """Ask the test realm for tokens with a username and password (the dev-only direct-grant client)."""
    data = {"grant_type": "password", "client_id": keycloak.DEV_CLIENT, "scope": "openid"}
    return requests.post(
        f"{provider().issuer}/protocol/openid-connect/token",
        data={**data, "username": username, "password": password},
        timeout=10,
    )


def access_token(role: str = "frontdesk", clinician_id: str | None = None) -> str:
    """A real access token for a staff member with ``role`` (password grant on the dev-only client)."""
    key = (role, clinician_id)
    cached = _tokens.get(key)
    if cached and cached[1] > time.monotonic() + 30:
        return cached[0]
    found = account(role, clinician_id, otp=False)  # the dev client's direct grant: no authenticator needed
    response = password_grant(found.username, found.password)
    response.raise_for_status()
    body = response.json()
    _tokens[key] = (body["access_token"], time.monotonic() + body["expires_in"])
    return body["access_token"]


def register_service(service: str, base_url: str) -> None:
    """Point the realm's client for ``service`` at where a test runs it (sign-in, logout and back-channel
    URLs), as a deployment registers its public URL. Earlier sign-in URLs stay valid (other tests use them)."""
    server = provider()
    http = server.admin_session()
    base = f"{server.url}/admin/realms/{keycloak.REALM}/clients"
    found = http.get(base, params={"clientId": f"attune-{service}"}, timeout=10).json()[0]
    found["redirectUris"] = sorted({*found["redirectUris"], f"{base_url}/auth/callback"})
    logout = set(filter(None, found["attributes"].get("post.logout.redirect.uris", "").split("##")))
    found["attributes"]["post.logout.redirect.uris"] = "##".join(sorted(logout | {f"{base_url}/*"}))
    found["attributes"]["backchannel.logout.url"] = f"{base_url}/auth/backchannel-logout"
    http.put(f"{base}/{found['id']}", json=found, timeout=10).raise_for_status()


_FORM = re.compile(r'<form[^>]*id="(kc-form-login|kc-otp-login-form)"[^>]*action="([^"]+)"', re.S)


def _post_form(browser: requests.Session, page_text: str, data: dict) -> requests.Response:
    match = _FORM.search(page_text)
    assert match, "the Keycloak form did not appear"
    return browser.post(html.unescape(match.group(2)), data=data, allow_redirects=False, timeout=10)


def sign_in(client, role: str = "frontdesk", clinician_id: str | None = None, next_path: str = "/") -> None:
    """Sign a Flask test client in the way a browser does: ``/login``, the Keycloak login form, back to
    ``/auth/callback``. Afterwards the client carries the service's session cookie."""
    found = account(role, clinician_id)
    start = client.get(f"/login?next={next_path}")
    assert start.status_code == 302, start.status_code
    browser = requests.Session()
    page = browser.get(start.headers["Location"], timeout=10)
    for cookie in browser.cookies:  # browsers treat http://127.0.0.1 as secure and send Secure cookies there
        cookie.secure = False
    done = _post_form(browser, page.text, {"username": found.username, "password": found.password, "credentialId": ""})
    if done.status_code == 200 and found.otp_secret:  # the one-time-code page
        done = _post_form(browser, done.text, {"otp": totp(found)})
    assert done.status_code == 302, f"Keycloak refused the sign-in ({done.status_code})"
    back = urlsplit(urljoin(page.url, done.headers["Location"]))
    finished = client.get(f"{back.path}?{back.query}")
    assert finished.status_code == 302, finished.get_data(as_text=True)[:300]
