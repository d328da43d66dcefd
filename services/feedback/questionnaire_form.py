"""The client's questionnaire pages, reached from the emailed link (``/q/<token>``): a short, accessible form
that works without JavaScript."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.feedback import assignments, crisis, kiosk, measures, submission
from services.feedback.scoring import InvalidAnswers
from shared.db import utcnow
from shared.unit_of_work import transaction
from shared.web import settings_of

bp = Blueprint(
    "questionnaire", __name__, template_folder="templates", static_folder="static", static_url_path="/q/static"
)

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _csrf() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="questionnaire-form")


def _unavailable():
    return render_template("unavailable.html"), 404, NO_STORE


def _kiosk_home(db, assignment) -> str | None:
    """On a practice tablet (the form was handed to it, and the page knows the tablet's own link): where the
    tablet goes back to. Anywhere else, None: an emailed link never turns into kiosk mode."""
    from flask import url_for

    from services.feedback.models import KioskDevice

    token = request.args.get("k", "")
    device = db.get(KioskDevice, assignment.kiosk_id) if assignment.kiosk_id and token else None
    if device is None or device.revoked_at is not None or not kiosk.owns(device, token):
        return None
    return url_for("kiosk.screen", token=token)


def _form(assignment, answers=None, errors=None, status=200, kiosk_home=None):
    forms = [measures.get(m) for m in assignment.measures]
    token = _csrf().dumps(assignment.id)
    labels = {
        f"{m.id}.{item['id']}": f"{m.name} question {n}"
        for m in forms
        for n, item in enumerate(m.items + m.extra_items, start=1)
    }
    page = render_template(
        "questionnaire.html",
        forms=forms,
        answers=answers or {},
        errors=errors or {},
        labels=labels,
        csrf=token,
        audience=settings_of(current_app).answers_audience,
        kiosk_home=kiosk_home,
    )
    return page, status, NO_STORE


def _parse(form, measure_ids: list[str]) -> dict[str, dict[str, int | None]]:
    answers: dict[str, dict[str, int | None]] = {m: {} for m in measure_ids}
    for m in measure_ids:
        definition = measures.get(m)
        for item in definition.items + definition.extra_items:
            raw = form.get(f"{m}.{item['id']}", "")
            try:
                answers[m][item["id"]] = int(raw) if raw != "" else None
            except ValueError:
                answers[m][item["id"]] = -1  # not a choice: reported as such
    return answers


@bp.route("/q/<token>", methods=["GET", "POST"])
def questionnaire(token: str):
    now = utcnow()
    if request.method == "GET":
        with transaction() as db:
            assignment = assignments.find_open(db, token, now)
            if assignment is None:
                return _unavailable()
            assignments.mark_opened(db, assignment, now)
            return _form(assignment, kiosk_home=_kiosk_home(db, assignment))

    with transaction() as db:  # read and validate first: a refused form writes nothing
        assignment = assignments.find_open(db, token, now)
        if assignment is None:
            return _unavailable()
        try:
            if _csrf().loads(request.form.get("csrf", ""), max_age=7 * 24 * 3600) != assignment.id:
                raise BadSignature("other assignment")
        except BadSignature:
            return render_template("unavailable.html", reason="expired_form"), 400, NO_STORE
        answers = _parse(request.form, assignment.measures)
        home = _kiosk_home(db, assignment)
        try:
            scores = submission.validate(assignment, answers)
        except InvalidAnswers as exc:
            return _form(assignment, answers, exc.problems, status=422, kiosk_home=home)
    with transaction() as db:
        assignment = assignments.find_open(db, token, now)
        if assignment is None or not assignments.claim(db, assignment, now):
            return _unavailable()  # a concurrent submit got there first: single use
        outcome = submission.record(
            db, assignment, scores, answers, now, record_key=settings_of(current_app).record_key
        )
    # The thank-you page is this response (no redirect, no cookie): what it says about risk comes from this
    # submission's own scores, and nothing in the browser's history can show it again.
    settings = settings_of(current_app)
    notices = crisis.notices(outcome.scores, settings.crisis_text)
    page = render_template(
        "thanks.html",
        notices=notices,
        audience=settings.answers_audience,
        kiosk_home=home,
        kiosk_return_after=None if notices else 60,  # crisis information stays until "Done" or idle
    )
    return page, 200, NO_STORE
