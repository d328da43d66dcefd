"""Scheduling's REST API (flask-smorest): clinicians, clients, rooms, types and the appointment lifecycle."""

from __future__ import annotations

import functools
from datetime import timedelta

from flask import current_app, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import func, select

from services.scheduling import appointments as appts
from services.scheduling import directory, series
from services.scheduling import schemas as s
from services.scheduling.booking import RuleViolation
from services.scheduling.models import (
    Appointment,
    AppointmentType,
    Client,
    Clinician,
    ConsentChange,
    DeliveryProblem,
    Room,
    TimeOff,
)
from services.scheduling.queries import (
    as_seen_by,
    clinicians_seen_by,
    find_availability,
    matching_clients,
    visible_client,
)
from services.scheduling.recurrence import Rule
from shared.db import utcnow
from shared.errors import Forbidden
from shared.unit_of_work import session, unit_of_work
from shared.web import settings_of

blp = Blueprint("scheduling", __name__, url_prefix="/api", description="Front-desk scheduling")


def _by() -> str:
    return g.principal.subject


def _page(stmt, args, order_by):
    total = session().scalar(select(func.count()).select_from(stmt.subquery()))
    rows = (
        session()
        .scalars(stmt.order_by(*order_by).limit(args["page_size"]).offset((args["page"] - 1) * args["page_size"]))
        .all()
    )
    return {"items": rows, "page": args["page"], "page_size": args["page_size"], "total": total}


def _if_match() -> int | None:
    raw = request.headers.get("If-Match")
    if not raw:
        return None
    try:
        return int(raw.strip().strip("W/").strip('"').lstrip("v"))
    except ValueError:
        return -1  # matches no version: 412


def _etag(appt: Appointment) -> dict:
    return {"ETag": f'"v{appt.version}"'}


# -- clinicians ----------------------------------------------------------------------------------------------


@blp.route("/clinicians")
class Clinicians(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.ClinicianOut(many=True))
    def get(self):
        return session().scalars(select(Clinician).order_by(Clinician.name)).all()

    @blp.arguments(s.ClinicianIn)
    @blp.response(201, s.ClinicianOut)
    def post(self, data):
        clinician = directory.register_clinician(session(), data)
        return clinician, 201, {"Location": url_for("scheduling.ClinicianById", clinician_id=clinician.id)}


@blp.route("/clinicians/<clinician_id>")
class ClinicianById(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.ClinicianOut)
    def get(self, clinician_id):
        return directory.get_or_404(session(), Clinician, clinician_id)

    @blp.arguments(s.ClinicianPatch)
    @blp.response(200, s.ClinicianOut)
    def patch(self, changes, clinician_id):
        clinician = directory.get_or_404(session(), Clinician, clinician_id, lock=True)
        return directory.update_clinician(session(), clinician, changes)


@blp.route("/clinicians/<clinician_id>/time-off")
class ClinicianTimeOff(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.TimeOffOut(many=True))
    def get(self, clinician_id):
        directory.get_or_404(session(), Clinician, clinician_id)
        return (
            session()
            .scalars(select(TimeOff).where(TimeOff.clinician_id == clinician_id).order_by(TimeOff.starts_at))
            .all()
        )

    @blp.arguments(s.TimeOffIn)
    @blp.response(201, s.TimeOffOut)
    def post(self, data, clinician_id):
        directory.get_or_404(session(), Clinician, clinician_id)
        block = TimeOff(clinician_id=clinician_id, **data)
        session().add(block)
        session().flush()
        return block


@blp.route("/clinicians/<clinician_id>/calendar-token")
class CalendarToken(MethodView):
    decorators = [unit_of_work]

    @blp.response(201, s.Schema.from_dict({"feed_url": s.fields.String()}, name="CalendarFeed"))
    def post(self, clinician_id):
        """Issue a new secret iCalendar feed URL for the clinician (the previous one stops working)."""
        clinician = directory.get_or_404(session(), Clinician, clinician_id, lock=True)
        if g.principal.role == "clinician" and g.principal.clinician_id != clinician_id:
            raise Forbidden("A clinician may only issue their own calendar feed.")
        token = directory.new_calendar_token(clinician)
        return {"feed_url": url_for("calendar.feed", token=token, _external=True)}


# -- clients -------------------------------------------------------------------------------------------------


