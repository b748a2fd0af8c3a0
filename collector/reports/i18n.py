"""Languages of the report: gettext catalogs (Babel) and locale-aware formatting.

The English texts are the message ids; other languages have a catalog in
``locale/<lang>/LC_MESSAGES/upkeep_reports.po``. The ``.po`` file is compiled in memory the
first time a language is used (Babel's ``write_mo``), so a fresh checkout and an installed
wheel (the ``.po`` files are package data) work alike, with no build step to forget.

Update the catalog after changing texts: ``python -m collector.reports.i18n`` extracts the
messages from the code and templates and merges them into every ``.po`` file (new entries
come in empty; ``tests/collector/reports/test_i18n.py`` fails until they are translated).
"""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from collector import catalogs

DOMAIN = "upkeep_reports"
PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = catalogs.LANGUAGES
CATALOG = catalogs.MessageCatalog(DOMAIN, PACKAGE_DIR, "report", "**/templates/**.j2")
N_ = catalogs.N_
po_path = CATALOG.po_path
translations = CATALOG.translations
extract = CATALOG.extract
update_catalogs = CATALOG.update


# ---------------------------------------------------------------------- formatting

#: Evidence units (collector.preventive.evidence) → the metric catalog's unit names.
_EVIDENCE_UNITS = {"%": "percent", "s": "seconds", "B": "bytes", "°C": "celsius"}
#: What a metric is called in evidence, translatable; keys as collector.preventive.evidence.NAMES
#: (a test ties the two together).
EVIDENCE_NAMES = {
    "disk_used_percent": N_("disk {mountpoint}"),
    "disk_inodes_used_percent": N_("inodes on {mountpoint}"),
    "disk_free_bytes": N_("free space on {mountpoint}"),
    "memory_used_percent": N_("memory use"),
    "swap_used_percent": N_("swap use"),
    "cpu_usage_percent": N_("CPU use"),
    "load_average_per_core": N_("load per core"),
    "temperature_celsius": N_("temperature {sensor}"),
    "file_age_seconds": N_("age of {path}"),
    "os_updates_pending": N_("pending updates"),
    "os_security_updates_pending": N_("pending security updates"),
    "os_reboot_required": N_("reboot required"),
    "ups_battery_charge_percent": N_("UPS battery charge"),
    "ups_battery_runtime_seconds": N_("UPS runtime"),
    "tls_cert_expiry_seconds": N_("certificate {target} valid for"),
    "service_up": N_("service {service} up"),
    "process_up": N_("process {process} up"),
    "smart_pending_sectors": N_("pending sectors on {device}"),
    "smart_reallocated_sectors": N_("reallocated sectors on {device}"),
}


class Formatter:
    """Numbers, percentages, dates, money, points and durations for one locale and time zone."""

    def __init__(self, language: str, timezone: str = "UTC", locale: str | None = None) -> None:
        from collector.notices.human import Human, parse_locale

        self.language = language
        self.locale = parse_locale(locale) if locale else Locale.parse(language)
        self.tz = ZoneInfo(timezone)
        self.t = translations(language)
        #: The shared human-value formatting (durations, sizes, units) in this locale.
        self.human = Human(self.locale, timezone)

    def evidence(self, e: dict[str, Any] | None) -> str:
        """Preventive-work evidence as the reader reads it: "age of /srv/backup: 3 days → 2
        minutes" — never a raw float, never "None"."""
        if not e:
            return ""
        from collector.preventive.evidence import describe, unit_of

        before, after = e.get("before"), e.get("after")
        metric = e.get("metric")
        unit = _EVIDENCE_UNITS.get(e.get("unit") or (unit_of(metric) if metric else ""))
        if metric and (e.get("source") == "metric" or "before" in e or "after" in e):
            name = describe(metric, e.get("labels") or {})
            template = EVIDENCE_NAMES.get(metric)
            if template is not None:
                with contextlib.suppress(KeyError, ValueError):
                    name = self.gettext(template).format_map(dict(e.get("labels") or {}))
            if after is None:
                return f"{name}: {self.gettext('no data')}"
            shown = self.human.by_unit(after, unit)
            if before is not None:
                shown = f"{self.human.by_unit(before, unit)} → {shown}"
            return f"{name}: {shown}"
        if e.get("source") == "event":
            supply = str(e.get("supply") or "")
            if after is None or before is None:
                return self.gettext("%(supply)s was replaced", supply=supply)
            return self.gettext(
                "%(supply)s was replaced: %(before)s → %(after)s",
                supply=supply,
                before=self.human.percent(before),
                after=self.human.percent(after),
            )
        if e.get("text"):
            return str(e["text"])
        # Older or hand-written evidence: its plain facts, each in the reader's numbers.
        parts = []
        for key, value in e.items():
            if isinstance(value, bool) or value is None or isinstance(value, dict | list):
                continue
            shown = (
                self.human.number(value, 0 if float(value).is_integer() else 2)
                if isinstance(value, int | float)
                else str(value)
            )
            parts.append(f"{key.replace('_', ' ')}: {shown}")
        return "; ".join(parts)

    def gettext(self, message: str, **values: Any) -> str:
        text = self.t.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self.t.ngettext(singular, plural, n) % {"num": n, **values}

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=fmt, locale=self.locale)

    def percent(self, value: float | None, digits: int = 2) -> str:
        """``value`` is already a percentage (99.5 → "99.50 %")."""
        if value is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(value / 100, format=fmt, locale=self.locale)

    def date(self, ts: float | None) -> str:
        if ts is None:
            return "–"
        return format_date(
            datetime.fromtimestamp(ts, UTC).astimezone(self.tz), format="medium", locale=self.locale
        )

    def datetime(self, ts: float | None) -> str:
        if ts is None:
            return "–"
        return format_datetime(
            datetime.fromtimestamp(ts, UTC).astimezone(self.tz),
            format="short",
            tzinfo=self.tz,
            locale=self.locale,
        )

    def money(self, amount: Decimal | float | str, currency: str) -> str:
        return format_currency(Decimal(str(amount)), currency, locale=self.locale)

    def points(self, centipoints: int | None) -> str:
        if centipoints is None:
            return "–"
        return format_decimal(Decimal(centipoints) / 100, format="#,##0.00", locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """``5400`` → "1 h 30 min" (days past 48 hours); a zero last part is left out
        ("5 d", "2 h"), a zero duration is "0 min"."""
        if seconds is None:
            return "–"
        minutes = int(math.floor(seconds / 60 + 0.5))
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        if days >= 2:
            if not hours:
                return self.gettext("%(d)s d", d=days)
            return self.gettext("%(d)s d %(h)s h", d=days, h=hours)
        hours += days * 24
        if hours and not mins:
            return self.gettext("%(h)s h", h=hours)
        if hours:
            return self.gettext("%(h)s h %(m)s min", h=hours, m=mins)
        return self.gettext("%(m)s min", m=mins)

    def days(self, value: float | None) -> str:
        if value is None:
            return "–"
        n = int(math.floor(value))
        return self.ngettext("%(num)s day", "%(num)s days", n)

    def bytes(self, value: float | None) -> str:
        if value is None:
            return "–"
        units = [N_("B"), N_("KiB"), N_("MiB"), N_("GiB"), N_("TiB")]
        size, unit = float(value), 0
        while size >= 1024 and unit < len(units) - 1:
            size, unit = size / 1024, unit + 1
        return f"{self.number(size, 1 if unit else 0)} {self.gettext(units[unit])}"


if __name__ == "__main__":
    update_catalogs()
