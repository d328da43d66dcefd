"""Front-desk pages: calendars, clients, booking and the appointment lifecycle. Server-rendered, no build step,
plain forms (so the keyboard and the back button just work). They call the same rules as the API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from services.scheduling import appointments as appts
from services.scheduling import directory, series
from services.scheduling.booking import RuleViolation
from services.scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentType,
    Client,
    Clinician,
    DeliveryProblem,
    Room,
)
from services.scheduling.queries import calendar_rows, client_record, matching_clients, needing_a_call
from services.scheduling.recurrence import RecurrenceError, Rule
from services.scheduling.schemas import VideoLinkIn
from shared.db import utcnow
from shared.statuses import AppointmentStatus, ClientStatus
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint("desk", __name__, template_folder="templates", static_folder="static", static_url_path="/desk/static")


def _tz() -> ZoneInfo:
    return ZoneInfo(settings_of(current_app).practice_timezone)


def _link_key() -> str:
    return settings_of(current_app).link_key


def _video_link(form) -> str | None:
    """The form's video link, checked as the API checks it (https only); empty means none."""
    url = (form.get("telehealth_url") or "").strip()
    if not url:
        return None
    errors = VideoLinkIn().validate({"telehealth_url": url})
    if errors:
        raise ValueError("The video link must be a full https:// address.")
    return url


def _local(dt: datetime) -> datetime:
    return dt.astimezone(_tz())


def _parse_local(day: str, clock: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), _tz())


def _day_param() -> date:
    try:
        return date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return utcnow().astimezone(_tz()).date()


@bp.app_template_filter("local")
def local_filter(dt: datetime | str, fmt: str = "%H:%M") -> str:
    """A time in the practice's time zone (an aware datetime, or an ISO string as reports carry them)."""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    return _local(dt).strftime(fmt) if dt else ""


@bp.get("/")
def home():
    return redirect(url_for("desk.day"))


@bp.get("/desk/day")
def day():
    """One day, a column per clinician (or one clinician's); today's arrivals to check in; who needs a call."""
    the_day = _day_param()
    start = datetime.combine(the_day, time(0), _tz())
    chosen = request.args.get("clinician_id") or None
    now = utcnow()
    with transaction() as session:
        active = session.scalars(select(Clinician).where(Clinician.active.is_(True)).order_by(Clinician.name)).all()
        rows = calendar_rows(session, start, start + timedelta(days=1), chosen)
        calls = needing_a_call(session, now)
    clinicians = [c for c in active if c.id == chosen] if chosen else active
    by_clinician = {c.id: [] for c in clinicians}
    for row in rows:
        by_clinician.setdefault(row[0].clinician_id, []).append(row)
    is_today = the_day == now.astimezone(_tz()).date()
    # still to arrive: booked and not yet over (after its end it is completed or a no-show, not a check-in)
    arrivals = [r for r in rows if r[0].status == AppointmentStatus.BOOKED and r[0].ends_at > now] if is_today else []
    return render_template(
        "desk/day.html",
        day=the_day,
        clinicians=clinicians,
        all_clinicians=active,
        chosen=chosen,
        by_clinician=by_clinician,
        arrivals=arrivals,
        calls=calls,
        prev=the_day - timedelta(days=1),
        next=the_day + timedelta(days=1),
    )


@bp.get("/desk/week")
def week():
    the_day = _day_param()
    monday = the_day - timedelta(days=the_day.weekday())
    start = datetime.combine(monday, time(0), _tz())
    chosen = request.args.get("clinician_id") or None  # none: the whole practice
    room = request.args.get("room_id") or None
    with transaction() as session:
        clinicians = session.scalars(select(Clinician).order_by(Clinician.name)).all()
        rooms = session.scalars(select(Room).where(Room.active.is_(True)).order_by(Room.name)).all()
        rows = calendar_rows(session, start, start + timedelta(days=7), chosen, room)
    days = [monday + timedelta(days=i) for i in range(7)]
    by_day = {d: [r for r in rows if _local(r[0].starts_at).date() == d] for d in days}
    return render_template(
        "desk/week.html",
        days=days,
        by_day=by_day,
        clinicians=clinicians,
        rooms=rooms,
        chosen=chosen,
        room=room,
        prev=monday - timedelta(days=7),
        next=monday + timedelta(days=7),
    )


