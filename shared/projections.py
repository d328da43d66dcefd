"""Projections of another service's entities keep the newest state they have seen.

Entity events (client, clinician) carry the entity's version, which the owning service increments on every
change. Events can arrive late or twice: a replayed dead letter, a rebuild from the compacted directory topic,
two topics racing. A projection applies an event only if it is newer than what it holds, so old state can
never come back (an old email address, a withdrawn consent).
"""

from __future__ import annotations


def is_stale(held: int | None, incoming: int | None) -> bool:
    """True when the incoming version is not newer than the one held (unversioned events always apply)."""
    return held is not None and incoming is not None and incoming <= held
