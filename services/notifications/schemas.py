"""Marshmallow schemas of notifications' JSON API (the OpenAPI document is generated from them)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.statuses import DeliveryStatus


class DeliveryOut(Schema):
    id = fields.String()
    template = fields.String()
    recipient_kind = fields.String()
    recipient_id = fields.String()
    to_address = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    due_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    possible_duplicate = fields.Boolean()


class DeliveryQuery(Schema):
    recipient_id = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(list(DeliveryStatus)))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


DeliveryPage = Schema.from_dict(
    {
        "items": fields.List(fields.Nested(DeliveryOut)),
        "total": fields.Integer(),
        "page": fields.Integer(),
        "page_size": fields.Integer(),
    },
    name="DeliveryPage",
)
