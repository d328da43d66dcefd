"""``make dev``: the whole system on one machine with embedded defaults.

Starts the Kafka broker (unless KAFKA_BOOTSTRAP_SERVERS points elsewhere) and Keycloak (unless OIDC_ISSUER
points elsewhere), creates the topics, migrates the three databases, loads demo data and demo staff accounts
once, then runs the mail sink, the three web apps and their workers under honcho and prints where everything
is. Ctrl-C stops it all, the broker and Keycloak last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


def seed_once() -> dict | None:
    from services.scheduling import appointments as appts
    from services.scheduling.cli import seed_demo
    from services.scheduling.models import Clinician
    from services.scheduling.settings import SchedulingSettings
    from shared.db import transaction, utcnow
    from shared.runtime import Runtime

    runtime = Runtime.build(SchedulingSettings.from_env(wake_port=None))
    with transaction(runtime.sessions) as session:
        if session.scalar(select(Clinician.id).limit(1)):
            return None
        ids = seed_demo(session, runtime.settings.link_key)
        # One session that has just finished, so the walkthrough starts with a questionnaire in the mail sink:
        # the latest hour before now that the demo calendar leaves free (the demo day has other sessions).
        now = utcnow()
        for hours_back in range(12):
            request = appts.BookingRequest(
                client_id=ids["clients"][0],
                clinician_id=ids["clinicians"][0],
                type_id="individual",
                starts_at=now - timedelta(minutes=55 + 60 * hours_back),
                override_reason="demo: a session that has just ended",
            )
            try:
                walk_in = appts.book(session, request, now, by="demo", link_key=runtime.settings.link_key)
                break
            except appts.BookingConflict:
                continue
        else:
            raise RuntimeError("the demo calendar has no free hour in the last twelve")
        appts.complete(session, walk_in.id, now, by="demo")
    runtime.engine.dispose()
    return ids


def clinician_ids() -> dict[str, str]:
    """Demo clinicians' ids by email (the demo staff accounts carry them as their clinician id)."""
    from services.scheduling.models import Clinician
    from services.scheduling.settings import SchedulingSettings
    from shared.runtime import Runtime

    runtime = Runtime.build(SchedulingSettings.from_env(wake_port=None))
    with runtime.sessions() as session:
        found = {email: clinician_id for email, clinician_id in session.execute(select(Clinician.email, Clinician.id))}
    runtime.engine.dispose()
    return found


def demo_accounts(server) -> None:
    """The demo staff accounts in the local Keycloak realm (left alone when they exist)."""
    from deploy.keycloak import server as keycloak
    from deploy.keycloak.demo import DEMO_USERS, user_representation

    ids = clinician_ids()
    keycloak.import_users(server, [user_representation(u, ids.get(u.clinician_email or "")) for u in DEMO_USERS])


def main() -> int:
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as cleanly as on Ctrl-C
    os.environ.setdefault("ATTUNE_VAR_DIR", "var")
    os.environ.setdefault("SMTP_PORT", "8025")
    # The walkthrough must work at any hour: quiet hours are off unless you set them (production: 21:00-08:00).
    os.environ.setdefault("NOTIFY_QUIET_START", "00:00")
    os.environ.setdefault("NOTIFY_QUIET_END", "00:00")
    Path("var").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}

    from deploy.kafka import broker
    from deploy.keycloak import server as keycloak
    from shared.events.catalog import ensure_all_topics
    from shared.migrate import upgrade

    own_broker = "KAFKA_BOOTSTRAP_SERVERS" not in os.environ
    own_keycloak = "OIDC_ISSUER" not in os.environ
    try:
        if own_broker:
            _step("starting the Kafka broker (var/kafka, 127.0.0.1:9092)")
            broker.start_single(Path("var/kafka"), 9092, 9093)
        idp = None
        if own_keycloak:
            _step("starting Keycloak, the staff sign-in (var/keycloak, 127.0.0.1:8180)")
            urls = {name: f"http://127.0.0.1:{8001 + i}" for i, name in enumerate(keycloak.SERVICES)}
            idp = keycloak.start(Path("var/keycloak"), 8180, public_urls=urls, smtp_port=int(os.environ["SMTP_PORT"]))
        return _run(env, ensure_all_topics, upgrade, idp)
    finally:  # whatever failed after they started, they do not outlive this command
        if own_keycloak:
            _step("stopping Keycloak")
            keycloak.stop(Path("var/keycloak"))
        if own_broker:
            _step("stopping the Kafka broker")
            broker.stop(Path("var/kafka"))


def _run(env: dict, ensure_all_topics, upgrade, idp) -> int:
    """Topics, migrations, demo data, then the services, workers and mail sink under honcho until Ctrl-C."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    ensure_all_topics(bootstrap)
    for service in ("scheduling", "feedback", "notifications"):
        _step(f"migrating {service}")
        upgrade(service)
    seeded = seed_once()
    _step("demo data loaded" if seeded else "demo data already present")

    if idp is not None:
        demo_accounts(idp)
    issuer = idp.issuer if idp else os.environ["OIDC_ISSUER"]
    print(
        f"""
Attune is starting:
  front desk         http://127.0.0.1:8001/desk/day
  therapist          http://127.0.0.1:8002/dashboard
  delivery log       http://127.0.0.1:8003/admin/deliveries
  scheduling API     http://127.0.0.1:8001/docs   (OpenAPI: /openapi.json)
  mail sink          http://127.0.0.1:8090/   (SMTP on 127.0.0.1:{os.environ["SMTP_PORT"]}, files in var/mail)
  SMS sink           http://127.0.0.1:8035/   (a local SMS provider; texts in var/sms)
  Kafka              {bootstrap}
  Keycloak           {issuer}

Demo staff (this machine's demo realm only; sign in on any page above):
  desk  / demo-desk-password-1    front desk
  ada   / demo-ada-password-1     clinician (Dr Ada Okafor), one-time code: make otp USER=ada
  sam   / demo-sam-password-1     supervisor (Sam Lindqvist), one-time code: make otp USER=sam
  admin / demo-admin-password-1   practice admin, one-time code: make otp USER=admin

An API access token (front desk, valid 5 minutes; the dev-only direct-grant client):
  curl -s -d grant_type=password -d client_id=attune-dev-cli -d username=desk -d password=demo-desk-password-1 \\
      {issuer}/protocol/openid-connect/token
  curl -H "Authorization: Bearer <access_token>" http://127.0.0.1:8001/api/appointments

Open the mail sink: a questionnaire invitation for the demo session is on its way. Ctrl-C stops everything.
""",
        flush=True,
    )
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "-f", "deploy/Procfile", "-d", str(ROOT), "start"], env=env
    )
    try:
        return honcho.wait()
    except KeyboardInterrupt:
        honcho.send_signal(signal.SIGINT)
        return honcho.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
