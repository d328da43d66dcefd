"""CSV files for import tests, written as a spreadsheet would save them."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.db import utcnow

LONDON = ZoneInfo("Europe/London")


def write_csv(path, rows: list[dict]) -> str:
    headers = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, headers)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def next_monday() -> datetime:
    today = utcnow().astimezone(LONDON).date()
    return datetime.combine(today + timedelta(days=(7 - today.weekday()) or 7), datetime.min.time(), LONDON)