@bp.route("/desk/clients", methods=["GET", "POST"])
def clients():
    q = request.args.get("q", "").strip()
    errors = {}
    if request.method == "POST":
        form = request.form
        data = {
            "legal_name": form.get("legal_name", "").strip(),
            "preferred_name": form.get("preferred_name", "").strip() or None,
            "email": form.get("email", "").strip() or None,
            "phone": form.get("phone", "").strip() or None,
            "date_of_birth": form.get("date_of_birth") or None,
            "preferred_channel": form.get("preferred_channel") or "email",
            "clinician_id": form.get("clinician_id") or None,
            "consent_email": form.get("consent_email") == "on",
            "consent_sms": form.get("consent_sms") == "on",
            "timezone": settings_of(current_app).practice_timezone,
        }
        from services.scheduling.schemas import ClientIn

        errors = ClientIn().validate(data)
        if not errors:
            try:
                with transaction() as session:
                    client = directory.register_client(session, ClientIn().load(data), utcnow(), by=g.principal.subject)
                flash("The client is registered.", "ok")  # no names in the (signed, readable) cookie
                return redirect(url_for("desk.book", client_id=client.id), code=303)
            except RuleViolation as exc:
                errors = {"clinician_id": [str(exc)]}
    with transaction() as session:
        stmt = select(Client).order_by(Client.legal_name).limit(50)
        if q:
            stmt = matching_clients(stmt, q)
        found = session.scalars(stmt).all()
        clinicians = session.scalars(select(Clinician).where(Clinician.active.is_(True)).order_by(Clinician.name)).all()
    status = 422 if errors else 200
    return render_template(
        "desk/clients.html", q=q, found=found, clinicians=clinicians, errors=errors, form=request.form
    ), status


@bp.route("/desk/clients/<client_id>", methods=["GET", "POST"])
def client(client_id):
    """One client for the front desk: details and consent (editable, with its trail), episodes, upcoming and
    past appointments, questionnaires, the message log, and messages that could not be delivered, each of which
    can be marked resolved."""
    from services.scheduling.schemas import ClientPatch

    errors = {}
    if request.method == "POST":
        form = request.form
        data = {
            "legal_name": form.get("legal_name", "").strip(),
            "preferred_name": form.get("preferred_name", "").strip(),
            "email": form.get("email", "").strip() or None,
            "phone": form.get("phone", "").strip() or None,
            "date_of_birth": form.get("date_of_birth") or None,
            "preferred_channel": form.get("preferred_channel") or "email",
            "consent_email": form.get("consent_email") == "on",
            "consent_sms": form.get("consent_sms") == "on",
        }
        extra = {k: form[k].strip() for k in ("consent_confirmed", "consent_reason") if form.get(k, "").strip()}
        errors = ClientPatch().validate({**data, **extra})
        if not errors and data["consent_email"] and not data["email"]:
            errors = {"consent_email": ["Consent to email needs an email address."]}
        if not errors:
            with transaction() as session:
                found = directory.get_or_404(session, Client, client_id)
                changes = {k: v for k, v in ClientPatch().load(data).items() if getattr(found, k) != v}
                errors = directory.text_message_errors(found, changes) or directory.consent_regrant_errors(
                    found, {**changes, **extra}
                )
                if changes and not errors:
                    directory.update_client(
                        session,
                        found,
                        {**changes, **extra},
                        utcnow(),
                        by=g.principal.subject,
                        how="changed at the desk",
                    )
            if not errors:
                flash("Saved." if changes else "Nothing changed.", "ok")
                return redirect(url_for("desk.client", client_id=client_id), code=303)
    now = utcnow()
    with transaction() as session:
        found = directory.get_or_404(session, Client, client_id)
        page = client_record(session, found, now)
        clinician = session.get(Clinician, found.clinician_id) if found.clinician_id else None
    return render_template(
        "desk/client.html", c=found, clinician=clinician, errors=errors, form=request.form, **page
    ), (422 if errors else 200)


