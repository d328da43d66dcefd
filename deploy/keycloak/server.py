"""Run Keycloak, the embedded OpenID Connect provider, from its Maven Central distribution: no Docker.

    python -m deploy.keycloak.server fetch                 # mvn copies keycloak-quarkus-dist, then it is unpacked
    python -m deploy.keycloak.server start [--dir var/keycloak] [--port 8180]
    python -m deploy.keycloak.server stop  [--dir var/keycloak]
    python -m deploy.keycloak.server otp USERNAME          # the current one-time code of a demo user
    python -m deploy.keycloak.server provision --url https://id.example --public-url scheduling=https://... (x3)
        # the attune realm and its clients in an existing Keycloak (KEYCLOAK_ADMIN_PASSWORD, OIDC_CLIENT_SECRET)

``start`` runs ``kc.sh start-dev`` with its own H2 file (or memory) database, then imports the ``attune``
realm from ``deploy/keycloak/attune-realm.json`` through the admin API, adding one client per service whose
redirect and logout URLs point at that service. The dev stack and the tests call the same functions; any
other provider is used instead by setting ``OIDC_ISSUER`` (then none is started).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests

from deploy import processes

VERSION = "26.7.3"
HERE = Path(__file__).resolve().parent
DIST = Path(os.environ.get("ATTUNE_KEYCLOAK_DIST", HERE / "dist"))
HOME = DIST / f"keycloak-{VERSION}"
REALM_FILE = HERE / "attune-realm.json"
REALM = "attune"
SERVICES = ("scheduling", "feedback", "notifications")
DEV_CLIENT = "attune-dev-cli"  # direct-grant client for the dev stack's curl example and the tests; dev only
ADMIN_CLIENT = "attune-admin"  # service account that invites and disables staff (realm-management roles)
DEV_CLIENT_SECRET = "dev-only-oidc-client-secret"  # noqa: S105 - the dev realm only; production sets its own


class KeycloakError(RuntimeError):
    pass


def present() -> bool:
    return (HOME / "bin" / "kc.sh").exists()


def fetch(quiet: bool = True) -> None:
    """Copy ``org.keycloak:keycloak-quarkus-dist`` from Maven Central (cached in ~/.m2) and unpack it."""
    if present():
        return
    if shutil.which("mvn") is None:
        raise KeycloakError("Maven (mvn) is needed to fetch Keycloak")
    DIST.mkdir(parents=True, exist_ok=True)
    artifact = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz"
    cmd = ["mvn", "-B", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={DIST}"]
    if quiet:
        cmd.insert(1, "-q")
    subprocess.run(cmd, cwd=HERE, check=True)
    archive = DIST / f"keycloak-quarkus-dist-{VERSION}.tar.gz"
    with tarfile.open(archive) as tar:
        tar.extractall(DIST, filter="tar")  # noqa: S202 - the archive is Keycloak's own release from Maven Central
    archive.unlink()
    if not present():
        raise KeycloakError(f"unpacked {archive.name} but {HOME}/bin/kc.sh is missing")


@dataclass
class Server:
    """A running Keycloak: where it listens and how its master-realm administrator signs in."""

    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def pid_file(self) -> Path:
        return self.directory / "keycloak.pid"

    @property
    def admin_password(self) -> str:
        return (self.directory / "admin-password").read_text().strip()

    def admin_session(self) -> requests.Session:
        """A requests session carrying a master-realm administrator token (for set-up and demo users)."""
        response = requests.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": self.admin_password,
            },
            timeout=10,
        )
        response.raise_for_status()
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return http


class Remote(Server):
    """A Keycloak someone else runs (production): its URL and its administrator's password."""

    def __init__(self, url: str, password: str):
        super().__init__(0, Path("."))
        self._url, self._password = url, password

    @property
    def url(self) -> str:
        return self._url

    @property
    def admin_password(self) -> str:
        return self._password


