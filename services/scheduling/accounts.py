"""Deactivating a clinician closes their staff accounts: a worker loop finds deactivated clinicians whose
accounts are still open and has the identity provider disable them and end their sessions (retried until it
succeeds, so a provider outage delays this but never forgets it)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from services.scheduling.models import Clinician
from shared import logs
from shared.db import transaction, utcnow
from shared.runtime import Runtime
from shared.staff_accounts import AccountError, StaffAccounts

log = logs.get("accounts")


def close_accounts_once(runtime: Runtime, accounts: StaffAccounts) -> int:
    """Disable the accounts of every deactivated clinician not yet done; how many clinicians were done."""
    with runtime.sessions() as s:
        pending = list(
            s.scalars(select(Clinician.id).where(~Clinician.active, Clinician.account_disabled_at.is_(None)))
        )
    done = 0
    for clinician_id in pending:
        count = accounts.disable_clinician(clinician_id)
        with transaction(runtime.sessions) as s:
            s.get(Clinician, clinician_id).account_disabled_at = utcnow()
        log.info("accounts.disabled", clinician_id=clinician_id, accounts=count)
        done += 1
    return done


def account_closer(runtime: Runtime, every: float = 60.0):
    """One pass of the loop (a pass lasts a second, so the loop's health stays current)."""
    next_run = [time.monotonic()]

    def close_deactivated_accounts(stop: threading.Event) -> None:
        if time.monotonic() >= next_run[0]:
            next_run[0] = time.monotonic() + every
            try:
                close_accounts_once(runtime, StaffAccounts.from_settings(runtime.settings))
            except AccountError as exc:
                log.warning("accounts.not_closed", error=str(exc))
        stop.wait(1.0)

    return close_deactivated_accounts
