"""``attune``: operating a practice's installation.

    attune backup [--to DIR] [--key-file KEY]     one dated, checksummed archive of the three databases and the
                                                  broker positions (encrypted with KEY when given)
    attune backup --new-key KEY                   make a key file for encrypted archives
    attune verify ARCHIVE [--key-file KEY]        check an archive without restoring it
    attune restore ARCHIVE [--key-file KEY]       bring a practice back onto empty databases, every worker and
                                                  web process stopped; then start them
    attune export --to FILE.zip [--client ID]     a client's data (or every client's) as FHIR R4 and CSV

It reads the same environment as the services (``<SERVICE>_DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``,
``ATTUNE_KAFKA_NAMESPACE``, ``ATTUNE_LINK_KEY``). docs/operations.md is the procedure.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from deploy.ops import archive, databases, positions
from deploy.ops.catch_up import catch_up
from shared.migrate import upgrade

SERVICES = positions.SERVICES


def service_settings() -> dict:
    from services.feedback.settings import FeedbackSettings
    from services.notifications.settings import NotificationsSettings
    from services.scheduling.settings import SchedulingSettings

    classes = {"scheduling": SchedulingSettings, "feedback": FeedbackSettings, "notifications": NotificationsSettings}
    return {name: cls.from_env() for name, cls in classes.items()}


def _version() -> str:
    try:
        return metadata.version("attune")
    except metadata.PackageNotFoundError:
        return "unknown"


def backup(dest_dir: Path, key_file: Path | None = None, settings: dict | None = None, quiet: bool = False) -> Path:
    settings = settings or service_settings()
    bootstrap = settings["scheduling"].kafka_bootstrap
    started = time.monotonic()
    taken = datetime.now(UTC)
    recorded = positions.record(bootstrap)  # first: every dump then holds at least what was committed
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="attune-backup-") as tmp:
        folder = Path(tmp)
        dbs = {}
        for service in tqdm(SERVICES, desc="dumping", unit="db", disable=quiet):
            url = settings[service].database_url
            dbs[service] = {"backend": databases.backend(url), "path": databases.dump(url, folder / service)}
        manifest = {"format": 1, "taken_at": taken.isoformat(), "attune_version": _version(), "databases": dbs,
                    "kafka": recorded}  # fmt: skip
        suffix = ".tar.gz.enc" if key_file else ".tar.gz"
        dest = dest_dir / f"attune-backup-{taken:%Y%m%dT%H%M%SZ}{suffix}"
        archive.write(folder, manifest, dest, key_file)
    if not quiet:
        print(f"{dest} ({dest.stat().st_size / 1e6:.1f} MB, {time.monotonic() - started:.1f} s)")
    return dest


def restore(path: Path, key_file: Path | None = None, settings: dict | None = None, report: Path | None = None,
            quiet: bool = False) -> dict:  # fmt: skip
    """Verify, load every database, catch up from the broker, put the consumer groups back. Returns counts."""
    settings = settings or service_settings()
    bootstrap = settings["scheduling"].kafka_bootstrap
    with tempfile.TemporaryDirectory(prefix="attune-restore-") as tmp:
        folder = Path(tmp)
        manifest = archive.open_archive(path, folder, key_file)
        recorded = manifest["kafka"]
        here = positions.record(bootstrap)["namespace"]
        if recorded["namespace"] != here:
            raise SystemExit(f"the archive's topics are {recorded['namespace']}.*: set ATTUNE_KAFKA_NAMESPACE to it")
        full = [s for s in SERVICES if not databases.is_empty(settings[s].database_url)]
        if full:
            raise SystemExit(f"restore needs empty databases: {', '.join(full)} already hold tables")
        positions.check_idle(bootstrap)
        for service in tqdm(SERVICES, desc="loading", unit="db", disable=quiet):
            url = settings[service].database_url
            databases.load(folder / manifest["databases"][service]["path"], url)
            upgrade(service, url)  # an archive from an older version: its migrations run now
    results = {}
    unrestored = []
    for service in tqdm(SERVICES, desc="catching up", unit="service", disable=quiet):
        done = catch_up(service, settings[service].database_url, settings[service], bootstrap, recorded)
        results[service] = dict(done.counts)
        unrestored += done.unrestored
    results["offsets"] = positions.rewind(bootstrap, recorded)
    if report is not None and unrestored:
        with report.open("w", newline="") as f:
            writer = csv.DictWriter(f, ["service", "type", "subject", "event_id", "time"])
            writer.writeheader()
            writer.writerows(unrestored)
    results["unrestored"] = len(unrestored)
    if not quiet:
        print(archive.describe(manifest), end="")
        for service in SERVICES:
            print(f"{service:14} caught up: {json.dumps(results[service], sort_keys=True)}")
        if unrestored:
            print(f"{len(unrestored)} changes made after the backup could not be rebuilt: "
                  f"{report or 'give --report FILE to list them'}")  # fmt: skip
        print("restored: start the services and workers")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="attune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("backup", help="write a backup archive")
    b.add_argument("--to", type=Path, default=Path("var/backups"), help="folder for the archive (default var/backups)")
    b.add_argument("--key-file", type=Path, help="encrypt with this key file")
    b.add_argument("--new-key", type=Path, metavar="KEY", help="only make a new key file, then stop")
    v = commands.add_parser("verify", help="check an archive's checksums (and key)")
    v.add_argument("archive", type=Path)
    v.add_argument("--key-file", type=Path)
    r = commands.add_parser("restore", help="restore a backup archive onto empty databases")
    r.add_argument("archive", type=Path)
    r.add_argument("--key-file", type=Path)
    r.add_argument("--report", type=Path, default=Path("restore-unrestored.csv"),
                   help="CSV of changes after the backup that could not be rebuilt (ids only)")  # fmt: skip
    e = commands.add_parser("export", help="hand data back: FHIR R4 Bundles and CSV files in a zip")
    e.add_argument("--to", type=Path, required=True, help="the zip to write")
    e.add_argument("--client", action="append", help="a client id (repeat for several; default: every client)")
    e.add_argument("--by", default=None, help="who asked for it (the audit trail; default: this account)")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            if args.new_key:
                archive.new_key(args.new_key)
                print(f"{args.new_key}: keep a copy somewhere other than the archives")
                return 0
            backup(args.to, args.key_file)
        elif args.command == "verify":
            with tempfile.TemporaryDirectory() as tmp:
                print(archive.describe(archive.open_archive(args.archive, Path(tmp), args.key_file)), end="")
            print("the archive is complete and intact")
        elif args.command == "export":
            from deploy.ops.export import export

            by = args.by or getpass.getuser()
            done = export(service_settings(), args.to, args.client, by=by)
            print(f"{args.to}: {done['clients']} clients, {done['resources']} FHIR resources")
        else:
            restore(args.archive, args.key_file, report=args.report)
    except (archive.ArchiveError, databases.DatabaseError, positions.PositionsError, LookupError) as exc:
        print(f"attune {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
