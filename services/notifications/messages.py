"""Rendering a delivery into a multipart (text + HTML) email, from Jinja2 templates."""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from icalendar import Calendar, vUri
from icalendar import Event as ICalEvent
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifications.kinds import kind_of
from services.notifications.models import Delivery
from services.notifications.settings import NotificationsSettings
from shared.sealed import unseal

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "email"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def _with_video_link(context: dict, settings: NotificationsSettings) -> dict:
    """Open the sealed video link for this message only (the ledger keeps it sealed)."""
    sealed = context.get("telehealth_url_sealed")
    return {**context, "telehealth_url": unseal(settings.link_key, sealed) if sealed else None}


_TEXTS = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "sms"),
    autoescape=False,  # noqa: S701 - plain text for a phone, never HTML
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_text(delivery: Delivery, settings: NotificationsSettings) -> str:
    """A text message: short, no clinical content, the client's own links; the video link only when the
    practice allows it in texts (``NOTIFY_SMS_VIDEO_LINK``)."""
    context = _with_video_link({**delivery.context, "practice_name": settings.practice_name}, settings)
    if not settings.sms_video_link:
        context["telehealth_url"] = None
    return " ".join(_TEXTS.get_template(f"{delivery.template}.txt").render(context).split())


def render(delivery: Delivery, settings: NotificationsSettings) -> EmailMessage:
    context = _with_video_link({**delivery.context, "practice_name": settings.practice_name}, settings)
    message = EmailMessage()
    message["Subject"] = kind_of(delivery.template).subject_for(delivery.context)
    message["From"] = Address(settings.from_name, addr_spec=settings.from_address)
    message["To"] = delivery.to_address
    # Deterministic: a resend after a crash carries the same Message-ID, so duplicates are recognisable.
    message["Message-ID"] = f"<{delivery.id}@attune.notifications>"
    message["Date"] = format_datetime(delivery.created_at)
    message["X-Attune-Delivery"] = delivery.id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_ENV.get_template(f"{delivery.template}.txt").render(context))
    message.add_alternative(_ENV.get_template(f"{delivery.template}.html").render(context), subtype="html")
    if "ics_method" in context:
        message.add_attachment(
            calendar_invite(context, settings),
            maintype="text",
            subtype="calendar",
            filename="appointment.ics",
            params={"method": context["ics_method"]},
        )
    if context.get("unsubscribe_url"):
        message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
    return message


def calendar_invite(context: dict, settings: NotificationsSettings) -> bytes:
    """An RFC 5545 invitation (or cancellation) with a stable UID and the appointment's SEQUENCE, so calendar
    apps update the same entry. It names no clinician and no kind of therapy."""
    cal = Calendar()
    cal.add("prodid", "-//Attune//Notifications//EN")
    cal.add("version", "2.0")
    cal.add("method", context["ics_method"])
    event = ICalEvent()
    event.add("uid", f"{context['appointment_id']}@attune")
    event.add("sequence", context["sequence"])
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", datetime.fromisoformat(context["starts_at"]))
    event.add("dtend", datetime.fromisoformat(context["ends_at"]))
    event.add("summary", f"Appointment ({settings.practice_name})")
    if context.get("telehealth") and context.get("telehealth_url") and context["ics_method"] != "CANCEL":
        url = context["telehealth_url"]
        event.add("location", url)
        event.add("url", url)
        # RFC 7986: how to join, in a form calendar apps show as a "join" button
        event.add("conference", vUri(url), parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": "Video call"})
    elif context.get("telehealth"):
        event.add("location", "Video call")
    elif context.get("location"):
        event.add("location", context["location"])
    event.add("status", "CANCELLED" if context["ics_method"] == "CANCEL" else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()
