"""Updates per host (pending, security first; applied estimated from the drops of the pending
count) and disk health (SMART) at the end of the period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from collector.reports import queries
from collector.reports.context import ReportContext
from collector.reports.sections import Section

PENDING, SECURITY, REBOOT = (
    "os_updates_pending",
    "os_security_updates_pending",
    "os_reboot_required",
)
SMART = (
    "smart_healthy",
    "smart_reallocated_sectors",
    "smart_pending_sectors",
    "smart_endurance_used_percent",
    "smart_available_spare_percent",
)


def disk_status(
    healthy: float | None,
    reallocated: float | None,
    reallocated_rise: float,
    pending: float | None,
    endurance: float | None,
) -> str:
    """ok | warning | failing from the SMART values at the end of the period."""
    if healthy is not None and healthy < 1:
        return "failing"
    if reallocated_rise > 0 or (pending or 0) > 0 or (endurance or 0) >= 90:
        return "warning"
    return "ok"


class UpdatesAndDisks(Section):
    name = "updates"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        h0, h1 = ctx.period.hours
        hosts: dict[int, dict[str, Any]] = {}
        pending_series: dict[int, int] = {}
        for ref, value, _hour in queries.last_values(ctx, (PENDING, SECURITY, REBOOT), h0, h1):
            asset = ctx.asset_by_id.get(ref.asset_id)
            if asset is None:
                continue
            row = hosts.setdefault(
                ref.asset_id,
                {
                    "asset": asset.name,
                    "site": asset.site,
                    "pending": 0,
                    "security": 0,
                    "reboot_required": False,
                    "applied": 0,
                },
            )
            if ref.metric == PENDING:
                row["pending"] = int(value)
                pending_series[ref.id] = ref.asset_id
            elif ref.metric == SECURITY:
                row["security"] = int(value)
            else:
                row["reboot_required"] = value >= 1
        applied = queries.decreases(ctx, [PENDING], h0, h1)
        for series_id, dropped in applied.items():
            asset_id = pending_series.get(series_id)
            if asset_id in hosts:
                hosts[asset_id]["applied"] = int(dropped)
        rows = sorted(hosts.values(), key=lambda r: (-r["security"], -r["pending"], r["asset"]))

        disks: dict[tuple[int, str], dict[str, Any]] = defaultdict(dict)
        last = queries.last_values(ctx, SMART, h0, h1)
        first = queries.first_values(ctx, ["smart_reallocated_sectors"], h0, h1)
        for ref, value, _hour in last:
            disk = disks[(ref.asset_id, ref.labels.get("device", ""))]
            disk[ref.metric] = value
            if ref.metric == "smart_reallocated_sectors":
                disk["reallocated_rise"] = max(0.0, value - first.get(ref.id, value))
            if ref.metric == "smart_healthy":
                disk["model"] = ref.labels.get("model")
        disk_rows = []
        for (asset_id, device), values in disks.items():
            asset = ctx.asset_by_id.get(asset_id)
            if asset is None:
                continue
            status = disk_status(
                values.get("smart_healthy"),
                values.get("smart_reallocated_sectors"),
                values.get("reallocated_rise", 0.0),
                values.get("smart_pending_sectors"),
                values.get("smart_endurance_used_percent"),
            )
            disk_rows.append(
                {
                    "asset": asset.name,
                    "device": device,
                    "model": values.get("model"),
                    "status": status,
                    "reallocated": values.get("smart_reallocated_sectors"),
                    "reallocated_rise": values.get("reallocated_rise", 0.0),
                    "pending_sectors": values.get("smart_pending_sectors"),
                    "endurance_used": values.get("smart_endurance_used_percent"),
                }
            )
        rank = {"failing": 0, "warning": 1, "ok": 2}
        disk_rows.sort(key=lambda d: (rank[d["status"]], d["asset"], d["device"]))
        return {
            "hosts": rows,
            "pending_total": sum(r["pending"] for r in rows),
            "security_total": sum(r["security"] for r in rows),
            "applied_total": sum(r["applied"] for r in rows),
            "reboot_required": sum(1 for r in rows if r["reboot_required"]),
            "disks": disk_rows,
            "disks_failing": sum(1 for d in disk_rows if d["status"] == "failing"),
            "disks_warning": sum(1 for d in disk_rows if d["status"] == "warning"),
        }
