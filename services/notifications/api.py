"""Notifications' JSON API (flask-smorest, OpenAPI): the delivery log."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from services.notifications import queries
from services.notifications.schemas import DeliveryPage, DeliveryQuery
from shared.unit_of_work import session, unit_of_work

blp = Blueprint("deliveries", __name__, url_prefix="/api", description="The delivery log")


@blp.route("/deliveries")
class Deliveries(MethodView):
    decorators = [unit_of_work]

    @blp.arguments(DeliveryQuery, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args):
        """The delivery log, newest first: status, attempts and last error per message (no content)."""
        return queries.delivery_log(session(), args)
