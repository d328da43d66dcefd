"""Reading another product's CSV export as Attune's import columns: pure translation, no database.

A mapping (``import_mappings/<name>.json``, or a file of the same shape) names, for each kind of file, which
header, or which ``{Header} {Other header}`` template, fills each Attune column; columns it does not name are
read under their Attune names. Dates and times are rewritten to ISO from the mapping's formats, blank cells are
dropped (the API's defaults apply), and ``values`` maps a product's labels (an appointment service code) to
Attune's. What comes out is validated by the same marshmallow schemas as the API.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path

KINDS = ("clinicians", "clients", "appointments")
TEMPLATE = re.compile(r"\{([^{}]+)\}")

# Attune's own columns, per kind: what the docs list and the rejected-rows file keeps.
COLUMNS = {
    "clinicians": ["external_id", "name", "email", "timezone", "working_hours", "accepting_new_clients",
                   "supervisor"],
    "clients": ["external_id", "legal_name", "preferred_name", "date_of_birth", "email", "phone",
                "preferred_channel", "timezone", "clinician", "consent_email", "consent_sms", "consent_given_on",
                "consent_evidence"],
    "appointments": ["external_id", "client", "clinician", "type", "starts_at", "date", "time", "ends_at", "minutes",
                     "room", "modality", "telehealth_url", "front_desk_note", "repeat", "interval", "count",
                     "until"],
}  # fmt: skip
DATE_COLUMNS = {"date_of_birth", "consent_given_on", "date", "until"}


class MappingError(ValueError):
    """The mapping file itself is wrong (not a row of the data)."""


@dataclass(frozen=True)
class Mapping:
    name: str
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    date_format: str = "%Y-%m-%d"
    time_format: str = "%H:%M"
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def load(cls, name_or_path: str) -> Mapping:
        """A shipped mapping by name (``attune``, ``simplepractice``) or a JSON file of the same shape."""
        path = Path(name_or_path)
        if path.suffix == ".json" and path.exists():
            text = path.read_text()
        else:
            shipped = resources.files("services.scheduling") / "import_mappings" / f"{name_or_path}.json"
            if not re.fullmatch(r"[a-z0-9_-]+", name_or_path) or not shipped.is_file():
                raise MappingError(f"no mapping {name_or_path!r}: use one of {', '.join(shipped_mappings())}")
            text = shipped.read_text()
        raw = json.loads(text)
        unknown = {
            f"{kind}.{col}" for kind in KINDS for col in raw.get(kind, {}) if col not in COLUMNS[kind]
        }  # a typo in a mapping would silently drop a column
        if unknown:
            raise MappingError(f"the mapping names columns Attune does not have: {', '.join(sorted(unknown))}")
        return cls(
            name=raw.get("name") or path.stem,
            columns={kind: dict(raw.get(kind, {})) for kind in KINDS},
            date_format=raw.get("date_format", "%Y-%m-%d"),
            time_format=raw.get("time_format", "%H:%M"),
            values=raw.get("values", {}),
            description=raw.get("description", ""),
        )

    def translate(self, kind: str, row: dict[str, str]) -> dict[str, str]:
        """One file row (header -> cell) as Attune's columns, blanks dropped; raises ValueError naming the column
        for a date or time that does not read in the mapping's format."""
        mapped = self.columns.get(kind, {})
        out: dict[str, str] = {}
        for column in COLUMNS[kind]:
            source = mapped.get(column)
            if source is None:
                value = row.get(column)
            elif TEMPLATE.search(source):
                value = TEMPLATE.sub(lambda m: (row.get(m.group(1)) or "").strip(), source)
                value = " ".join(value.split())
            else:
                value = row.get(source)
            value = (value or "").strip()
            if not value:
                continue
            value = self.values.get(column, {}).get(value, value)
            if column in DATE_COLUMNS:
                value = _iso_date(value, self.date_format, column)
            elif column == "time":
                value = _iso_time(value, self.time_format)
            out[column] = value
        return out


def shipped_mappings() -> list[str]:
    folder = resources.files("services.scheduling") / "import_mappings"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


class CellError(ValueError):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


def _iso_date(value: str, fmt: str, column: str) -> str:
    for candidate in (fmt, "%Y-%m-%d"):
        try:
            return datetime.strptime(value, candidate).date().isoformat()
        except ValueError:
            continue
    if column == "until":  # a series may end at a moment
        return value
    example = date(2026, 3, 31).strftime(fmt)
    raise CellError(column, f"Not a date: write it like {example}.")


def _iso_time(value: str, fmt: str) -> str:
    for candidate in (fmt, "%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p"):
        try:
            return datetime.strptime(value, candidate).strftime("%H:%M")
        except ValueError:
            continue
    raise CellError("time", f"Not a time of day: write it like {time(14, 30).strftime(fmt)}.")


def read_csv(data: bytes | str) -> tuple[list[str], list[dict[str, str]]]:
    """Headers and rows of a CSV export (UTF-8, with or without a byte-order mark; comma, semicolon or tab)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    rows = [{(k or "").strip(): (v or "") for k, v in row.items() if k is not None} for row in reader]
    return [h.strip() for h in (reader.fieldnames or [])], rows


def parse_working_hours(spec: str) -> dict:
    """``"mon-fri 09:00-12:30,13:30-18:00; sat 10:00-13:00"`` -> the working-hours mapping the API takes."""
    from services.scheduling.booking import WEEKDAYS

    hours: dict[str, list] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        days_part, _, blocks_part = part.partition(" ")
        days_part = days_part.lower()
        try:
            if "-" in days_part:
                first, last = days_part.split("-")
                days = WEEKDAYS[WEEKDAYS.index(first) : WEEKDAYS.index(last) + 1]
            else:
                days = tuple(d for d in days_part.split(",") if WEEKDAYS.index(d) >= 0)
        except ValueError:
            raise CellError("working_hours", f"{days_part!r}: days are mon, tue, ... sun, or a range mon-fri") from None
        blocks = [block.strip().split("-") for block in blocks_part.split(",") if block.strip()]
        if not blocks or any(len(b) != 2 for b in blocks):
            raise CellError("working_hours", f"{part!r}: give hours like 09:00-12:30,13:30-18:00")
        for day in days:
            hours.setdefault(day, []).extend(blocks)
    return hours


def modality(value: str) -> str:
    """A product's location label (``Video Office``, ``Telehealth``, ``In person``) as Attune's modality."""
    lowered = value.lower()
    if lowered in ("in_person", "telehealth"):
        return lowered
    return "telehealth" if any(w in lowered for w in ("video", "tele", "online", "remote")) else "in_person"
