"""Bearer links sealed for the bus: a questionnaire link and a session's video link are working credentials,
so on Kafka (and in the dead-letter topic, and in any consumer's logs) they travel encrypted with
``ATTUNE_LINK_KEY`` (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``), a key that only the services
that make the links (feedback, scheduling) and the one that sends them (notifications) are given."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from shared.errors import PermanentError

PREFIX = "fernet:"


class SealError(PermanentError):
    """The value was not sealed with this key (or was tampered with): retrying cannot help, so the event goes
    to the dead-letter topic (still sealed)."""


def seal(key: str, text: str) -> str:
    return PREFIX + Fernet(key.encode()).encrypt(text.encode()).decode()


def unseal(key: str, sealed: str) -> str:
    if not sealed.startswith(PREFIX):
        raise SealError("not a sealed value")
    try:
        return Fernet(key.encode()).decrypt(sealed[len(PREFIX) :].encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SealError("the value cannot be opened with this key") from exc
