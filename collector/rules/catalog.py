"""Metric names rules may refer to: the agent's check catalogs plus the SNMP and network metrics.

``rules check`` warns (does not fail) on a metric outside this list: a custom check or a
newer agent may send it. The SNMP/network names follow issue 5 (printer, switch, UPS
profiles; ping, TCP, HTTP, TLS checks); where that issue does not name a metric, the
name here is the one the default rule packs assume (see docs/rules.md).
"""

from __future__ import annotations

import functools

#: Metrics of the SNMP poller and the network checks (agent side built separately).
SNMP_AND_NETWORK: dict[str, tuple[str, ...]] = {
    # printers (Printer-MIB, HOST-RESOURCES-MIB)
    "printer_supply_level_percent": ("supply", "supply_type", "color"),
    "printer_supply_state": ("supply", "supply_type", "color", "state"),
    "printer_page_count_total": (),
    "printer_error": ("flag",),
    "printer_status": (),
    "device_status": (),
    "printer_cover_open": ("cover",),
    "printer_input_tray_level_percent": ("tray",),
    # switches (IF-MIB)
    "if_oper_status": ("ifindex", "ifname", "ifalias"),
    "if_admin_status": ("ifindex", "ifname", "ifalias"),
    "if_in_bits_per_second": ("ifindex", "ifname", "ifalias"),
    "if_out_bits_per_second": ("ifindex", "ifname", "ifalias"),
    "if_in_errors_per_second": ("ifindex", "ifname", "ifalias"),
    "if_out_errors_per_second": ("ifindex", "ifname", "ifalias"),
    "if_in_discards_per_second": ("ifindex", "ifname", "ifalias"),
    "if_out_discards_per_second": ("ifindex", "ifname", "ifalias"),
    "if_speed_bits_per_second": ("ifindex", "ifname", "ifalias"),
    # UPS (UPS-MIB)
    "ups_on_battery": (),
    "ups_battery_status": (),
    "ups_battery_charge_percent": (),
    "ups_battery_minutes_remaining": (),
    "ups_seconds_on_battery": (),
    "ups_input_voltage_volts": ("line",),
    "ups_output_load_percent": ("line",),
    "ups_alarms_present": (),
    "ups_alarm": ("alarm",),
    # any SNMP device
    "snmp_up": (),
    "snmp_uptime_seconds": (),
    # network checks (ping3, TCP, HTTP, TLS, DNS)
    "ping_up": ("target", "method"),
    "ping_loss_ratio": ("target", "method"),
    "ping_rtt_seconds": ("target", "method", "stat"),
    "tcp_up": ("target", "port"),
    "tcp_connect_seconds": ("target", "port"),
    "http_up": ("url",),
    "http_status_code": ("url",),
    "http_response_seconds": ("url",),
    "tls_cert_expiry_seconds": ("target",),
    "dns_resolve_seconds": ("name",),
}


@functools.cache
def known_metrics() -> frozenset[str]:
    """Every metric name the agent is known to send."""
    from agent.checks.base import BASE_CATALOG
    from agent.checks.registry import CHECKS, check_class

    names = {spec.name for spec in BASE_CATALOG}
    for check in CHECKS:
        try:
            names.update(spec.name for spec in check_class(check).catalog)
        except Exception:  # a check that cannot import here (platform) still has rules elsewhere
            continue
    names.update(SNMP_AND_NETWORK)
    return frozenset(names)
