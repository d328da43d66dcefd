"""Email over SMTP (smtplib: plain, STARTTLS or implicit TLS, optional auth), with errors sorted into
transient (retry later) and permanent (give up and report)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from services.notifications.settings import NotificationsSettings


class TransientSendError(Exception):
    pass


class PermanentSendError(Exception):
    pass


class SmtpChannel:
    def __init__(self, settings: NotificationsSettings):
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                client = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            with client:
                if s.smtp_security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    client.login(s.smtp_user, s.smtp_password or "")
                refused = client.send_message(message)
                if refused:
                    raise PermanentSendError(f"recipient refused ({next(iter(refused.values()))[0]})")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise (TransientSendError if all(400 <= c < 500 for c in codes) else PermanentSendError)(
                f"recipient refused ({codes[0]})"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise (TransientSendError if 400 <= exc.smtp_code < 500 else PermanentSendError)(
                f"SMTP {exc.smtp_code}"
            ) from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, TimeoutError, OSError) as exc:
            raise TransientSendError(type(exc).__name__) from None