@bp.post("/desk/clients/<client_id>/reminders")
def resume_reminders(client_id):
    """Turn reminders back on after an unsubscribe: the form asks how the client confirmed it and why."""
    try:
        with transaction() as session:
            found = directory.get_or_404(session, Client, client_id)
            directory.resume_reminders(
                session,
                found,
                by=g.principal.subject,
                confirmed=request.form.get("confirmed", ""),
                reason=request.form.get("reason", ""),
                now=utcnow(),
            )
        flash("Reminders are back on; the consent trail records why.", "ok")
    except RuleViolation as exc:
        flash(str(exc), "error")
    return redirect(url_for("desk.client", client_id=client_id), code=303)


@bp.post("/desk/delivery-problems/<problem_id>/resolve")
def resolve_problem(problem_id):
    note = request.form.get("note", "").strip()
    with transaction() as session:
        problem = session.get(DeliveryProblem, problem_id)
        if problem is None:
            abort(404)
        if len(note) < 3:
            flash("Say what was done (a few words), then mark it resolved.", "error")
        else:
            directory.resolve_delivery_problem(session, problem_id, g.principal.subject, note[:500], utcnow())
            flash("Marked resolved.", "ok")
        client_id = problem.client_id
    return redirect(url_for("desk.client", client_id=client_id), code=303)


def _booking_form(status=200, **context):
    with transaction() as session:
        context.update(
            clients=session.scalars(
                select(Client).where(Client.status == ClientStatus.ACTIVE).order_by(Client.legal_name)
            ).all(),
            clinicians=session.scalars(
                select(Clinician).where(Clinician.active.is_(True)).order_by(Clinician.name)
            ).all(),
            types=session.scalars(select(AppointmentType).order_by(AppointmentType.minutes)).all(),
            rooms=session.scalars(select(Room).where(Room.active.is_(True)).order_by(Room.name)).all(),
        )
    context.setdefault("form", request.form if request.method == "POST" else request.args)
    context.setdefault("report", None)
    context.setdefault("error", None)
    return render_template("desk/book.html", **context), status


@bp.route("/desk/book", methods=["GET", "POST"])
def book():
    if request.method == "GET":
        return _booking_form()
    form = request.form
    try:
        starts_at = _parse_local(form["date"], form["time"])
    except (KeyError, ValueError):
        return _booking_form(422, error="Choose a date and a start time.")
    client_id = form.get("client_id") or (form.get("client_id_fallback") or "")
    try:
        video = _video_link(form)
    except ValueError as exc:
        return _booking_form(422, error=str(exc))
    req = appts.BookingRequest(
        client_id=client_id,
        clinician_id=form.get("clinician_id", ""),
        type_id=form.get("type_id", ""),
        starts_at=starts_at,
        room_id=form.get("room_id") or None,
        modality="telehealth" if video else None,
        telehealth_url=video,
        front_desk_note=form.get("front_desk_note") or None,
        override_reason=form.get("override_reason") or None,
    )
    try:
        with transaction() as session:
            if form.get("repeat") in ("weekly", "fortnightly", "monthly"):
                rule = Rule(
                    "monthly" if form["repeat"] == "monthly" else "weekly",
                    interval=2 if form["repeat"] == "fortnightly" else 1,
                    count=int(form.get("count") or 6),
                )
                _, booked, skipped = series.book_series(
                    session,
                    req,
                    rule,
                    utcnow(),
                    on_conflict=form.get("on_conflict", "none"),
                    by=g.principal.subject,
                    link_key=_link_key(),
                )
                first = booked[0]
                flash(f"Booked {len(booked)} appointments" + (f"; {len(skipped)} skipped." if skipped else "."), "ok")
            else:
                first = appts.book(session, req, utcnow(), by=g.principal.subject, link_key=_link_key())
                flash("Appointment booked.", "ok")
        return redirect(url_for("desk.appointment", appointment_id=first.id), code=303)
    except series.SeriesConflict as exc:
        return _booking_form(409, error=str(exc), report=exc.report)
    except (RuleViolation, RecurrenceError, directory.NotFound, ValueError) as exc:
        return _booking_form(409, error=str(exc))


