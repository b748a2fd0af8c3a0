"""Name patterns in check options: shell globs, or regular expressions after ``re:``.

Used to pick mount points, disks, interfaces and files. A pattern always matches the
whole name (``sd*`` matches ``sdb``, ``re:sd[a-z]`` does not match ``sda1``), so a
pattern never matches more than it says. Patterns are compiled when the config is
loaded, so a broken regex is a config error that names the key, not a failing check.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated

from agent.schema import AfterValidator

REGEX_PREFIX = "re:"


def _to_regex(pattern: str) -> str:
    if pattern.startswith(REGEX_PREFIX):
        return pattern[len(REGEX_PREFIX) :]
    return fnmatch.translate(pattern)


def _validate(pattern: str) -> str:
    try:
        re.compile(_to_regex(pattern))
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


#: A config field type for one pattern; validated (compiled once) at config load.
NamePattern = Annotated[str, AfterValidator(_validate)]


class NameFilter:
    """Decides whether a name is reported: it must match ``include`` (when given) and
    must not match ``exclude``. All patterns are folded into one regex each, because
    the filter runs for every mount/disk/interface on every cycle."""

    def __init__(
        self, include: list[str] | tuple[str, ...] = (), exclude: list[str] | tuple[str, ...] = ()
    ) -> None:
        self._include = _combine(include)
        self._exclude = _combine(exclude)

    def allows(self, name: str) -> bool:
        if self._include is not None and not self._include.fullmatch(name):
            return False
        return not (self._exclude is not None and self._exclude.fullmatch(name))


def _combine(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_to_regex(p)})" for p in patterns))