def realm_representation(
    public_urls: dict[str, str], smtp_port: int, client_secret: str = DEV_CLIENT_SECRET, dev: bool = True
) -> dict:
    """The realm file plus what depends on where things run: a client per service (authorization code with
    PKCE S256, back-channel logout to the service), the staff-admin service account, and in dev a
    direct-grant client for scripts and tests."""
    realm = json.loads(REALM_FILE.read_text())
    realm["smtpServer"]["port"] = str(smtp_port)
    clients = []
    for service in SERVICES:
        base = public_urls[service].rstrip("/")
        clients.append(
            {
                "clientId": f"attune-{service}",
                "name": f"Attune {service}",
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "secret": client_secret,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "implicitFlowEnabled": False,
                "serviceAccountsEnabled": False,
                "frontchannelLogout": False,
                "redirectUris": [f"{base}/auth/callback"],
                "webOrigins": [],
                "attributes": {
                    "pkce.code.challenge.method": "S256",
                    "post.logout.redirect.uris": f"{base}/*",
                    "backchannel.logout.url": f"{base}/auth/backchannel-logout",
                    "backchannel.logout.session.required": "true",
                },
                "defaultClientScopes": ["attune", "basic", "profile", "email", "web-origins", "acr"],
                "optionalClientScopes": [],
            }
        )
    clients.append(
        {
            "clientId": ADMIN_CLIENT,
            "name": "Attune staff administration",
            "enabled": True,
            "publicClient": False,
            "secret": client_secret,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "serviceAccountsEnabled": True,
        }
    )
    users = [
        {
            "username": f"service-account-{ADMIN_CLIENT}",
            "enabled": True,
            "serviceAccountClientId": ADMIN_CLIENT,
            "clientRoles": {"realm-management": ["manage-users", "view-users", "query-users", "view-realm"]},
        }
    ]
    if dev:
        clients.append(
            {
                "clientId": DEV_CLIENT,
                "name": "Attune development scripts (direct grant; never in production)",
                "enabled": True,
                "publicClient": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": True,
                "defaultClientScopes": ["attune", "basic", "profile", "email"],
            }
        )
    realm["clients"] = clients
    realm["users"] = users
    return realm


def _wait_ready(server: Server, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise KeycloakError(f"Keycloak exited with code {proc.returncode}; see {server.directory}/keycloak.log")
        try:
            if requests.get(f"{server.url}/realms/master", timeout=2).status_code == 200:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.5)
    raise KeycloakError(f"Keycloak at {server.url} not ready after {timeout:.0f}s: {last!r}")


