"""The one table of checks: config name → ``"module:Class"``, imported lazily.

No discovery by directory listing: a check exists when it is listed here.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.checks.base import Check

CHECKS: dict[str, str] = {
}

#: Checks run when the config has no ``checks:`` section, per ``sys.platform`` prefix.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "linux": (),
    "win32": (),
    "darwin": (),
}


@cache
def check_class(name: str) -> type[Check]:
    """The class registered under ``name``. Raises KeyError for an unknown name."""
    module_name, _, class_name = CHECKS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def default_checks(platform: str | None = None) -> tuple[str, ...]:
    platform = platform or sys.platform
    for prefix, names in DEFAULTS.items():
        if platform.startswith(prefix):
            return names
    return ()
