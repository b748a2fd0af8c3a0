"""Re-notification back-off, pure: never more often than configured."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.incidents.renotify import RenotifyPolicy, backoff, next_reminder_at, reminder_due

H = 3600.0
POLICY = RenotifyPolicy(interval="1h", factor=2, max_interval="6h")


@pytest.mark.parametrize(
    ("sent", "wait"), [(0, 1 * H), (1, 2 * H), (2, 4 * H), (3, 6 * H), (10, 6 * H)]
)
def test_backoff_doubles_up_to_the_max(sent, wait):
    assert backoff(POLICY, sent) == wait


@pytest.mark.parametrize(
    ("elapsed", "sent", "due"),
    [
        (0, 0, False),
        (H - 1, 0, False),
        (H, 0, True),
        (H, 1, False),
        (2 * H, 1, True),
        (5 * H, 3, False),
        (6 * H, 3, True),
        (6 * H, 50, True),
    ],
)
def test_reminder_due(elapsed, sent, due):
    assert reminder_due(POLICY, 1000.0, sent, 1000.0 + elapsed) is due


def test_zero_interval_turns_reminders_off():
    off = RenotifyPolicy(interval=0)
    assert not reminder_due(off, 0.0, 0, 10 * 86400)
    assert next_reminder_at(off, 0.0, 0) is None
    assert next_reminder_at(POLICY, 0.0, 2) == 4 * H


def test_max_below_interval_never_shortens_the_interval():
    assert backoff(RenotifyPolicy(interval="2h", max_interval="1h"), 5) == 2 * H


@given(
    st.floats(min_value=1, max_value=86400),
    st.floats(min_value=1, max_value=10),
    st.floats(min_value=1, max_value=7 * 86400),
    st.integers(min_value=0, max_value=1000),
)
def test_never_more_often_than_the_interval(interval, factor, max_interval, sent):
    policy = RenotifyPolicy(interval=interval, factor=factor, max_interval=max_interval)
    assert backoff(policy, sent) >= interval
    assert not reminder_due(policy, 0.0, sent, interval * 0.999)
