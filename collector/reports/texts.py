"""The words for codes the sections return (priorities, causes, kinds, recommendations…).

Sections compute language-free data (codes, numbers, epoch times); the templates translate
codes through these tables, so every text the reader sees goes through the catalog.
"""

from __future__ import annotations

from collector.reports.i18n import N_

SECTION_TITLES = {
    "summary": N_("Summary"),
    "assets": N_("Assets monitored"),
    "availability": N_("Availability"),
    "incidents": N_("Incidents"),
    "preventive": N_("Preventive work"),
    "sla": N_("SLA compliance"),
    "satisfaction": N_("Your feedback"),
    "points": N_("Points statement"),
    "consumables": N_("Consumables"),
    "updates": N_("Updates and disk health"),
    "risks": N_("Risks ahead"),
    "trends": N_("Trends"),
    "recurring": N_("Recurring problems"),
}

PRIORITIES = {
    "critical": N_("critical"),
    "major": N_("major"),
    "minor": N_("minor"),
    "technical": N_("technical"),
}
ORIGINS = {
    "proactive": N_("detected by monitoring"),
    "external": N_("detected by monitoring"),
    "user_reported": N_("reported by your staff"),
}
CAUSES = {
    "wear": N_("wear"),
    "hardware": N_("hardware fault"),
    "software": N_("software fault"),
    "client_error": N_("user error"),
    "third_party": N_("third party"),
    "provider": N_("our side"),
    "unknown": N_("unknown"),
    None: N_("not classified"),
}
STATES = {
    "open": N_("open"),
    "acknowledged": N_("in progress"),
    "waiting_for_client": N_("waiting for you"),
    "waiting_for_third_party": N_("waiting for a third party"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
}
ASSET_KINDS = {
    "host": N_("servers and PCs"),
    "printer": N_("printers"),
    "switch": N_("switches"),
    "ups": N_("UPSes"),
    "router": N_("routers"),
    "generic": N_("other devices"),
    "sensor": N_("sensors"),
}
NO_SITE = N_("no site")
LEDGER_KINDS = {
    "allotment": N_("monthly allotment"),
    "rollover": N_("carried over"),
    "charge": N_("charge"),
    "topup": N_("top-up"),
    "adjustment": N_("adjustment"),
    "expiry": N_("expired"),
}
PREVENTIVE_KINDS = {
    "incident": N_("caught before anyone noticed"),
    "task": N_("scheduled maintenance"),
}
#: How a closing message was answered (collector.closing.model.ANSWERS).
CLOSING_ANSWERS = {
    "confirmed": N_("all good"),
    "reopened": N_("not solved"),
    "auto_closed": N_("closed without an answer"),
}
SLA_TARGETS = {"response": N_("response"), "resolution": N_("resolution")}
SERVICE_METRICS = {
    "ping_up": N_("ping"),
    "tcp_up": N_("TCP port"),
    "http_up": N_("website"),
    "dns_up": N_("name resolution"),
    "tls_up": N_("TLS endpoint"),
    "service_up": N_("service"),
    "process_up": N_("process"),
}
AVAILABILITY_SOURCES = {"snmp": N_("device answers"), "agent": N_("agent reports")}
DISK_HEALTH = {"ok": N_("healthy"), "warning": N_("watch"), "failing": N_("failing")}
RISKS = {
    "disk_full": N_("Disk full"),
    "toner_out": N_("Toner or ink out"),
    "certificate": N_("Certificate expires"),
    "battery": N_("UPS battery to replace"),
    "disk_failing": N_("Disk failing"),
}
RECOMMENDATIONS = {
    "replace_hardware": N_("The device keeps failing: we recommend replacing it."),
    "add_capacity": N_("Space keeps running out: we recommend more storage or a clean-up policy."),
    "stock_supplies": N_("Supplies run out often: keep spare toner or ink on site."),
    "check_power_network": N_(
        "It keeps dropping off: have its power and network connection checked."
    ),
    "train_users": N_("Most problems came from how it is used: a short training would help."),
    "escalate_vendor": N_("Most problems came from a supplier: we recommend raising it with them."),
    "root_cause_review": N_("We recommend a root-cause review of this device with us."),
    "add_memory": N_(
        "Memory keeps running short: we recommend more RAM or a look at what uses it."
    ),
    "check_load": N_(
        "It is often overloaded: we recommend a look at its workload or a faster machine."
    ),
    "check_restarts": N_(
        "It keeps restarting: we recommend checking its power supply, updates and crash logs."
    ),
    "check_service": N_(
        "A service on it keeps stopping: we recommend a look at the service's logs and settings."
    ),
    "check_backups": N_(
        "Backups keep falling behind: we recommend checking the backup job and its storage."
    ),
    "check_cooling": N_("It keeps running hot: we recommend checking its cooling and airflow."),
    "check_cabling": N_(
        "Its network ports keep failing: we recommend checking cables and the switch port."
    ),
    "check_bandwidth": N_(
        "Its connection is often slow: we recommend a look at the line and its load."
    ),
    "automate_certificates": N_(
        "Certificates keep nearing expiry: we recommend renewing them automatically."
    ),
    "stock_paper": N_("Paper runs out often: keep more paper at the printer."),
    "printer_handling": N_(
        "Paper jams and open covers keep stopping it: a short how-to for its users would help, "
        "or a service if it persists."
    ),
    "check_mains": N_("It keeps running on battery: we recommend having the mains supply checked."),
    "replace_ups_battery": N_(
        "The UPS battery keeps reporting problems: we recommend replacing it."
    ),
    "fix_time_sync": N_("Its clock keeps drifting: we recommend fixing its time synchronisation."),
}
TREND_METRICS = {
    "incidents": N_("Incidents"),
    "proactive": N_("Caught by monitoring"),
    "user_reported": N_("Reported by your staff"),
    "availability": N_("Availability"),
    "preventive_hours": N_("Preventive work (hours)"),
    "points_charged": N_("Points charged"),
    "sla_breaches": N_("SLA breaches"),
}
