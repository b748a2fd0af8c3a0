"""Per-second rates from cumulative counters, remembered between runs of one check.

psutil reports disk and network counters since boot; an admin's rule needs "bytes per
second now". A rate needs the previous reading, so the first run of a check only
remembers, and a device that appears later gets rates from its second reading on.
"""

from __future__ import annotations

from collections.abc import Mapping


class CounterRates:
    """Turns successive readings of named counter sets into per-second rates."""

    def __init__(self) -> None:
        self._last_time: float | None = None
        self._last: dict[str, Mapping[str, float]] = {}

    def update(
        self, now: float, readings: dict[str, Mapping[str, float]]
    ) -> dict[str, dict[str, float]]:
        """Rates per key and counter since the previous call; remembers ``readings``.

        ``now`` is a monotonic clock, so a wall-clock step cannot produce a huge rate.
        A counter that went backwards (device re-created, counter reset or wrapped) has
        no rate this time rather than a negative or absurd one. Keys no longer present
        are forgotten, so a removed device does not linger.
        """
        rates: dict[str, dict[str, float]] = {}
        if self._last_time is not None and now > self._last_time:
            elapsed = now - self._last_time
            for key, counters in readings.items():
                previous = self._last.get(key)
                if previous is None:
                    continue
                rates[key] = {
                    name: (value - previous[name]) / elapsed
                    for name, value in counters.items()
                    if name in previous and value >= previous[name]
                }
        self._last_time = now
        self._last = readings
        return rates
