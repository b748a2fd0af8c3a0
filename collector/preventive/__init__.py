"""Preventive work: incidents caught and fixed before anyone noticed, and maintenance tasks done,
each with its evidence (the metric before and after). See docs/preventive.md.

``items(conn, client_id, start, end)`` is the read the monthly report uses.
"""

from __future__ import annotations

from collector.preventive.record import PreventiveRecorder, items, record_task, task_status

__all__ = ["PreventiveRecorder", "items", "record_task", "task_status"]
