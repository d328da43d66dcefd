"""Alembic, driven from code: each service keeps its revisions in ``services/<name>/migrations``.

python -m shared.migrate upgrade scheduling      # to head, on the service's DATABASE_URL
python -m shared.migrate revision feedback -m "add alerts"   # autogenerate from the models
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.config import database_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def target_metadata(service: str):
    from shared.messaging.tables import MessagingBase

    models = importlib.import_module(f"services.{service}.models")
    return [models.Base.metadata, MessagingBase.metadata]


def upgrade(service: str, url: str | None = None) -> None:
    url = url or database_url(service)
    command.upgrade(alembic_config(service, url), "head")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrate")
    parser.add_argument("command", choices=["upgrade", "revision", "check"])
    parser.add_argument("service", choices=["scheduling", "feedback", "notifications"])
    parser.add_argument("-m", "--message", default="change")
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    url = args.url or database_url(args.service)
    cfg = alembic_config(args.service, url)
    if args.command == "upgrade":
        command.upgrade(cfg, "head")
    elif args.command == "check":
        command.check(cfg)
    else:
        command.upgrade(cfg, "head")
        command.revision(cfg, message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
