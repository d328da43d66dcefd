"""Who may use each feedback route (``shared/access.py``). Scores, answers and alerts are for the clinical
team only: the front desk sees whether questionnaires were completed, admins see none of it (unless their
account also holds a clinical role)."""

from __future__ import annotations

from shared.access import LINK, PUBLIC, Access, allow

CLINICAL = ("clinician", "supervisor")
REPORTS = ("supervisor", "admin")
TEAM = "admins: the practice; supervisors: their own and their supervisees' episodes; small groups suppressed"
OWN = "own caseload (supervisors: and their supervisees'), or opened by break-glass; others are 404"

# Not rate-limited per address (several tablets behind one router ask every 3 s); a 256-bit token is not guessed.
TABLET = Access(public=True, owner="the practice tablet's own link (256-bit, stored hashed)")

POLICY = {
    "dashboard.home": allow(CLINICAL, owner=OWN),
    "dashboard.client_page": allow(CLINICAL, owner=OWN),
    "dashboard.team": allow(("supervisor",), owner=OWN),
    "dashboard.alert_page": allow(CLINICAL, owner=OWN),
    "dashboard.alert_action": allow(write=CLINICAL, owner=OWN),
    "questionnaire.questionnaire": LINK,
    "questionnaire.static": PUBLIC,
    "clinical.Caseload": allow(CLINICAL, owner=OWN),
    "clinical.Progress": allow(CLINICAL, owner=OWN),
    "clinical.Responses": allow(CLINICAL, owner=OWN),
    "clinical.FhirExport": allow(CLINICAL, owner=OWN),
    "clinical.Questionnaires": allow(
        ("frontdesk", *CLINICAL),
        ("frontdesk", *CLINICAL),
        owner=OWN + "; the front desk: completion only, and may start one for any client",
    ),
    "clinical.Kiosks": allow(("frontdesk", *CLINICAL, "admin"), ("admin",)),
    "kiosk.screen": TABLET,
    "kiosk.next": TABLET,
    "kiosk.static": PUBLIC,
    "dashboard.start_questionnaire": allow(write=CLINICAL, owner=OWN),
    "dashboard.progress_report_page": allow(CLINICAL, owner=OWN),
    "dashboard.share_progress": allow(write=CLINICAL, owner=OWN),
    "shared_report.report": LINK,
    "clinical.ClientPlan": allow(CLINICAL, CLINICAL, owner=OWN),
    "clinical.BreakGlass": allow(
        CLINICAL, CLINICAL, owner="read: the client's own clinicians; open: any clinician, with a reason"
    ),
    "clinical.PracticePlan": allow((*CLINICAL, "admin"), ("supervisor", "admin")),
    "clinical.Alerts": allow(CLINICAL, owner=OWN),
    "clinical.outcome_report": allow(REPORTS, owner=TEAM),
    "dashboard.reports": allow(REPORTS, owner=TEAM),
    "clinical.acknowledge_alert": allow(write=CLINICAL, owner=OWN),
    "clinical.resolve_alert": allow(write=CLINICAL, owner=OWN),
}
