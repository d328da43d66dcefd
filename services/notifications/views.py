"""Notifications' web side: unsubscribe links, the delivery log (API and admin page).

The log shows who was sent what kind of message, when, and how it went: never a message's content, and
never the context kept for a pending message (it can hold a questionnaire link).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from services.notifications.models import Contact, Delivery
from services.notifications.scheduled import NON_ESSENTIAL
from shared import links
from shared.auth import require
from shared.web import runtime_of

pages = Blueprint("pages", __name__, template_folder="templates")
api = ApiBlueprint("deliveries", __name__, url_prefix="/api", description="The delivery log")
LOG_ROLES = ("frontdesk", "admin")


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
    status = fields.String(
        load_default=None, validate=validate.OneOf(["pending", "sending", "sent", "failed", "cancelled"])
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
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


def query_log(args: dict) -> dict:
    stmt = select(Delivery)
    if args.get("recipient_id"):
        stmt = stmt.where(Delivery.recipient_id == args["recipient_id"])
    if args.get("status"):
        stmt = stmt.where(Delivery.status == args["status"])
    with runtime_of(current_app).sessions() as session:
        total = session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = session.scalars(
            stmt.order_by(Delivery.created_at.desc())
            .limit(args["page_size"])
            .offset((args["page"] - 1) * args["page_size"])
        ).all()
    return {"items": rows, "total": total, "page": args["page"], "page_size": args["page_size"]}


@api.route("/deliveries")
class Deliveries(MethodView):
    decorators = [require(*LOG_ROLES)]

    @api.arguments(DeliveryQuery, location="query")
    @api.response(200, DeliveryPage)
    def get(self, args):
        """The delivery log, newest first: status, attempts and last error per message (no content)."""
        return query_log(args)


@pages.get("/admin/deliveries")
@require(*LOG_ROLES)
def admin_deliveries():
    args = DeliveryQuery().load({k: v for k, v in request.args.items() if v})
    return render_template("pages/deliveries.html", log=query_log(args), args=args)


@pages.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    claim = links.verify("unsubscribe", token, 365 * 24 * 3600)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if claim is None:
        return render_template("pages/unsubscribe.html", state="invalid"), 404, headers
    if request.method == "GET":
        return render_template("pages/unsubscribe.html", state="ask"), 200, headers
    with runtime_of(current_app).sessions() as session, session.begin():
        contact = session.get(Contact, claim["c"])
        if contact is not None:
            contact.opted_out = True
            for delivery in session.scalars(
                select(Delivery).where(
                    Delivery.recipient_id == contact.id,
                    Delivery.status == "pending",
                    Delivery.template.in_(NON_ESSENTIAL),
                )
            ):
                delivery.status, delivery.last_error = "cancelled", "unsubscribed"
    return render_template("pages/unsubscribe.html", state="done"), 200, headers
