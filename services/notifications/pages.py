"""Notifications' staff pages: the delivery log for admins and the front desk."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from services.notifications import queries
from services.notifications.schemas import DeliveryQuery
from shared.unit_of_work import transaction

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.get("/admin/deliveries")
def admin_deliveries():
    args = DeliveryQuery().load({k: v for k, v in request.args.items() if v})
    with transaction() as session:
        log, fault = queries.delivery_log(session, args), queries.operational_fault(session)
        return render_template("pages/deliveries.html", log=log, args=args, fault=fault)
