"""Who may use each scheduling route (``shared/access.py``). The front desk and admins run the calendar;
clinicians read it (other clinicians' appointments as busy blocks) and their own clients."""

from __future__ import annotations

from shared.access import ALL, LINK, PUBLIC, allow

DESK = ("frontdesk", "admin")
ADMIN = ("admin",)
OWN_CLIENTS = "clinicians: their own clients only (others are 404); supervisors: theirs and their supervisees'"
BUSY_BLOCKS = "clinicians and supervisors: other clinicians' appointments without client or notes"

POLICY = {
    # Pages: the front desk's.
    "desk.home": allow(DESK),
    "desk.day": allow(DESK),
    "desk.week": allow(DESK),
    "desk.clients": allow(DESK, DESK),
    "desk.book": allow(DESK, DESK),
    "desk.client": allow(DESK, DESK),
    "desk.resolve_problem": allow(write=DESK),
    "desk.resume_reminders": allow(write=DESK),
    "desk.appointment": allow(DESK),
    "desk.act": allow(write=DESK),
    "desk.static": PUBLIC,
    # The practice admin's import page.
    "imports.upload": allow(ADMIN, ADMIN),
    "imports.preview": allow(ADMIN),
    "imports.rejects": allow(ADMIN),
    "imports.apply": allow(write=ADMIN),
    # Links that carry their own signed token.
    "calendar.feed": LINK,
    "reminder.reminder_link": LINK,
    # The API.
    "scheduling.Clinicians": allow(ALL, DESK),
    "scheduling.ClinicianById": allow(ALL, DESK),
    "scheduling.ClinicianTimeOff": allow(ALL, DESK),
    "scheduling.CalendarToken": allow(write=(*DESK, "clinician"), owner="clinicians: their own feed only (403)"),
    "scheduling.Clients": allow(ALL, DESK, owner=OWN_CLIENTS),
    "scheduling.ClientById": allow(ALL, DESK, owner=OWN_CLIENTS),
    "scheduling.discharge": allow(write=(*DESK, "clinician", "supervisor"), owner=OWN_CLIENTS),
    "scheduling.consent_trail": allow(DESK),
    "scheduling.resume_reminders": allow(write=DESK),
    "scheduling.DeliveryProblems": allow(DESK),
    "scheduling.resolve_delivery_problem": allow(write=DESK),
    "scheduling.Rooms": allow(ALL, DESK),
    "scheduling.AppointmentTypes": allow(ALL, DESK),
    "scheduling.Appointments": allow(ALL, DESK, owner=BUSY_BLOCKS),
    "scheduling.AppointmentById": allow(ALL, owner=BUSY_BLOCKS),
    "scheduling.appointment_step": allow(write=DESK),
    "scheduling.cancel_appointment": allow(write=DESK),
    "scheduling.reschedule_appointment": allow(write=DESK),
    "scheduling.change_video_link": allow(write=DESK),
    "scheduling.cancel_in_series": allow(write=DESK),
    "scheduling.reschedule_in_series": allow(write=DESK),
    "scheduling.book_series": allow(write=DESK),
    "scheduling.preview_series": allow(write=DESK),
    "scheduling.availability": allow(ALL),
}
