"""``python -m shared.auth_cli --role frontdesk [--clinician-id ID]``: mint a staff token (stand-in auth)."""

from __future__ import annotations

import argparse
import os

from shared.auth import ROLES, issue_token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.auth_cli")
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--subject", default=None)
    parser.add_argument("--clinician-id", default=None)
    args = parser.parse_args(argv)
    secret = os.environ.get("ATTUNE_AUTH_SECRET", "dev-only-auth-secret-change-me")
    print(issue_token(secret, args.subject or f"{args.role}-user", args.role, args.clinician_id))


if __name__ == "__main__":
    main()
