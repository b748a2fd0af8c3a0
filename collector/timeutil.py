"""UTC epoch seconds in the store, aware datetimes at the edges."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import overload


def now() -> float:
    """Current UTC time as epoch seconds (what the store keeps)."""
    return time.time()


@overload
def to_datetime(epoch: float) -> datetime: ...
@overload
def to_datetime(epoch: None) -> None: ...
@overload
def to_datetime(epoch: float | None) -> datetime | None: ...
def to_datetime(epoch: float | None) -> datetime | None:
    """Epoch seconds → timezone-aware UTC datetime (None stays None)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)