@bp.get("/desk/appointments/<appointment_id>")
def appointment(appointment_id):
    with transaction() as session:
        row = session.execute(
            select(Appointment, Client, Clinician, AppointmentType)
            .join(Client, Client.id == Appointment.client_id)
            .join(Clinician, Clinician.id == Appointment.clinician_id)
            .join(AppointmentType, AppointmentType.id == Appointment.type_id)
            .where(Appointment.id == appointment_id)
        ).first()
        if row is None:
            abort(404)
        history = session.scalars(
            select(AppointmentChange)
            .where(AppointmentChange.appointment_id == appointment_id)
            .order_by(AppointmentChange.id)
        ).all()
    appt, client, clinician, appt_type = row
    late = appts.booking.is_late_cancel(
        utcnow(), appt.starts_at, timedelta(hours=settings_of(current_app).late_cancel_hours)
    )
    return render_template(
        "desk/appointment.html", a=appt, client=client, clinician=clinician, t=appt_type, history=history, late=late
    )


@bp.post("/desk/appointments/<appointment_id>/<action>")
def act(appointment_id, action):
    now, by, form = utcnow(), g.principal.subject, request.form
    scope = form.get("scope", "this")
    window = timedelta(hours=settings_of(current_app).late_cancel_hours)
    try:
        with transaction() as session:
            if action == "check-in":
                appts.check_in(session, appointment_id, now, by=by)
            elif action == "complete":
                appts.complete(session, appointment_id, now, by=by)
            elif action == "no-show":
                appts.mark_no_show(session, appointment_id, now, by=by)
            elif action == "cancel":
                if form.get("cancelled_by") not in ("client", "clinician", "practice"):
                    raise ValueError("Say who cancelled: the client, the clinician or the practice.")
                series.cancel_series(
                    session,
                    appointment_id,
                    scope,
                    now,
                    cancelled_by=form.get("cancelled_by", ""),
                    reason=form.get("reason") or None,
                    late_window=window,
                    by=by,
                )
            elif action == "video-link":
                appts.change_video_link(session, appointment_id, _video_link(form), now, by=by, link_key=_link_key())
            elif action == "reschedule":
                starts_at = _parse_local(form["date"], form["time"])
                series.reschedule_series(
                    session,
                    appointment_id,
                    scope,
                    starts_at,
                    None,
                    now,
                    override_reason=form.get("override_reason") or None,
                    by=by,
                    link_key=_link_key(),
                )
            else:
                abort(404)
        flash(
            {
                "check-in": "Checked in.",
                "complete": "Marked completed.",
                "no-show": "Marked as a no-show.",
                "cancel": "Cancelled.",
                "reschedule": "Moved.",
                "video-link": "Video link saved: the client is sent it.",
            }[action],
            "ok",
        )
    except (RuleViolation, ValueError, KeyError) as exc:
        message = str(exc) if not isinstance(exc, KeyError) else "Choose a date and a time."
        flash(message, "error")
    if form.get("back") == "day":  # one click from today's arrivals, and back to the list
        return redirect(url_for("desk.day", clinician_id=form.get("clinician_id") or None), code=303)
    return redirect(url_for("desk.appointment", appointment_id=appointment_id), code=303)
