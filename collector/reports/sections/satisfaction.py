"""The client's satisfaction in the period: closing messages sent and answered, the ratings
(average and per score), the client's comments, the incidents reopened as "not solved" and
those closed automatically after no answer.

The figures are the closing domain's read model (:func:`collector.closing.read.satisfaction`);
the ratings are the same :func:`collector.closing.read.ratings` the management view counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.closing import read
from collector.reports.analysis import percent
from collector.reports.context import ReportContext
from collector.reports.sections import Section


def _answer(a: read.ClosingAnswer) -> dict[str, Any]:
    return {
        "incident": a.incident,
        "title": a.title,
        "answer": a.answer,
        "answered_at": a.answered_at,
        "rating": a.rating,
        "comment": a.comment,
    }


class ClientSatisfaction(Section):
    name = "satisfaction"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        found = read.satisfaction(ctx.conn, ctx.client_id, ctx.period.start, ctx.period.end)
        figures = found.ratings
        return {
            "sent": found.sent,
            "answered": found.answered,
            "answered_percent": percent(found.answered, found.sent),
            "ratings": {
                "count": figures.count,
                "average": None if figures.average is None else round(figures.average, 2),
                # highest score first, as the reader scans a rating table
                "per_score": [
                    {
                        "score": score,
                        "count": n,
                        "percent": percent(n, figures.count),
                    }
                    for score, n in sorted(figures.per_score.items(), reverse=True)
                ],
            },
            "comments": [_answer(a) for a in found.comments],
            "reopened": [_answer(a) for a in found.reopened],
            "auto_closed": [_answer(a) for a in found.auto_closed],
        }
