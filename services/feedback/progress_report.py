"""The client's own progress report: what a therapist shares in measurement-based care. Per measure, the
scores over time against the expected course and the clinical cut-off, and what reliable change means in
plain words. Never item answers, alert texts or risk flags: only totals and what they mean.

Shown to the clinician for the session (printable on one page: the print stylesheet, saved as PDF from the
browser) and to the client behind a single-use, expiring link sent by email or text (``share``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback import change, queries
from services.feedback.chart import Point, progress_svg
from services.feedback.models import ClientRecord, ProgressShare, Response
from shared import sealed
from shared.events import catalog as events
from shared.messaging.outbox import emit

SHARE_TTL = timedelta(days=7)

PLAIN = {
    change.RECOVERED: "improved by more than everyday ups and downs, and is now below the level that usually "
    "means the problem needs treatment",
    change.IMPROVED: "improved by more than everyday ups and downs",
    change.NO_CHANGE: "moved less than everyday ups and downs can explain, so we cannot yet call it a change",
    change.DETERIORATED: "become worse by more than everyday ups and downs: worth talking about together",
}


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    svg: Markup
    first: float
    latest: float
    count: int
    reliable_points: float | None
    in_words: str | None
    cutoff: float | None
    higher_is_worse: bool


def sections(session: Session, client: ClientRecord) -> list[Section]:
    """One section per measure the client answered this episode (alliance measures are about the sessions,
    not the client's progress, and stay out)."""
    found = []
    used = session.scalars(
        select(Response.measure)
        .where(Response.client_id == client.id, Response.episode_id == client.episode_id)
        .distinct()
    ).all()
    for measure_id in sorted(used):
        data = queries.progress(session, client, measure_id)
        m = data["measure"]
        if m.alliance is not None or not data["points"]:
            continue
        points = [Point(p.n, p.total, p.label) for p in data["points"]]  # no alert markers on the client's copy
        svg = progress_svg(
            f"{m.name}: your scores",
            points,
            tuple(m.range),
            higher_is_worse=m.higher_is_worse,
            expected=data["expected"],
            cutoff=m.clinical_cutoff,
            rc_points=change.reliable_change_points(m),
            for_client=True,
        )
        totals = [p.total for p in points]
        found.append(
            Section(
                m.name,
                m.title,
                Markup(svg),  # noqa: S704 - our own SVG, every text in it escaped
                totals[0],
                totals[-1],
                len(totals),
                change.reliable_change_points(m),
                PLAIN.get(data["change_class"]) if data["change_class"] else None,
                m.clinical_cutoff,
                m.higher_is_worse,
            )
        )
    return found


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share(
    session: Session,
    client: ClientRecord,
    *,
    by: str,
    clinician_id: str | None,
    now: datetime,
    base_url: str,
    link_key: str,
) -> ProgressShare:
    """Make the single-use link and announce it (``progress.shared``): notifications sends it to the client."""
    token = secrets.token_urlsafe(32)
    row = ProgressShare(
        client_id=client.id,
        token_hash=_hash(token),
        shared_by=by,
        shared_by_clinician=clinician_id,
        created_at=now,
        expires_at=now + SHARE_TTL,
    )
    session.add(row)
    session.flush()
    emit(
        session,
        events.PROGRESS_SHARED,
        {
            "share_id": row.id,
            "client_id": client.id,
            "clinician_id": client.clinician_id,
            "sealed_url": sealed.seal(link_key, f"{base_url}/p/{token}"),
            "expires_at": row.expires_at,
        },
        subject=client.id,
    )
    return row


def open_once(session: Session, token: str, now: datetime) -> ProgressShare | None:
    """The share behind ``token`` the first time it is opened before it expires; None after that."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(select(ProgressShare).where(ProgressShare.token_hash == _hash(token)).with_for_update())
    if row is None or row.opened_at is not None or row.expires_at <= now:
        return None
    row.opened_at = now
    return row