@blp.route("/clients")
class Clients(MethodView):
    decorators = [unit_of_work]

    @blp.arguments(s.ClientQuery, location="query")
    @blp.response(200, s.page_of(s.ClientOut))
    def get(self, args):
        stmt = select(Client)
        seen = clinicians_seen_by(session(), g.principal)
        if seen is not None:
            stmt = stmt.where(Client.clinician_id.in_(seen))
        if args["q"]:
            stmt = matching_clients(stmt, args["q"])
        if args["clinician_id"]:
            stmt = stmt.where(Client.clinician_id == args["clinician_id"])
        if args["status"]:
            stmt = stmt.where(Client.status == args["status"])
        return _page(stmt, args, [Client.legal_name, Client.id])

    @blp.arguments(s.ClientIn)
    @blp.response(201, s.ClientOut)
    def post(self, data):
        client = directory.register_client(session(), data, utcnow(), by=g.principal.subject)
        g.audit_client_id = client.id
        return client, 201, {"Location": url_for("scheduling.ClientById", client_id=client.id)}


@blp.route("/clients/<client_id>")
class ClientById(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.ClientOut)
    def get(self, client_id):
        return visible_client(session(), g.principal, client_id)

    @blp.arguments(s.ClientPatch)
    @blp.response(200, s.ClientOut)
    def patch(self, changes, client_id):
        client = directory.get_or_404(session(), Client, client_id, lock=True)
        if errors := directory.text_message_errors(client, changes):
            abort(422, message="Text messages need a mobile number.", errors=errors)
        if errors := directory.consent_regrant_errors(client, changes):
            abort(422, message="Consent was withdrawn before.", errors=errors)
        return directory.update_client(
            session(), client, changes, utcnow(), by=g.principal.subject, how="changed through the API"
        )


@blp.route("/clients/<client_id>/discharge", methods=["POST"])
@unit_of_work
@blp.response(200, s.ClientOut)
def discharge(client_id):
    client = visible_client(session(), g.principal, client_id, lock=True)
    return directory.discharge_client(session(), client, utcnow())


@blp.route("/clients/<client_id>/consent")
@unit_of_work
@blp.response(200, s.ConsentChangeOut(many=True))
def consent_trail(client_id):
    """Every change to what the client agreed to receive, oldest first: who, how the client said so, why."""
    directory.get_or_404(session(), Client, client_id)
    return (
        session()
        .scalars(
            select(ConsentChange)
            .where(ConsentChange.client_id == client_id)
            .order_by(ConsentChange.at, ConsentChange.id)
        )
        .all()
    )


@blp.route("/clients/<client_id>/reminders/resume", methods=["POST"])
@unit_of_work
@blp.arguments(s.ResumeRemindersIn)
@blp.response(200, s.ConsentChangeOut)
def resume_reminders(data, client_id):
    """Turn appointment reminders back on after the client unsubscribed: only with how the client confirmed it
    and a reason, both kept on the consent trail. 422 if the client has not unsubscribed."""
    client = directory.get_or_404(session(), Client, client_id, lock=True)
    g.audit_client_id = client.id
    return directory.resume_reminders(
        session(), client, by=g.principal.subject, confirmed=data["confirmed"], reason=data["reason"], now=utcnow()
    )


@blp.route("/delivery-problems")
class DeliveryProblems(MethodView):
    decorators = [unit_of_work]

    @blp.arguments(
        s.Schema.from_dict(
            {"client_id": s.fields.String(load_default=None), "open": s.fields.Boolean(load_default=True)},
            name="ProblemQuery",
        ),
        location="query",
    )
    @blp.response(200, s.DeliveryProblemOut(many=True))
    def get(self, args):
        """Messages to clients that could not be delivered (newest first)."""
        stmt = select(DeliveryProblem).order_by(DeliveryProblem.failed_at.desc())
        if args["client_id"]:
            stmt = stmt.where(DeliveryProblem.client_id == args["client_id"])
        if args["open"]:
            stmt = stmt.where(DeliveryProblem.resolved_at.is_(None))
        return session().scalars(stmt.limit(500)).all()


@blp.route("/delivery-problems/<problem_id>/resolve", methods=["POST"])
@unit_of_work
@blp.arguments(s.ResolveProblemIn)
@blp.response(200, s.DeliveryProblemOut)
def resolve_delivery_problem(data, problem_id):
    """Mark a delivery problem dealt with (the address corrected, the client phoned), with a note."""
    return directory.resolve_delivery_problem(session(), problem_id, g.principal.subject, data["note"], utcnow())


