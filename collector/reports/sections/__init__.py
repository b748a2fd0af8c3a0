"""Report sections (one module each); :mod:`collector.reports.registry` lists them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from collector.reports.context import ReportContext


class Section:
    """One section of the client report: plain data from the store for one period."""

    name: ClassVar[str]
    #: Sections whose data this one uses (computed first, passed in ``done``).
    needs: ClassVar[tuple[str, ...]] = ()

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError
