"""Who may use each notifications route (``shared/access.py``): the delivery log (status and errors, never
message content) is for the front desk and admins."""

from __future__ import annotations

from shared.access import LINK, Access, allow

LOG_ROLES = ("frontdesk", "admin")

POLICY = {
    "pages.admin_deliveries": allow(LOG_ROLES),
    "deliveries.Deliveries": allow(LOG_ROLES),
    "unsubscribe.unsubscribe": LINK,
    "sms.status": Access(public=True, owner="the SMS provider's request signature (X-Twilio-Signature)"),
    "sms.inbound": Access(public=True, owner="the SMS provider's request signature (X-Twilio-Signature)"),
}
