"""Which failures are the infrastructure's (the database, the broker, the network: wait and try again, for as
long as it takes, and never dead-letter the event) and which are the event's own (dead-letter it, with the
reason, so the partition keeps flowing)."""

from __future__ import annotations

import sqlalchemy.exc as sa
from kafka.errors import KafkaError

INFRASTRUCTURE = (
    sa.OperationalError,  # database unreachable, restarting, out of connections, locked
    sa.InterfaceError,
    sa.DisconnectionError,
    sa.TimeoutError,  # no connection from the pool in time
    KafkaError,
    ConnectionError,
    TimeoutError,
)


class InfrastructureUnavailable(Exception):
    """Raised by the consumer when a record could not be handled because something it depends on is down.
    The record is not skipped: the consumer seeks back to it and tries again after a pause."""

    def __init__(self, cause: BaseException):
        super().__init__(type(cause).__name__)
        self.cause = cause


def is_infrastructure(exc: BaseException) -> bool:
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, INFRASTRUCTURE)
