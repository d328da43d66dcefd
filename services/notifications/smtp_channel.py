"""Email over SMTP (smtplib: plain, STARTTLS or implicit TLS, optional auth), with every failure sorted:

- **permanent**: the server refused *this recipient* (5xx to RCPT, or a 5.1.x/5.2.x mailbox status): retrying
  cannot help, the message is failed and reported;
- **operational**: the server refused *us* (authentication, our sender address, TLS, policy): every message
  would fail the same way until someone fixes the configuration, so the message is kept and retried, and the
  fault is reported loudly;
- **transient**: anything else (4xx, connection refused or lost, timeouts): retried with backoff.

A connection lost or timed out after the message body was handed over may still have been delivered: such a
failure says ``maybe_delivered`` so the retry is flagged ``possible_duplicate`` (same Message-ID).
"""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import parseaddr

from services.notifications.settings import NotificationsSettings


class TransientSendError(Exception):
    def __init__(self, reason: str, *, maybe_delivered: bool = False):
        super().__init__(reason)
        self.maybe_delivered = maybe_delivered


class OperationalSendError(TransientSendError):
    """Our side is misconfigured or refused (not this message's fault): retry, and tell an operator."""


class PermanentSendError(Exception):
    pass


_MAILBOX_STATUS = re.compile(rb"^5\.[12]\.\d+")  # RFC 3463: 5.1.x addressing, 5.2.x mailbox


def classify_reply(code: int, text: bytes | str = b"") -> type[Exception]:
    """The error class for an SMTP reply that refused a message outside RCPT."""
    raw = text.encode() if isinstance(text, str) else (text or b"")
    if 400 <= code < 500:
        return TransientSendError
    if _MAILBOX_STATUS.match(raw.strip()):
        return PermanentSendError
    return OperationalSendError


class SmtpChannel:
    """Sends over a connection kept open per thread and reused for the next message (a handshake, TLS and a
    login per message would cost more than the message). A reused connection the server has closed meanwhile
    is found before anything was handed over, and replaced once; any failure drops the connection."""

    IDLE_SECONDS = 20.0  # a connection unused this long is closed and made anew (servers drop idle ones)

    def __init__(self, settings: NotificationsSettings):
        self.settings = settings
        self._local = threading.local()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "ssl":
            client = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            if s.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                client.login(s.smtp_user, s.smtp_password or "")
            client.ehlo_or_helo_if_needed()
        except BaseException:
            client.close()
            raise
        return client

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        """This thread's open connection (and whether it is new)."""
        client = getattr(self._local, "client", None)
        if client is not None and time.monotonic() - self._local.used < self.IDLE_SECONDS:
            return client, False
        self.close()
        self._local.client = self._connect()
        self._local.used = time.monotonic()
        return self._local.client, True

    def close(self) -> None:
        """Close this thread's connection, if any (politely: QUIT; a dead one is just dropped)."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _drop(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            client.close()

    def send(self, message: EmailMessage) -> None:
        sender = parseaddr(str(message["From"]))[1]
        recipient = parseaddr(str(message["To"]))[1]
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        while True:
            body_sent, fresh = False, True
            try:
                client, fresh = self._connection()
                code, reply = client.mail(sender)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, reply, sender)
                code, reply = client.rcpt(recipient)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
                body_sent = True  # from here on, a lost connection may hide a delivered message
                code, reply = client.data(data)
                if code != 250:  # data() returns the final reply rather than raising on it
                    body_sent = False
                    raise smtplib.SMTPDataError(code, reply)
                self._local.used = time.monotonic()
                return
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if not fresh and not body_sent:
                    continue  # the server had closed the idle connection: nothing was handed over, go again
                raise TransientSendError("SMTPServerDisconnected", maybe_delivered=body_sent) from None
            except smtplib.SMTPRecipientsRefused as exc:
                self._drop()
                codes = [code for code, _ in exc.recipients.values()]
                error = TransientSendError if all(400 <= c < 500 for c in codes) else PermanentSendError
                raise error(f"recipient refused ({codes[0]})") from None
            except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
                self._drop()
                error = TransientSendError if 400 <= exc.smtp_code < 500 else OperationalSendError
                raise error(f"SMTP {exc.smtp_code} ({type(exc).__name__})") from None
            except smtplib.SMTPResponseException as exc:
                self._drop()
                raise classify_reply(exc.smtp_code, exc.smtp_error)(f"SMTP {exc.smtp_code}") from None
            except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
                self._drop()
                raise OperationalSendError(f"TLS: {type(exc).__name__}") from None
            except (smtplib.SMTPConnectError, TimeoutError, OSError) as exc:
                self._drop()
                raise TransientSendError(type(exc).__name__, maybe_delivered=body_sent) from None
