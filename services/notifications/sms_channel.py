"""Text messages through the provider's REST API: Twilio's Messages API by default (the ``twilio`` package), or
any provider that speaks it (``SMS_API_URL``), like the dev SMS sink (``deploy/smssink.py``).

The provider's answers map onto the dispatcher's three outcomes, as SMTP's do: a number the provider refuses
(invalid, unsubscribed by STOP, unreachable) fails at once and is reported; throttling, the provider's own
faults and network errors are retried within the client-message window. Delivery reports (delivered,
failed) come later to ``/sms/status`` (``sms_webhooks.py``).
"""

from __future__ import annotations

import logging

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from services.notifications.settings import NotificationsSettings
from services.notifications.smtp_channel import OperationalSendError, PermanentSendError, TransientSendError

# Errors about the recipient, not about us: retrying cannot help (the provider's documented error codes).
RECIPIENT_ERRORS = {
    21211: "invalid number",
    21214: "number cannot be reached",
    21408: "region not enabled",
    21610: "the client replied STOP",
    21612: "number cannot receive texts from us",
    21614: "not a mobile number",
}
# The library logs every request's URL and headers at INFO: our structured logs say what happened instead.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
OUR_FAULTS = {20003: "provider authentication failed", 21606: "sending number not allowed", 21659: "bad sender"}


class SmsChannel:
    def __init__(self, settings: NotificationsSettings):
        self.settings = settings
        self.client = Client(settings.sms_account_sid, settings.sms_auth_token)
        if settings.sms_api_url:
            self.client.api.base_url = settings.sms_api_url.rstrip("/")

    @property
    def status_callback(self) -> str:
        return f"{self.settings.notifications_url}/sms/status"

    def send(self, to: str, body: str) -> str:
        """Hand one text to the provider; returns its message id (for the delivery reports)."""
        sender = self.settings.sms_from
        how = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        try:
            message = self.client.messages.create(to=to, body=body, status_callback=self.status_callback, **how)
        except TwilioRestException as exc:
            if exc.code in RECIPIENT_ERRORS:
                raise PermanentSendError(f"text refused: {RECIPIENT_ERRORS[exc.code]} ({exc.code})") from None
            if exc.code in OUR_FAULTS or exc.status in (401, 403):
                raise OperationalSendError(f"SMS {exc.status} {OUR_FAULTS.get(exc.code, exc.code)}") from None
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(f"SMS {exc.status}") from None
            raise PermanentSendError(f"text refused ({exc.status}, {exc.code})") from None
        except requests.Timeout:
            raise TransientSendError("SMS timeout", maybe_delivered=True) from None
        except (requests.ConnectionError, TwilioException) as exc:
            raise TransientSendError(f"SMS {type(exc).__name__}") from None
        return message.sid
