"""``attune-outbox``: the outbox rows a relay parked (they kept failing while others were published), and
putting them back in line once the cause is fixed (e.g. a topic created, a size limit raised)."""

from __future__ import annotations

import argparse

from sqlalchemy import select, update

from shared.config import SERVICES, database_url
from shared.db import make_engine, make_session_factory
from shared.messaging.tables import OutboxMessage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attune-outbox", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--service", required=True, choices=SERVICES)
    parser.add_argument("--id", type=int, action="append", help="replay only these outbox rows")
    parser.add_argument("--url", help="the service's database (default: from its settings)")
    args = parser.parse_args(argv)
    engine = make_engine(args.url or database_url(args.service))
    sessions = make_session_factory(engine)
    try:
        with sessions() as session, session.begin():
            parked = select(OutboxMessage).where(OutboxMessage.parked_at.is_not(None)).order_by(OutboxMessage.id)
            if args.id:
                parked = parked.where(OutboxMessage.id.in_(args.id))
            rows = session.scalars(parked).all()
            if args.command == "list":
                print(f"{'id':>8}  {'parked at':<25} {'attempts':>8}  {'type':<45} error")
                for r in rows:
                    print(
                        f"{r.id:>8}  {r.parked_at.isoformat():<25} {r.attempts:>8}  {r.event_type:<45} {r.last_error}"
                    )
                print(f"{len(rows)} parked outbox row(s) in {args.service}")
                return 0
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([r.id for r in rows]))
                .values(parked_at=None, attempts=0, last_error=None)
            )
        print(f"{len(rows)} outbox row(s) back in line for the relay")
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
