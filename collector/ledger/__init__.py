"""The prepaid points ledger: charges, statements, service requests, low-balance notices.

- :mod:`collector.ledger.charges` — the arithmetic and the statement's types (pure);
- :mod:`collector.ledger.entries` — append-only entries, periods, top-ups, low balance;
- :mod:`collector.ledger.service` — incident charges;
- :mod:`collector.ledger.requests` — service requests with estimates and approvals;
- :mod:`collector.ledger.read` — the read model: statements, period figures, balances
  (what the API, the CLI, the reports, the management views and the web UI show);
- :mod:`collector.ledger.runtime` — :class:`~collector.ledger.runtime.Ledger`, what the API,
  the CLI and the collector use (by client name and request key, one transaction each).

``collector.ledger.statement(conn, client_id, period)`` returns a period's
:class:`~collector.ledger.charges.Statement` (``as_json()``: the shape docs/ledger.md describes).
"""

from __future__ import annotations

from collector.ledger.entries import balance, ensure_periods
from collector.ledger.read import statement

__all__ = ["balance", "ensure_periods", "statement"]
