"""``python -m shared.auth_cli --role frontdesk [--clinician-id ID]``: mint a staff token (stand-in auth)."""

from __future__ import annotations

import argparse

from shared.auth import ROLES, issue_token
from shared.config import auth_secret


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.auth_cli")
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--subject", default=None)
    parser.add_argument("--clinician-id", default=None)
    args = parser.parse_args(argv)
    print(issue_token(auth_secret(), args.subject or f"{args.role}-user", args.role, args.clinician_id))


if __name__ == "__main__":
    main()
