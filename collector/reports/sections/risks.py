"""Risks ahead, as of the end of the period: disks that will be full and toner that will run
out within the horizon (a straight line fitted to the last 14 days of hourly averages),
certificates expiring, UPS batteries to replace, disks SMART says are failing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.reports import queries
from collector.reports.analysis import DAY, HOUR, days_until, fit
from collector.reports.context import ReportContext
from collector.reports.sections import Section

FIT_DAYS = 14
DISK_HORIZON_DAYS = 60
TONER_HORIZON_DAYS = 30
CERT_HORIZON_DAYS = 30
PSEUDO_FS = ("tmpfs", "devtmpfs", "squashfs", "overlay", "iso9660")
BATTERY_ALARMS = ("batteryBad", "replaceBattery", "depletedBattery")
TREND_LINES = 6


class RisksAhead(Section):
    name = "risks"
    needs = ("updates",)

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        h0, h1 = ctx.period.hours
        h_end = max(h0, min(h1, int(ctx.now // HOUR) * HOUR))
        fit_h0 = max(h0 - FIT_DAYS * DAY, h_end - FIT_DAYS * DAY)
        x_now = (h_end - fit_h0) / DAY
        items: list[dict[str, Any]] = []
        trend_candidates: list[tuple[float, int, str]] = []
        for ref, s in queries.linear_fits(
            ctx, ["disk_used_percent", "printer_supply_level_percent"], fit_h0, h_end
        ):
            asset = ctx.asset_by_id.get(ref.asset_id)
            line = fit(int(s.n), float(s.sx), float(s.sy), float(s.sxy), float(s.sxx))
            if asset is None or line is None:
                continue
            intercept, slope = line
            current = intercept + slope * x_now
            if ref.metric == "disk_used_percent":
                if ref.labels.get("fstype") in PSEUDO_FS:
                    continue
                days, horizon, kind = (
                    days_until(intercept, slope, x_now, 100.0, rising=True),
                    DISK_HORIZON_DAYS,
                    "disk_full",
                )
                subject = ref.labels.get("mountpoint", "")
            else:
                days, horizon, kind = (
                    days_until(intercept, slope, x_now, 0.0, rising=False),
                    TONER_HORIZON_DAYS,
                    "toner_out",
                )
                subject = ref.labels.get("supply") or ref.labels.get("color") or ""
            if days is not None and days <= horizon:
                items.append(
                    {
                        "kind": kind,
                        "asset": asset.name,
                        "subject": subject,
                        "value": round(min(100.0, max(0.0, current)), 1),
                        "days": round(days, 1),
                        "per_day": round(slope, 3),
                    }
                )
                trend_candidates.append((days, ref.id, f"{asset.name} {subject}".strip()))
        for ref, value, _hour in queries.last_values(ctx, ["tls_cert_expiry_seconds"], h0, h1):
            asset = ctx.asset_by_id.get(ref.asset_id)
            days = max(0.0, value) / DAY  # at its last reading, at most an hour before the end
            if asset is not None and days <= CERT_HORIZON_DAYS:
                items.append(
                    {
                        "kind": "certificate",
                        "asset": asset.name,
                        "subject": ref.labels.get("target", ""),
                        "value": None,
                        "days": round(days, 1),
                        "per_day": None,
                    }
                )
        battery: dict[int, str] = {}
        for ref, value, _hour in queries.last_values(
            ctx, ["ups_battery_status", "ups_alarm"], h0, h1
        ):
            if ref.metric == "ups_battery_status" and value in (3, 4):
                battery[ref.asset_id] = "low" if value == 3 else "depleted"
            elif (
                ref.metric == "ups_alarm"
                and ref.labels.get("alarm") in BATTERY_ALARMS
                and value >= 1
            ):
                battery.setdefault(ref.asset_id, ref.labels["alarm"])
        for asset_id, why in sorted(battery.items()):
            asset = ctx.asset_by_id.get(asset_id)
            if asset is not None:
                items.append(
                    {
                        "kind": "battery",
                        "asset": asset.name,
                        "subject": why,
                        "value": None,
                        "days": 0.0,
                        "per_day": None,
                    }
                )
        for disk in done.get("updates", {}).get("disks", []):
            if disk["status"] == "failing":
                items.append(
                    {
                        "kind": "disk_failing",
                        "asset": disk["asset"],
                        "subject": disk["device"],
                        "value": None,
                        "days": 0.0,
                        "per_day": None,
                    }
                )
        items.sort(key=lambda i: (i["days"], i["kind"], i["asset"], i["subject"]))
        trend_candidates.sort()
        chosen = trend_candidates[:TREND_LINES]
        daily = queries.daily_averages(ctx, [sid for _, sid, _ in chosen], h0, h_end)
        trends = [
            {"label": label, "points": [[ts, round(v, 2)] for ts, v in daily.get(sid, [])]}
            for _, sid, label in chosen
        ]
        return {
            "items": items,
            "count": len(items),
            "trend_lines": trends,
            "horizons": {
                "disk_full": DISK_HORIZON_DAYS,
                "toner_out": TONER_HORIZON_DAYS,
                "certificate": CERT_HORIZON_DAYS,
            },
        }
