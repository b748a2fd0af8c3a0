"""Assets monitored during the period, by kind and by site."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from collector.reports.context import ReportContext
from collector.reports.sections import Section


class AssetsMonitored(Section):
    name = "assets"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        by_kind = Counter(a.kind for a in ctx.assets)
        by_site = Counter(a.site for a in ctx.assets)
        by_both = Counter((a.site, a.kind) for a in ctx.assets)
        return {
            "total": len(ctx.assets),
            "by_kind": [
                {"kind": k, "count": n}
                for k, n in sorted(by_kind.items(), key=lambda i: (-i[1], i[0]))
            ],
            "by_site": [
                {"site": s, "count": n}
                for s, n in sorted(by_site.items(), key=lambda i: (i[0] is None, i[0] or ""))
            ],
            "by_site_kind": [
                {"site": s, "kind": k, "count": n}
                for (s, k), n in sorted(by_both.items(), key=lambda i: (i[0][0] or "~", i[0][1]))
            ],
        }
