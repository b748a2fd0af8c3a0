"""Durations as admins write them in YAML: ``30s``, ``5m``, ``26h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from typing import Annotated, Any

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number (seconds) or a string like ``1h30m``. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(
            "a duration must be a number of seconds or a string like '30s', '5m', '7d'"
        )
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise ValueError(f"{value!r} is not a duration (use e.g. '30s', '5m', '26h', '7d')")
    else:
        raise ValueError(
            "a duration must be a number of seconds or a string like '30s', '5m', '7d'"
        )
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` (``90`` → ``1m30s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts: list[str] = []
    rest = int(round(seconds))
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])  # d, h, m, s: whole seconds
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


class _DurationField:
    """The metadata of :data:`Duration`, understood by both schema libraries.

    ``agent.schema`` (the agent's config) calls ``before``; pydantic (the collector's
    settings, rules and contracts) asks ``__get_pydantic_core_schema__`` — imported only
    then, so the agent never loads pydantic for a duration.
    """

    before = staticmethod(parse_duration)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            parse_duration,
            handler(source),
            serialization=core_schema.plain_serializer_function_ser_schema(
                format_duration, return_schema=core_schema.str_schema()
            ),
        )


#: A field type: accepts ``"5m"`` or ``300`` and holds seconds as a float.
Duration = Annotated[float, _DurationField()]