def _launch(server: Server, in_memory: bool, management_port: int) -> subprocess.Popen:
    db = (
        ["--db=dev-mem"]
        if in_memory
        else ["--db=dev-file", f"--db-url=jdbc:h2:file:{server.directory}/h2/kc;NON_KEYWORDS=VALUE"]
    )
    env = {
        **os.environ,
        "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "KC_BOOTSTRAP_ADMIN_PASSWORD": server.admin_password,
        "JAVA_OPTS_KC_HEAP": os.environ.get("ATTUNE_KEYCLOAK_HEAP", "-Xms64m -Xmx512m"),
    }
    log = open(server.directory / "keycloak.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [
            str(HOME / "bin" / "kc.sh"),
            "start-dev",
            f"--http-port={server.port}",
            "--http-host=127.0.0.1",
            f"--http-management-port={management_port}",
            "--health-enabled=true",
            *db,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    server.pid_file.write_text(str(proc.pid))
    return proc


def start(
    directory: Path,
    port: int = 8180,
    *,
    public_urls: dict[str, str],
    smtp_port: int,
    in_memory: bool = False,
    timeout: float = 180.0,
    management_port: int | None = None,
) -> Server:
    """Start Keycloak (or find it running) and make sure the ``attune`` realm exists. Uses ``port`` for HTTP
    and ``management_port`` (default ``port + 1``) for its management (health) interface."""
    fetch()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    server = Server(port, directory)
    password_file = directory / "admin-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
    proc = None
    if not processes.alive(server.pid_file):
        proc = _launch(server, in_memory, management_port or port + 1)
    try:
        _wait_ready(server, proc, timeout)
        ensure_realm(server, realm_representation(public_urls, smtp_port))
    except (KeycloakError, requests.RequestException):
        stop(directory)
        raise
    return server


def ensure_realm(server: Server, realm: dict) -> None:
    """Create the realm, then its client scope, then its clients and users. In that order because a realm
    created with client scopes of its own gets none of Keycloak's built-in ones (``basic`` carries ``sub``)."""
    http = server.admin_session()
    base = f"{server.url}/admin/realms"
    if http.get(f"{base}/{REALM}", timeout=10).status_code == 200:
        return
    realm = copy.deepcopy(realm)
    scopes, clients, users = realm.pop("clientScopes"), realm.pop("clients"), realm.pop("users")
    _created(http.post(base, json=realm, timeout=60), "the realm")
    for scope in scopes:
        _created(http.post(f"{base}/{REALM}/client-scopes", json=scope, timeout=30), f"client scope {scope['name']}")
    response = http.post(
        f"{base}/{REALM}/partialImport",
        json={"ifResourceExists": "FAIL", "clients": clients, "users": users},
        timeout=60,
    )
    _created(response, "the clients")
    require_otp_by_role(http, f"{base}/{REALM}")


SIGN_IN_FLOW = "attune browser"
MFA_ROLE = "mfa-required"  # a composite part of clinician, supervisor and admin (the realm file)


def require_otp_by_role(http: requests.Session, realm_url: str) -> None:
    """Clinicians, supervisors and admins must use an authenticator; anyone else who set one up uses it too.
    Keycloak's own browser flow, copied, with its OTP step replaced by the Conditional OTP Form forced for
    the ``mfa-required`` role (someone with the role and no authenticator is made to set one up)."""
    flows = f"{realm_url}/authentication/flows"
    _created(http.post(f"{flows}/browser/copy", json={"newName": SIGN_IN_FLOW}, timeout=30), "the sign-in flow")
    executions = http.get(f"{flows}/{quote(SIGN_IN_FLOW)}/executions", timeout=30).json()
    forms = next(e for e in executions if e.get("authenticationFlow") and e["displayName"].endswith("forms"))
    for execution in executions:
        if execution.get("authenticationFlow") and "Conditional 2FA" in execution["displayName"]:
            http.put(
                f"{flows}/{quote(SIGN_IN_FLOW)}/executions", json={**execution, "requirement": "DISABLED"}, timeout=30
            ).raise_for_status()
    added = http.post(
        f"{flows}/{quote(forms['displayName'])}/executions/execution",
        json={"provider": "auth-conditional-otp-form"},
        timeout=30,
    )
    _created(added, "the one-time-code step")
    executions = http.get(f"{flows}/{quote(SIGN_IN_FLOW)}/executions", timeout=30).json()
    otp = next(e for e in executions if e.get("providerId") == "auth-conditional-otp-form")
    http.put(
        f"{flows}/{quote(SIGN_IN_FLOW)}/executions", json={**otp, "requirement": "REQUIRED"}, timeout=30
    ).raise_for_status()
    config = {"alias": "otp-by-role", "config": {"forceOtpRole": MFA_ROLE, "defaultOtpOutcome": "skip"}}
    _created(
        http.post(f"{realm_url}/authentication/executions/{otp['id']}/config", json=config, timeout=30),
        "the one-time-code rule",
    )
    realm = http.get(realm_url, timeout=30).json()
    http.put(realm_url, json={**realm, "browserFlow": SIGN_IN_FLOW}, timeout=30).raise_for_status()


def _created(response: requests.Response, what: str) -> None:
    if response.status_code not in (200, 201):
        raise KeycloakError(f"creating {what} failed: {response.status_code} {response.text[:300]}")


def otp_secret_base32(raw: str) -> str:
    """Keycloak keeps a TOTP secret as text and shows authenticator apps its bytes in base32."""
    return base64.b32encode(raw.encode()).decode().rstrip("=")


def import_users(server: Server, users: list[dict]) -> None:
    """Add users (with password and TOTP credentials) to the realm; existing ones are left as they are."""
    response = server.admin_session().post(
        f"{server.url}/admin/realms/{REALM}/partialImport",
        json={"ifResourceExists": "SKIP", "users": copy.deepcopy(users)},
        timeout=60,
    )
    if response.status_code != 200:
        raise KeycloakError(f"importing users failed: {response.status_code} {response.text[:300]}")


def stop(directory: Path, timeout: float = 30.0) -> None:
    processes.stop(Path(directory).resolve() / "keycloak.pid", timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.keycloak.server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["fetch", "start", "stop", "otp", "provision"])
    parser.add_argument("--url", help="an existing Keycloak (provision)")
    parser.add_argument("username", nargs="?")
    parser.add_argument("--dir", type=Path, default=Path("var/keycloak"))
    parser.add_argument("--port", type=int, default=8180)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--public-url", action="append", default=[], help="service=https://... (realm)")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        fetch(quiet=False)
        print(f"Keycloak {VERSION} in {HOME}")
    elif args.command == "start":
        urls = {name: f"http://127.0.0.1:{8001 + i}" for i, name in enumerate(SERVICES)}
        server = start(args.dir, args.port, public_urls=urls, smtp_port=args.smtp_port)
        print(f"Keycloak ready: issuer {server.issuer}")
    elif args.command == "provision":
        urls = dict(pair.split("=", 1) for pair in args.public_url)
        missing = [name for name in SERVICES if name not in urls]
        if missing or not args.url:
            parser.error(f"--url and --public-url for each of {', '.join(SERVICES)} are needed")
        secret = os.environ.get("OIDC_CLIENT_SECRET") or parser.error("set OIDC_CLIENT_SECRET (the clients' secret)")
        remote = Remote(args.url.rstrip("/"), os.environ.get("KEYCLOAK_ADMIN_PASSWORD", ""))
        ensure_realm(remote, realm_representation(urls, args.smtp_port, client_secret=secret, dev=False))
        print(f"realm {REALM} ready at {remote.issuer}")
    elif args.command == "otp":
        import pyotp

        from deploy.keycloak.demo import DEMO_USERS

        secret = {u.username: u.otp_secret for u in DEMO_USERS}.get(args.username or "")
        if secret is None:
            parser.error(f"no demo user {args.username!r}; one of {', '.join(u.username for u in DEMO_USERS)}")
        print(pyotp.TOTP(otp_secret_base32(secret)).now())
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
