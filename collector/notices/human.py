"""Values in the reader's terms: durations, sizes, percentages, dates — per locale and time zone.

One class, :class:`Human`, used by the notices, the rule summaries (``{value:duration}``),
the reports and the UI, so "3 days" reads the same everywhere. The words and plural forms
come from CLDR through Babel (``format_timedelta``, ``format_unit``, ``format_list``), so
Russian gets "3 дня" / "5 дней" without a hand-written plural rule.

The filter names (:data:`FILTERS`) are the vocabulary rule templates and Jinja templates use:
``duration`` (a length of time: "3 days"), ``ago`` ("10 minutes ago"), ``in`` ("in 5 days"),
``bytes`` ("12 GB"), ``percent`` (a value that already is a percentage: "97 %"), ``date``
and ``datetime`` (an epoch time in the reader's zone), ``number``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from babel.lists import format_list
from babel.localedata import exists as locale_exists
from babel.numbers import format_currency, format_decimal, format_percent
from babel.units import format_unit

#: The names rule templates (``{value:NAME}``) and Jinja templates (``|NAME``) may use.
FILTERS = ("duration", "ago", "in", "bytes", "percent", "date", "datetime", "number")
_MISSING = "–"
_BYTE_UNITS = (
    (10**12, "digital-terabyte"),
    (10**9, "digital-gigabyte"),
    (10**6, "digital-megabyte"),
    (10**3, "digital-kilobyte"),
)


def parse_locale(value: str) -> Locale:
    """``"en-GB"`` / ``"en_GB"`` / ``"ru"`` → a Babel locale; ValueError naming the value."""
    try:
        return Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(
            f"{value!r} is not a known locale (write it like en-GB, de-DE, ru-RU)"
        ) from None


def country_of_zone(timezone: str) -> str | None:
    """The country of an IANA time zone (``Europe/Berlin`` → ``DE``), from CLDR; None for UTC."""
    territory = get_global("zone_territories").get(timezone)
    return territory if territory and territory.isalpha() and len(territory) == 2 else None


def default_locale(language: str, country: str | None = None, timezone: str | None = None) -> str:
    """The locale a contract gets when it names none: its language in its calendar's country.

    ``en`` + ``DE`` (or a ``Europe/Berlin`` calendar) → ``en_DE`` (day-month-year dates, 24-hour
    times), ``ru`` → ``ru_RU``; a language with no country known → the language alone.
    """
    country = country or (country_of_zone(timezone) if timezone else None)
    if country and locale_exists(f"{language}_{country}"):
        return f"{language}_{country}"
    likely = get_global("likely_subtags").get(language)
    if language != "en" and likely and locale_exists(likely.split("_", 1)[0]):
        parts = likely.split("_")
        candidate = f"{language}_{parts[-1]}"
        if locale_exists(candidate):
            return candidate
    return language


class Human:
    """Formatting for one locale and time zone (``None`` always shows as "–")."""

    def __init__(self, locale: str | Locale = "en", timezone: str = "UTC") -> None:
        self.locale = locale if isinstance(locale, Locale) else parse_locale(locale)
        self.tz = ZoneInfo(timezone)

    # ------------------------------------------------------------------ numbers

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return _MISSING
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=fmt, locale=self.locale)

    def percent(self, value: float | None, digits: int = 0) -> str:
        """``value`` already is a percentage: ``97.2`` → "97 %" (as the locale writes it)."""
        if value is None:
            return _MISSING
        fmt = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(float(value) / 100, format=fmt, locale=self.locale)

    def ratio(self, value: float | None, digits: int = 0) -> str:
        """``0.05`` → "5 %"."""
        return _MISSING if value is None else self.percent(float(value) * 100, digits)

    def bytes(self, value: float | None) -> str:
        """``12_300_000_000`` → "12.3 GB" (decimal units, as disks are sold)."""
        if value is None:
            return _MISSING
        size = float(value)
        for factor, unit in _BYTE_UNITS:
            if abs(size) >= factor:
                scaled = size / factor
                text = format_decimal(
                    scaled, format="#,##0" if abs(scaled) >= 100 else "#,##0.#", locale=self.locale
                )
                return format_unit(text, unit, length="short", locale=self.locale)
        return format_unit(int(size), "digital-byte", length="short", locale=self.locale)

    def points(self, centipoints: int | None) -> str:
        if centipoints is None:
            return _MISSING
        return format_decimal(Decimal(centipoints) / 100, format="#,##0.00", locale=self.locale)

    def money(self, amount: Decimal | float | str, currency: str) -> str:
        return format_currency(Decimal(str(amount)), currency, locale=self.locale)

    # ------------------------------------------------------------------ time

    def duration(self, seconds: float | None, precise: bool = False) -> str:
        """A length of time: "3 days", "10 minutes" (``precise``: "1 hour, 30 minutes")."""
        if seconds is None:
            return _MISSING
        seconds = abs(float(seconds))
        if 0 < seconds < 1:  # round trips, response times
            return format_unit(
                round(seconds * 1000), "duration-millisecond", length="short", locale=self.locale
            )
        if not precise:
            return format_timedelta(
                timedelta(seconds=seconds), threshold=1.5, locale=self.locale, format="long"
            )
        minutes = int(math.floor(seconds / 60 + 0.5))
        if minutes == 0:
            return format_timedelta(
                timedelta(seconds=seconds), granularity="second", locale=self.locale
            )
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        parts = [
            format_unit(n, unit, length="long", locale=self.locale)
            for n, unit in (
                (days, "duration-day"),
                (hours, "duration-hour"),
                (mins, "duration-minute"),
            )
            if n
        ]
        return format_list(parts[:2], style="unit", locale=self.locale)

    def ago(self, seconds: float | None) -> str:
        """``590`` seconds in the past → "10 minutes ago"."""
        if seconds is None:
            return _MISSING
        return format_timedelta(
            timedelta(seconds=-abs(float(seconds))),
            threshold=1.5,
            add_direction=True,
            locale=self.locale,
        )

    def in_(self, seconds: float | None) -> str:
        """``431835`` seconds ahead → "in 5 days"."""
        if seconds is None:
            return _MISSING
        return format_timedelta(
            timedelta(seconds=abs(float(seconds))),
            threshold=1.5,
            add_direction=True,
            locale=self.locale,
        )

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC).astimezone(self.tz)

    def date(self, ts: float | None, format: str = "medium") -> str:  # noqa: A002 — Babel's name
        if ts is None:
            return _MISSING
        return format_date(self.local(ts), format=format, locale=self.locale)

    def datetime(  # noqa: A002
        self, ts: float | None, format: Literal["full", "long", "medium", "short"] = "medium"
    ) -> str:
        """Date and time in the reader's zone, minutes only, with the zone's abbreviation:
        "1 Dec 2026, 14:05 CET" (``short``: the locale's numeric date)."""
        if ts is None:
            return _MISSING
        local = self.local(ts)
        day = format_date(local, format=format, locale=self.locale)
        clock = format_time(local, format="short", tzinfo=self.tz, locale=self.locale)
        pattern = str(get_datetime_format(format, locale=self.locale))
        return f"{pattern.replace('{1}', day).replace('{0}', clock)} {local.tzname()}"

    # ------------------------------------------------------------------ by name

    def apply(self, name: str, value: Any) -> str:
        """Filter ``name`` (one of :data:`FILTERS`) applied to ``value``."""
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r}; use one of {', '.join(FILTERS)}")
        if value is None or value == "":
            return _MISSING
        number = float(value)
        if name == "in":
            return self.in_(number)
        if name == "number":
            return self.number(number, 0 if number == int(number) else 2)
        return str(getattr(self, name)(number))

    def by_unit(self, value: float | None, unit: str | None) -> str:
        """``value`` shown by the metric catalog's unit (seconds, bytes, percent, ratio, …)."""
        if value is None:
            return _MISSING
        if unit == "seconds":
            return self.duration(value)
        if unit == "bytes":
            return self.bytes(value)
        if unit == "percent":
            return self.percent(value, 0 if abs(value) >= 10 else 1)
        if unit == "ratio":
            return self.ratio(value, 1)
        if unit == "timestamp":
            return self.datetime(value)
        if unit == "celsius":
            return format_unit(round(value, 1), "temperature-celsius", "short", locale=self.locale)
        number = float(value)
        digits = 0 if number == int(number) or abs(number) >= 100 else 2
        return self.number(number, digits)
