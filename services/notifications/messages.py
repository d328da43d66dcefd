"""Rendering a delivery into a multipart (text + HTML) email, from Jinja2 templates."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifications.models import Delivery
from services.notifications.settings import NotifySettings

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "email"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

SUBJECTS = {
    "questionnaire_invitation": "Your check-in before your next session",
    "alert_notice": "A client on your caseload needs attention",
}

# Context keys that are credentials: cleared from the ledger once the message is sent.
SECRET_KEYS = ("questionnaire_url",)


def subject_for(delivery: Delivery) -> str:
    subject = SUBJECTS[delivery.template]
    if delivery.template == "alert_notice" and delivery.context.get("severity") == "urgent":
        subject = "URGENT: " + subject
    return subject


def render(delivery: Delivery, settings: NotifySettings) -> EmailMessage:
    context = {**delivery.context, "practice_name": settings.practice_name}
    message = EmailMessage()
    message["Subject"] = subject_for(delivery)
    message["From"] = Address(settings.from_name, addr_spec=settings.from_address)
    message["To"] = delivery.to_address
    # Deterministic: a resend after a crash carries the same Message-ID, so duplicates are recognisable.
    message["Message-ID"] = f"<{delivery.id}@attune.notifications>"
    message["Date"] = format_datetime(delivery.created_at)
    message["X-Attune-Delivery"] = delivery.id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_ENV.get_template(f"{delivery.template}.txt").render(context))
    message.add_alternative(_ENV.get_template(f"{delivery.template}.html").render(context), subtype="html")
    return message
