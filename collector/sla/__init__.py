"""SLA clocks: business-time arithmetic (:mod:`.calendar`), the clocks of one incident
(:mod:`.clock`), their upkeep in the store (:mod:`.service`) and compliance per period
(:func:`compliance`)."""

from __future__ import annotations

from collector.sla.summary import compliance

__all__ = ["compliance"]
