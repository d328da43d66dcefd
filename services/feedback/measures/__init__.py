"""Measure definitions: declarative JSON files validated at load, so a practice can add or load licensed ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from shared.statuses import Severity

HERE = Path(__file__).resolve().parent


class _Option(Schema):
    value = fields.Integer(required=True)
    label = fields.String(required=True)
    loinc = fields.String(load_default=None)


class _Item(Schema):
    id = fields.String(required=True)
    text = fields.String(required=True)
    loinc = fields.String(load_default=None)
    options = fields.List(fields.Nested(_Option), load_default=None)
    required = fields.Boolean(load_default=True)


class _Band(Schema):
    min = fields.Integer(required=True)
    max = fields.Integer(required=True)
    label = fields.String(required=True)


class _RiskItem(Schema):
    item = fields.String(required=True)
    threshold = fields.Integer(required=True)
    severity = fields.String(required=True, validate=validate.OneOf([Severity.HIGH, Severity.URGENT]))
    # What the thank-you page tells a client who answered it (plain words; none for a licensed item's text)
    statement = fields.String(load_default=None, allow_none=True)


class _Definition(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]+$"))
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    title = fields.String(required=True)
    instructions = fields.String(required=True)
    options = fields.List(fields.Nested(_Option), required=True, validate=validate.Length(min=2))
    items = fields.List(fields.Nested(_Item), required=True, validate=validate.Length(min=1))
    extra_items = fields.List(fields.Nested(_Item), load_default=list)
    reverse_items = fields.List(fields.String(), load_default=list)
    direction = fields.String(required=True, validate=validate.OneOf(["higher_is_worse", "higher_is_better"]))
    range = fields.List(fields.Integer(), required=True, validate=validate.Length(equal=2))
    bands = fields.List(fields.Nested(_Band), load_default=list)
    clinical_cutoff = fields.Float(load_default=None, allow_none=True)
    reliable_change = fields.Dict(load_default=None, allow_none=True)  # None: no published value (e.g. SRS)
    risk_items = fields.List(fields.Nested(_RiskItem), load_default=list)
    missing = fields.Dict(load_default=lambda: {"prorate_max_missing": 0})
    loinc = fields.Dict(load_default=dict)
    licence = fields.String(required=True)
    sources = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    # The published default expected course (see trajectories.py): {"model": "quadratic_weeks", b0, b1, b2,
    # citation, source, derivation}, or {"model": "none", "source": why there is none}.
    expected_course = fields.Dict(load_default=None, allow_none=True)
    alliance = fields.Dict(load_default=None, allow_none=True)  # e.g. {"cutoff": 36}: an alliance measure
    crisis_text = fields.String(load_default=None, allow_none=True)  # overrides the practice's after a risk answer
    # A plateau alert: this many questionnaires in the episode without reliable change (a measure given weekly
    # and one given monthly should not wait the same number of questionnaires).
    plateau_after = fields.Integer(load_default=6, validate=validate.Range(min=2, max=52))

    @validates_schema
    def _consistent(self, data, **_):
        ids = [i["id"] for i in data["items"]]
        if len(set(ids)) != len(ids):
            raise ValidationError("Item ids must be unique.", "items")
        for name in data["reverse_items"]:
            if name not in ids:
                raise ValidationError(f"Unknown item {name}.", "reverse_items")
        for risk in data["risk_items"]:
            if risk["item"] not in ids:
                raise ValidationError(f"Unknown item {risk['item']}.", "risk_items")
        lo, hi = data["range"]
        if data["bands"]:
            edges = sorted((b["min"], b["max"]) for b in data["bands"])
            if (
                edges[0][0] != lo
                or edges[-1][1] != hi
                or any(nxt[0] != prev[1] + 1 for prev, nxt in zip(edges, edges[1:], strict=False))
            ):
                raise ValidationError("Bands must cover the range without gaps or overlaps.", "bands")
        rc = data["reliable_change"]
        if rc is not None and "points" not in rc and not {"sd", "reliability"} <= set(rc):
            raise ValidationError("Give points, or sd and reliability.", "reliable_change")
        course = data.get("expected_course")
        if course is not None:
            needs = {"quadratic_weeks": {"b0", "b1", "b2", "citation", "source", "derivation"}, "none": {"source"}}
            model = course.get("model")
            if model not in needs:
                raise ValidationError("model is quadratic_weeks or none.", "expected_course")
            if not needs[model] <= set(course):
                raise ValidationError(f"Give {', '.join(sorted(needs[model]))}.", "expected_course")

    @post_load
    def _make(self, data, **_):
        return Measure(**data)


@dataclass(frozen=True)
class Measure:
    id: str
    version: int
    name: str
    title: str
    instructions: str
    options: list
    items: list
    extra_items: list
    reverse_items: list
    direction: str
    range: list
    bands: list
    clinical_cutoff: float | None
    reliable_change: dict
    risk_items: list
    missing: dict
    loinc: dict
    licence: str
    sources: list
    expected_course: dict | None = None
    alliance: dict | None = None
    crisis_text: str | None = None
    plateau_after: int = 6

    @property
    def higher_is_worse(self) -> bool:
        return self.direction == "higher_is_worse"

    @property
    def option_values(self) -> list[int]:
        return [o["value"] for o in self.options]

    def options_for(self, item: dict) -> list[dict]:
        return item.get("options") or self.options


def load_definition(doc: dict) -> Measure:
    return _Definition().load(doc)


_extra_dir: str | None = None


def use_extra_dir(extra_dir: str | None) -> None:
    """Also load the definitions in ``extra_dir`` (``FeedbackSettings.measures_dir``); set by the app factory
    and the worker's bootstrap, once per process."""
    global _extra_dir
    _extra_dir = extra_dir


def catalog() -> dict[str, Measure]:
    """The shipped measures plus any a practice dropped in the extra folder (e.g. licensed ORS/SRS wording)."""
    return _load(_extra_dir)


@cache
def _load(extra_dir: str | None) -> dict[str, Measure]:
    paths = sorted(HERE.glob("*.json"))
    if extra_dir:
        paths += sorted(Path(extra_dir).glob("*.json"))
    measures = {}
    for path in paths:
        measure = load_definition(json.loads(path.read_text()))
        measures[measure.id] = measure
    return measures


def get(measure_id: str) -> Measure:
    return catalog()[measure_id]
