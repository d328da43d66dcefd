"""Notifications' composition root: the events it consumes, their handlers, and the dispatcher loop that
sends due deliveries over SMTP (used by the worker process and the tests alike)."""

from __future__ import annotations

from services.notifications import handlers
from services.notifications.deliveries import Dispatcher
from services.notifications.metrics import notifications_state
from services.notifications.settings import NotificationsSettings
from services.notifications.sms_channel import SmsChannel
from services.notifications.smtp_channel import SmtpChannel
from shared.db import utcnow
from shared.events import catalog as events
from shared.runtime import Runtime
from shared.wiring import Wiring, wire

SERVICE = "notifications"

HANDLERS = {
    events.CLIENT_REGISTERED: handlers.upsert_client,
    events.CLIENT_UPDATED: handlers.upsert_client,
    events.CLIENT_DISCHARGED: handlers.deactivate_client,
    events.CLINICIAN_REGISTERED: handlers.upsert_clinician,
    events.CLINICIAN_UPDATED: handlers.upsert_clinician,
    events.APPOINTMENT_BOOKED: handlers.appointment_booked,
    events.APPOINTMENT_RESCHEDULED: handlers.appointment_rescheduled,
    events.APPOINTMENT_DETAILS_CHANGED: handlers.appointment_details_changed,
    events.APPOINTMENT_CANCELLED: handlers.appointment_cancelled,
    events.APPOINTMENT_CHECKED_IN: handlers.appointment_checked_in,
    events.APPOINTMENT_NO_SHOW: handlers.appointment_no_show,
    events.CLIENT_REMINDERS_RESUMED: handlers.reminders_resumed,
    events.QUESTIONNAIRE_ISSUED: handlers.invite_to_questionnaire,
    events.PROGRESS_SHARED: handlers.send_progress_report,
    events.QUESTIONNAIRE_COMPLETED: handlers.questionnaire_completed,
    events.QUESTIONNAIRE_EXPIRED: handlers.questionnaire_expired,
    events.ALERT_RAISED: handlers.notify_alert,
    events.ALERT_ESCALATED: handlers.notify_alert,
}


def dispatcher(settings: NotificationsSettings, runtime: Runtime, channel=None, sms=None) -> Dispatcher:
    return Dispatcher(
        runtime.sessions,
        channel or SmtpChannel(settings),
        settings,
        sms=sms or SmsChannel(settings),
        concurrency=settings.smtp_concurrency,
    )


def bootstrap(settings: NotificationsSettings, runtime: Runtime, clock=utcnow, channel=None) -> Wiring:
    loop = ("dispatcher", dispatcher(settings, runtime, channel).one_pass)
    return wire(SERVICE, HANDLERS, {"settings": settings, "clock": clock}, loops=[loop], metrics=[notifications_state])
