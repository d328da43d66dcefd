"""``attune-dlq``: list and replay a consumer group's dead letters."""

from __future__ import annotations

import argparse
import sys

from shared.config import kafka_bootstrap
from shared.messaging.deadletter import read_dead_letters, replay
from shared.messaging.kafka_clients import make_producer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attune-dlq", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--group", required=True, help="consumer group: scheduling, feedback or notifications")
    parser.add_argument("--offset", type=int, action="append", help="replay only these dead-letter offsets")
    parser.add_argument("--bootstrap", default=kafka_bootstrap())
    args = parser.parse_args(argv)

    letters = read_dead_letters(args.bootstrap, args.group)
    if args.command == "list":
        print(f"{'partition':>9} {'offset':>7}  {'reason':<18} {'type':<45} error")
        for d in letters:
            print(
                f"{d.partition:>9} {d.offset:>7}  {d.headers.get('dlq.reason', ''):<18} "
                f"{d.headers.get('ce_type', '?'):<45} {d.headers.get('dlq.error', '')[:80]}"
            )
        print(f"{len(letters)} dead letter(s) for group {args.group}")
        return 0
    chosen = [d for d in letters if not args.offset or d.offset in args.offset]
    producer = make_producer(args.bootstrap, "attune-dlq-replay")
    try:
        for d in chosen:
            replay(producer, d)
    finally:
        producer.close(timeout=5)
    print(f"replayed {len(chosen)} dead letter(s) to their original topics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
