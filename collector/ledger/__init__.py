"""The prepaid points ledger: charges, statements, service requests, low-balance notices.

- :mod:`collector.ledger.charges` — the arithmetic (pure);
- :mod:`collector.ledger.service` — append-only entries, periods, incident charges;
- :mod:`collector.ledger.requests` — service requests with estimates and approvals;
- :mod:`collector.ledger.runtime` — :class:`~collector.ledger.runtime.Ledger`, what the API,
  the CLI and the collector use (by client name and request key, one transaction each).

``collector.ledger.statement(conn, client_id, period)`` returns a period's statement as a
dict (docs/ledger.md describes its shape).
"""

from __future__ import annotations

from collector.ledger.service import balance, ensure_periods, statement

__all__ = ["balance", "ensure_periods", "statement"]
