"""FastAPI dependencies the management API and pages share.

:func:`current_time` is "now" of a view (``timeutil.now`` at the time of the request); a
test pins it with ``app.dependency_overrides[current_time] = lambda: NOW``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from collector import timeutil


def current_time() -> float:
    """FastAPI dependency: now, as UTC epoch seconds."""
    return timeutil.now()


Now = Annotated[float, Depends(current_time)]
