"""How long a whole practice takes to import: 10,000 clients and 50,000 future appointments through the one
command a practice runs (``flask --app services.scheduling import``), dry run, then apply, then a re-run that
must create nothing.

    python -m bench.import_scale                 # the full size (make bench); writes docs/performance.md
    python -m bench.import_scale --clients 200   # a small one (the test suite runs this)
    python -m bench.import_scale --postgres      # on PostgreSQL (started here) instead of SQLite

Each clinician works mon-fri 08:00-18:00; every client has five weekly sessions, half of them as one recurring
series row, half as five rows, so both paths are timed. The files are generated from a seed.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select

ROOT = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")
SLOTS_PER_WEEK = 50  # ten hours a day, five days
SESSIONS = 5


def generate(folder: Path, clients: int, seed: int) -> dict[str, Path]:
    """Clinicians, clients and appointments CSVs in Attune's columns: no two bookings overlap."""
    rng = random.Random(seed)
    clinicians = max(1, clients // 200)
    today = datetime.now(LONDON).date()
    monday = today + timedelta(days=(7 - today.weekday()) or 7)
    paths = {kind: folder / f"{kind}.csv" for kind in ("clinicians", "clients", "appointments")}
    with paths["clinicians"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "name", "email", "working_hours"])
        for t in range(clinicians):
            w.writerow([f"T{t}", f"Clinician {t}", f"clinician{t}@practice.example", "mon-fri 08:00-18:00"])
    with paths["clients"].open("w", newline="") as f, paths["appointments"].open("w", newline="") as g:
        cw, aw = csv.writer(f), csv.writer(g)
        cw.writerow(["external_id", "legal_name", "email", "consent_email", "consent_evidence", "clinician"])
        aw.writerow(["external_id", "client", "clinician", "type", "date", "time", "repeat", "count"])
        for k in range(clients):
            clinician, n = k % clinicians, k // clinicians  # the clinician's n-th client
            consent = rng.random() < 0.9
            cw.writerow([f"K{k}", f"Client {k} Example", f"client{k}@example.org", "yes" if consent else "no",
                         "intake form" if consent else "", f"T{clinician}"])  # fmt: skip
            slot, block = n % SLOTS_PER_WEEK, n // SLOTS_PER_WEEK
            day, hour = monday + timedelta(days=slot // 10), 8 + slot % 10
            first = day + timedelta(weeks=block * SESSIONS)
            if k % 2:
                aw.writerow([f"S{k}", f"K{k}", f"T{clinician}", "individual", first.isoformat(), f"{hour:02}:00",
                             "weekly", SESSIONS])  # fmt: skip
            else:
                for i in range(SESSIONS):
                    when = first + timedelta(weeks=i)
                    aw.writerow([f"A{k}-{i}", f"K{k}", f"T{clinician}", "individual", when.isoformat(),
                                 f"{hour:02}:00", "", ""])  # fmt: skip
    return paths


def run_import(url: str, paths: dict[str, Path], *flags: str) -> tuple[float, str]:
    env = {**os.environ, "SCHEDULING_DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    argv = [sys.executable, "-m", "flask", "--app", "services.scheduling", "import"]
    for kind, path in paths.items():
        argv += [f"--{kind}", str(path)]
    argv += ["--rejects", str(paths["clients"].parent / "rejects"), *flags]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=7200)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    sys.stderr.write(done.stderr[-400:])
    return took, done.stdout


def counted(url: str) -> dict[str, int]:
    from services.scheduling.models import Appointment, Client
    from shared.messaging.tables import OutboxMessage

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return {
                "clients": c.scalar(select(func.count()).select_from(Client)),
                "appointments": c.scalar(select(func.count()).select_from(Appointment)),
                "events": c.scalar(select(func.count()).select_from(OutboxMessage)),
            }
    finally:
        engine.dispose()


def prepare(url: str) -> None:
    from services.scheduling.cli import create_practice
    from shared.db import make_engine, make_session_factory, transaction
    from shared.migrate import upgrade

    upgrade("scheduling", url)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as s:
        create_practice(s)
    engine.dispose()


def bench(clients: int, seed: int, postgres: bool, workdir: Path) -> dict:
    server = None
    if postgres:
        from deploy.postgres.server import PostgresServer, create_database

        server = PostgresServer()
        url = create_database(server.start())
    else:
        url = f"sqlite:///{workdir / 'scheduling.db'}"
    try:
        prepare(url)
        paths = generate(workdir, clients, seed)
        rows = {k: sum(1 for _ in p.open()) - 1 for k, p in paths.items()}
        dry, _ = run_import(url, paths)
        assert counted(url)["clients"] == 0, "the dry run wrote"
        applied, out = run_import(url, paths, "--apply")
        after = counted(url)
        again, out_again = run_import(url, paths, "--apply")
        if counted(url) != after:
            raise SystemExit("the re-run created records")
        return {"backend": "PostgreSQL" if postgres else "SQLite", "rows": rows, "dry": dry, "apply": applied,
                "rerun": again, "counts": after, "summary": out.strip()}  # fmt: skip
    finally:
        if server is not None:
            server.stop()


def write_report(results: list[dict], clients: int, seed: int) -> None:
    from bench.report import write_section

    lines = [
        "## Importing a practice",
        "",
        f"`python -m bench.import_scale` (`make bench`), seed {seed}, one run on this 2-core machine: "
        f"{clients:,} clients and {clients * SESSIONS:,} future appointments (half as weekly series rows, half as "
        "single rows) through `flask --app services.scheduling import`, one process, wall-clock time of the whole "
        "command. The dry run is the real import rolled back; the re-run finds every row already imported.",
        "",
        "| database | rows in the files | dry run | apply | rows/s (apply) | appointments/s (apply) "
        "| re-run (creates nothing) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        total = sum(r["rows"].values())
        lines.append(
            f"| {r['backend']} | {total:,} | {r['dry']:.0f} s | {r['apply']:.0f} s | {total / r['apply']:.0f} | "
            f"{r['counts']['appointments'] / r['apply']:.0f} | {r['rerun']:.0f} s |"
        )
    r = results[0]
    c = r["counts"]
    lines += ["", f"Result ({r['backend']}): {c['clients']:,} clients, {c['appointments']:,} appointments, "
              f"{c['events']:,} outbox rows for the relay.", ""]  # fmt: skip
    write_section("import", "\n".join(lines))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL only")
    parser.add_argument("--both", action="store_true", help="SQLite and PostgreSQL, one after the other")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs/")
    args = parser.parse_args(argv)
    backends = [False, True] if args.both else [args.postgres]
    results = []
    for postgres in backends:
        with tempfile.TemporaryDirectory(prefix="attune-import-") as tmp:
            results.append(bench(args.clients, args.seed, postgres, Path(tmp)))
            r = results[-1]
            print(f"{r['backend']}: dry {r['dry']:.1f}s apply {r['apply']:.1f}s rerun {r['rerun']:.1f}s {r['counts']}")
    expected = args.clients * SESSIONS
    if any(r["counts"]["appointments"] != expected or r["counts"]["clients"] != args.clients for r in results):
        print(f"expected {args.clients} clients and {expected} appointments", file=sys.stderr)
        return 1
    if not args.no_write:
        write_report(results, args.clients, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
