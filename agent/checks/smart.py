"""Disk health from SMART, read with smartctl (smartmontools) in JSON mode."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample, Unsupported
from agent.schema import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)

#: smartmontools' Windows installer does not put smartctl on PATH.
WINDOWS_SMARTCTL = r"C:\Program Files\smartmontools\bin\smartctl.exe"
#: Exit status bits that mean "no data": bit 0 command line error, bit 1 device could
#: not be opened (or was skipped in standby). The other bits report disk problems in
#: data that is still there to read.
_NO_DATA_BITS = 0b11
#: ATA attribute ids (same meaning on every vendor's drives).
_ATA_REALLOCATED, _ATA_PENDING = 5, 197
_DEVICE = ("device",)


class SmartDevice(BaseModel):
    """A disk to read. A plain string in the config means ``{name: …}``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="e.g. /dev/sda, /dev/nvme0")
    type: str | None = Field(
        default=None, min_length=1, description="smartctl -d TYPE, e.g. sat, nvme, megaraid,0"
    )


class SmartConfig(CheckConfig):
    """Options of the ``smart`` check."""

    devices: list[SmartDevice] = Field(
        default_factory=list, description="default: every device smartctl --scan-open finds"
    )
    use_sudo: bool = Field(
        default=False,
        description="run smartctl through 'sudo -n' (reading SMART needs root; the agent does not run as root)",
    )

    @field_validator("devices", mode="before")
    @classmethod
    def _strings_are_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


class SmartCheck(Check):
    """Health verdict and wear indicators of each disk.

    Disks in standby are skipped (``-n standby``) rather than spun up every hour; they
    are read on a later run when they are awake.
    """

    name: ClassVar[str] = "smart"
    Config: ClassVar[type[CheckConfig]] = SmartConfig
    default_interval: ClassVar[float | None] = 3600.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "smart_healthy",
            "gauge",
            "",
            ("device", "model", "serial"),
            "1 if the disk's own SMART health assessment passes, 0 if it predicts failure",
        ),
        MetricSpec(
            "smart_temperature_celsius", "gauge", "celsius", _DEVICE, "Current disk temperature"
        ),
        MetricSpec(
            "smart_power_on_seconds",
            "gauge",
            "seconds",
            _DEVICE,
            "Time the disk has been powered on",
        ),
        MetricSpec(
            "smart_reallocated_sectors",
            "gauge",
            "",
            _DEVICE,
            "Sectors remapped to spares (ATA attribute 5; SCSI grown defect list)",
        ),
        MetricSpec(
            "smart_pending_sectors",
            "gauge",
            "",
            _DEVICE,
            "Unstable sectors waiting to be remapped (ATA attribute 197)",
        ),
        MetricSpec(
            "smart_media_errors_total",
            "counter",
            "",
            _DEVICE,
            "Unrecovered data integrity errors (NVMe)",
        ),
        MetricSpec(
            "smart_endurance_used_percent",
            "gauge",
            "percent",
            _DEVICE,
            "Share of rated write endurance used; may exceed 100 (NVMe percentage_used)",
        ),
        MetricSpec(
            "smart_available_spare_percent",
            "gauge",
            "percent",
            _DEVICE,
            "Spare capacity left (NVMe)",
        ),
    )

    config: SmartConfig

    def _smartctl(self) -> str | None:
        if found := self.host.which("smartctl"):
            return found
        if self.host.platform == "win32" and self.host.path_exists(WINDOWS_SMARTCTL):
            return WINDOWS_SMARTCTL
        return None

    def unsupported(self) -> str | None:
        if self._smartctl() is None:
            return "smartctl not found (install smartmontools)"
        return None

    def collect(self) -> Iterator[Sample]:
        smartctl = self._smartctl()
        if smartctl is None:
            raise Unsupported("smartctl not found (install smartmontools)")
        prefix = ["sudo", "-n", smartctl] if self.config.use_sudo else [smartctl]
        devices = self.config.devices or self._scan(prefix)
        errors: list[str] = []
        answered = 0  # devices read, or skipped because they sleep
        for device in devices:
            argv = [*prefix, "--json", "-n", "standby", "-a"]
            if device.type:
                argv += ["-d", device.type]
            data = self._json(argv + [device.name])
            status = data.get("smartctl", {}).get("exit_status", 0)
            if status & _NO_DATA_BITS:
                text = "; ".join(
                    m.get("string", "") for m in data.get("smartctl", {}).get("messages", [])
                )
                if "standby" in text.lower():
                    log.debug("smart: %s is in standby, not woken up", device.name)
                    answered += 1
                else:
                    errors.append(f"{device.name}: {text or f'smartctl exit status {status}'}")
                continue
            answered += 1
            yield from device_samples(_label(device), data)
        if errors and not answered:
            raise RuntimeError("; ".join(errors) + self._root_hint())
        for error in errors:
            log.warning("smart: %s", error)

    def _scan(self, prefix: list[str]) -> list[SmartDevice]:
        data = self._json([*prefix, "--scan-open", "--json"])
        devices, errors = [], []
        for entry in data.get("devices", []):
            if entry.get("open_error"):
                errors.append(f"{entry.get('name')}: {entry['open_error']}")
            elif entry.get("name"):
                devices.append(SmartDevice(name=entry["name"], type=entry.get("type")))
        if not devices and errors:
            raise RuntimeError(
                "smartctl cannot open any device: " + "; ".join(errors) + self._root_hint()
            )
        if not devices:
            raise Unsupported("smartctl finds no disks with SMART (virtual machine?)")
        return devices

    def _root_hint(self) -> str:
        return (
            "" if self.config.use_sudo else " (reading SMART needs root: see the use_sudo option)"
        )

    def _json(self, argv: list[str]) -> dict[str, Any]:
        result = self.host.run(argv, timeout=self.config.effective_timeout(), env={"LC_ALL": "C"})
        try:
            data = json.loads(result.stdout)
        except ValueError:
            detail = (result.stderr or result.stdout).strip()[-300:]
            raise RuntimeError(
                f"{' '.join(argv)} exited with {result.returncode}: {detail}"
            ) from None
        if not isinstance(data, dict):
            raise RuntimeError(f"{' '.join(argv)}: unexpected JSON")
        return data