# -- rooms and appointment types ----------------------------------------------------------------------------


@blp.route("/rooms")
class Rooms(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.RoomOut(many=True))
    def get(self):
        return session().scalars(select(Room).order_by(Room.name)).all()

    @blp.arguments(s.RoomIn)
    @blp.response(201, s.RoomOut)
    def post(self, data):
        if session().scalar(select(Room.id).where(Room.name == data["name"])):
            raise RuleViolation(f"A room named {data['name']!r} already exists.")
        room = Room(**data)
        session().add(room)
        session().flush()
        return room


@blp.route("/appointment-types")
class AppointmentTypes(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.AppointmentTypeIn(many=True))
    def get(self):
        return session().scalars(select(AppointmentType).order_by(AppointmentType.minutes)).all()

    @blp.arguments(s.AppointmentTypeIn)
    @blp.response(201, s.AppointmentTypeIn)
    def post(self, data):
        if session().get(AppointmentType, data["id"]):
            raise RuleViolation(f"An appointment type {data['id']!r} already exists.")
        appt_type = AppointmentType(**data)
        session().add(appt_type)
        return appt_type


# -- appointments --------------------------------------------------------------------------------------------


@blp.route("/appointments")
class Appointments(MethodView):
    decorators = [unit_of_work]

    @blp.arguments(s.AppointmentQuery, location="query")
    @blp.response(200, s.page_of(s.AppointmentOut))
    def get(self, args):
        stmt = select(Appointment)
        for field in ("clinician_id", "client_id", "status"):
            if args[field]:
                stmt = stmt.where(getattr(Appointment, field) == args[field])
        if args["start"]:
            stmt = stmt.where(Appointment.ends_at > args["start"])
        if args["end"]:
            stmt = stmt.where(Appointment.starts_at < args["end"])
        found = _page(stmt, args, [Appointment.starts_at, Appointment.id])
        return {**found, "items": as_seen_by(found["items"], clinicians_seen_by(session(), g.principal))}

    @blp.arguments(s.AppointmentIn)
    @blp.response(201, s.AppointmentOut)
    def post(self, data):
        appt = appts.book(session(), appts.BookingRequest(**data), utcnow(), by=_by(), link_key=_link_key())
        headers = {"Location": url_for("scheduling.AppointmentById", appointment_id=appt.id), **_etag(appt)}
        return appt, 201, headers


@blp.route("/appointments/<appointment_id>")
class AppointmentById(MethodView):
    decorators = [unit_of_work]

    @blp.response(200, s.AppointmentOut)
    def get(self, appointment_id):
        appt = directory.get_or_404(session(), Appointment, appointment_id)
        return as_seen_by([appt], clinicians_seen_by(session(), g.principal))[0], 200, _etag(appt)


def calendar_change(rule: str, body=None, response=s.AppointmentOut, status: int = 200):
    """A POST that changes the calendar: one unit of work (``Idempotency-Key`` honoured); who may is in
    ``policy.py`` (the front desk and admins)."""

    def decorator(view):
        @functools.wraps(view)
        def desk_only(*args, **kwargs):
            return view(*args, **kwargs)

        documented = blp.response(status, response)(desk_only)
        if body is not None:
            documented = blp.arguments(body)(documented)
        return blp.route(rule, methods=["POST"])(unit_of_work(documented))

    return decorator


def _link_key() -> str:
    return settings_of(current_app).link_key


def _late_window() -> timedelta:
    return timedelta(hours=settings_of(current_app).late_cancel_hours)


def _changed(appt: Appointment):
    return appt, 200, _etag(appt)


@calendar_change("/appointments/<appointment_id>/reschedule", s.RescheduleIn)
def reschedule_appointment(data, appointment_id):
    """Move an appointment (If-Match honoured)."""
    return _changed(
        appts.reschedule(
            session(),
            appointment_id,
            data["starts_at"],
            data["ends_at"],
            utcnow(),
            by=_by(),
            room_id=data["room_id"],
            override_reason=data["override_reason"],
            expected_version=_if_match(),
            link_key=_link_key(),
        )
    )


