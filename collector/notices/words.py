"""Words for the codes notices carry (priorities, SLA clocks); translated where they are shown."""

from __future__ import annotations

from collector.notices.i18n import N_

PRIORITIES = {
    "critical": N_("critical"),
    "major": N_("major"),
    "minor": N_("minor"),
    "technical": N_("technical"),
}
CLOCKS = {
    "business": N_("business time"),
    "calendar": N_("calendar time"),
    "business_days": N_("working days"),
}