def _label(device: SmartDevice) -> str:
    # Disks behind a RAID controller share one device name (/dev/bus/0 -d megaraid,3);
    # the type tells them apart.
    return f"{device.name}:{device.type}" if device.type and "," in device.type else device.name


def device_samples(device: str, data: dict[str, Any]) -> Iterator[Sample]:
    """Samples from one ``smartctl --json -a`` document. Nothing if SMART is unavailable."""
    passed = data.get("smart_status", {}).get("passed")
    if passed is None:
        return  # USB bridges and some controllers hide SMART; no verdict, no samples
    labels = {"device": device}
    model = data.get("model_name") or data.get("scsi_model_name") or ""
    yield Sample(
        "smart_healthy",
        1.0 if passed else 0.0,
        {"device": device, "model": model, "serial": data.get("serial_number", "")},
    )
    values: dict[str, float] = {}
    if (temperature := data.get("temperature", {}).get("current")) is not None:
        values["smart_temperature_celsius"] = temperature
    if (hours := data.get("power_on_time", {}).get("hours")) is not None:
        values["smart_power_on_seconds"] = (
            hours * 3600 + data["power_on_time"].get("minutes", 0) * 60
        )
    for attribute in data.get("ata_smart_attributes", {}).get("table", []):
        if attribute.get("id") == _ATA_REALLOCATED:
            values["smart_reallocated_sectors"] = attribute["raw"]["value"]
        elif attribute.get("id") == _ATA_PENDING:
            values["smart_pending_sectors"] = attribute["raw"]["value"]
    if (defects := data.get("scsi_grown_defect_list")) is not None:
        values["smart_reallocated_sectors"] = defects
    nvme = data.get("nvme_smart_health_information_log", {})
    for field, metric in (
        ("media_errors", "smart_media_errors_total"),
        ("percentage_used", "smart_endurance_used_percent"),
        ("available_spare", "smart_available_spare_percent"),
    ):
        if nvme.get(field) is not None:
            values[metric] = nvme[field]
    for metric, value in values.items():
        yield Sample(metric, value, dict(labels))