@calendar_change("/appointments/<appointment_id>/video-link", s.VideoLinkIn)
def change_video_link(data, appointment_id):
    """Give a booked appointment a new video link (If-Match honoured): the client is sent the change, with an
    updated calendar entry."""
    return _changed(
        appts.change_video_link(
            session(),
            appointment_id,
            data["telehealth_url"],
            utcnow(),
            link_key=_link_key(),
            by=_by(),
            expected_version=_if_match(),
        )
    )


@calendar_change("/appointments/<appointment_id>/cancel", s.CancelIn)
def cancel_appointment(data, appointment_id):
    """Cancel an appointment; inside the late-cancel window it is recorded as a late cancellation."""
    return _changed(
        appts.cancel(
            session(),
            appointment_id,
            utcnow(),
            cancelled_by=data["cancelled_by"],
            reason=data["reason"],
            late_window=_late_window(),
            by=_by(),
            expected_version=_if_match(),
        )
    )


# Lifecycle steps that take no body: the URL names each one, so a search for the route finds it here.
STEPS = {"check-in": appts.check_in, "no-show": appts.mark_no_show, "complete": appts.complete}


@calendar_change('/appointments/<appointment_id>/<any("check-in", "no-show", "complete"):step>')
def appointment_step(appointment_id, step):
    """Check in (the client has arrived), mark a no-show, or complete (the session took place: emits
    ``session.completed``, which starts the questionnaire flow). If-Match honoured."""
    return _changed(STEPS[step](session(), appointment_id, utcnow(), by=_by(), expected_version=_if_match()))


# -- recurring series ----------------------------------------------------------------------------------------


def _series_request(data: dict) -> tuple[appts.BookingRequest, Rule]:
    rule = Rule(**data.pop("rule"))
    data.pop("on_conflict", None)
    return appts.BookingRequest(**data), rule


@blp.route("/series/preview", methods=["POST"])
@unit_of_work
@blp.arguments(s.SeriesIn)
@blp.response(200, s.OccurrenceOut(many=True))
def preview_series(data):
    """Every occurrence of a proposed series and whether it can be booked (nothing is written)."""
    req, rule = _series_request(dict(data))
    return [c.as_dict() for c in series.check_occurrences(session(), req, rule)]


@calendar_change("/series", s.SeriesIn, response=s.SeriesOut, status=201)
def book_series(data):
    """Book a recurring series; conflicts are reported per occurrence (409 with `occurrences` when nothing
    was booked)."""
    on_conflict = data["on_conflict"]
    req, rule = _series_request(dict(data))
    created, booked, skipped = series.book_series(
        session(), req, rule, utcnow(), on_conflict=on_conflict, by=_by(), link_key=_link_key()
    )
    return {"series_id": created.id, "booked": booked, "skipped": [c.as_dict() for c in skipped]}


@calendar_change(
    "/appointments/<appointment_id>/series/reschedule", s.SeriesRescheduleIn, response=s.AppointmentOut(many=True)
)
def reschedule_in_series(data, appointment_id):
    """Move this occurrence, this and the following ones, or all future ones (local time kept across DST)."""
    return series.reschedule_series(
        session(),
        appointment_id,
        data["scope"],
        data["starts_at"],
        data["ends_at"],
        utcnow(),
        override_reason=data["override_reason"],
        by=_by(),
        expected_version=_if_match(),
        link_key=_link_key(),
    )


@calendar_change("/appointments/<appointment_id>/series/cancel", s.SeriesCancelIn, response=s.AppointmentOut(many=True))
def cancel_in_series(data, appointment_id):
    """Cancel this occurrence, this and the following ones, or all future ones."""
    return series.cancel_series(
        session(),
        appointment_id,
        data["scope"],
        utcnow(),
        cancelled_by=data["cancelled_by"],
        reason=data["reason"],
        late_window=_late_window(),
        by=_by(),
        expected_version=_if_match(),
    )


@blp.route("/availability")
@unit_of_work
@blp.arguments(s.AvailabilityQuery, location="query")
@blp.response(200, s.AvailabilityOut(many=True))
def availability(args):
    """Free slots of a type's length for one or more clinicians (and a room), honouring working hours, time
    off and existing appointments; at most 31 days per search."""
    found = find_availability(
        session(),
        clinician_ids=args["clinician_id"],
        type_id=args["type_id"],
        start=args["start"],
        end=args["end"],
        room_id=args["room_id"],
        step_minutes=args["step_minutes"],
        now=utcnow(),
    )
    return [{"clinician_id": cid, "slots": slots} for cid, slots in found.items()]
