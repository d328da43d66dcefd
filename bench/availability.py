"""Availability search on a large practice: 200 clinicians, 100,000 appointments (SQLite).

    .venv/bin/python -m bench.availability          # writes docs/performance.md and docs/figures/availability.png

Each query shape is timed with the practice's indexes and, in the same run on the same data, without the
appointment indexes, so the figure that matters is the ratio (these machines are noisy).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from tqdm import tqdm

from bench.report import write_section
from services.scheduling.cli import create_practice
from services.scheduling.models import Appointment, Client, Clinician
from services.scheduling.queries import find_availability
from shared.db import make_engine, make_session_factory, transaction
from shared.migrate import upgrade

CLINICIANS, APPOINTMENTS, CLIENTS = 200, 100_000, 5_000
HOURS = {d: [["08:00", "12:30"], ["13:30", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def build(url: str) -> list[str]:
    upgrade("scheduling", url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(7)
    with transaction(sessions) as s:
        create_practice(s)
        clinicians = [str(uuid.uuid4()) for _ in range(CLINICIANS)]
        s.execute(
            insert(Clinician),
            [
                {
                    "id": c,
                    "name": f"Clinician {i}",
                    "email": f"c{i}@p.example",
                    "timezone": "Europe/London",
                    "working_hours": HOURS,
                }
                for i, c in enumerate(clinicians)
            ],
        )
        clients = [str(uuid.uuid4()) for _ in range(CLIENTS)]
        s.execute(
            insert(Client),
            [{"id": c, "legal_name": f"Client {i}", "preferred_name": f"C{i}"} for i, c in enumerate(clients)],
        )
    rows, per = [], APPOINTMENTS // CLINICIANS  # 500 each: about 20 a week for 25 weeks
    for c in tqdm(clinicians, desc="appointments", unit="clinician"):
        slots = rng.sample(
            [(w, d, h) for w in range(26) for d in range(5) for h in (8, 9, 10, 11, 14, 15, 16, 17)], per
        )
        for w, d, h in slots:
            start = MONDAY + timedelta(weeks=w, days=d, hours=h)
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "client_id": rng.choice(clients),
                    "clinician_id": c,
                    "type_id": "individual",
                    "starts_at": start,
                    "ends_at": start + timedelta(minutes=50),
                    "status": "booked",
                }
            )
    with transaction(sessions) as s:
        for i in range(0, len(rows), 5000):
            s.execute(insert(Appointment), rows[i : i + 5000])
    engine.dispose()
    return clinicians


def time_query(sessions, repeat: int, **kwargs) -> float:
    samples = []
    for _ in range(repeat):
        with sessions() as s:
            t0 = time.perf_counter()
            find_availability(s, type_id="individual", **kwargs)
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        clinicians = build(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        week = MONDAY + timedelta(weeks=12)
        shapes = {
            "1 clinician, 1 week": dict(clinician_ids=clinicians[:1], start=week, end=week + timedelta(days=7)),
            "20 clinicians, 1 week": dict(clinician_ids=clinicians[:20], start=week, end=week + timedelta(days=7)),
            "all 200, 1 day": dict(clinician_ids=None, start=week, end=week + timedelta(days=1)),
            "1 clinician, 31 days": dict(clinician_ids=clinicians[:1], start=week, end=week + timedelta(days=31)),
        }
        results = {}
        for label, kwargs in tqdm(shapes.items(), desc="indexed"):
            results[label] = [time_query(sessions, 15, **kwargs)]
        with engine.begin() as conn:
            for name in ("ix_appointments_clinician_time", "ix_appointments_client_time", "ix_appointments_room_time"):
                conn.execute(text(f"DROP INDEX {name}"))
        for label, kwargs in tqdm(shapes.items(), desc="no index"):
            results[label].append(time_query(sessions, 5, **kwargs))
        engine.dispose()
    write_report(results)


def write_report(results: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(results)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    y = range(len(labels))
    ax.barh([i + 0.2 for i in y], [results[k][0] * 1000 for k in labels], 0.4, label="with indexes")
    ax.barh([i - 0.2 for i in y], [results[k][1] * 1000 for k in labels], 0.4, label="without")
    ax.set_yticks(list(y), labels)
    ax.set_xscale("log")
    ax.set_xlabel("median time per search (ms, log scale)")
    ax.set_title(f"Availability search: {CLINICIANS} clinicians, {APPOINTMENTS:,} appointments (SQLite)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "figures" / "availability.png", dpi=120)
    lines = [
        "## Availability search",
        "",
        f"`python -m bench.availability` (`make bench`): {CLINICIANS} clinicians, {APPOINTMENTS:,} appointments over "
        "26 weeks, SQLite, one run on a 2-core machine. Each search shape is timed with the practice's indexes "
        "and then, in the same run on the same data, with the appointment indexes dropped.",
        "",
        "| search | with indexes (median) | without | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for k, (fast, slow) in results.items():
        lines.append(f"| {k} | {fast * 1000:.1f} ms | {slow * 1000:.1f} ms | {slow / fast:.0f}x |")
    lines += ["", "![availability benchmark](figures/availability.png)", ""]
    write_section("availability", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
