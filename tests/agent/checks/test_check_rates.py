"""CounterRates: per-second rates between two readings of cumulative counters."""

from __future__ import annotations

from agent.checks.rates import CounterRates


def test_first_reading_only_remembers() -> None:
    rates = CounterRates()
    assert rates.update(100.0, {"sda": {"read_bytes": 1000}}) == {}
    assert rates.update(110.0, {"sda": {"read_bytes": 6000}}) == {"sda": {"read_bytes": 500.0}}


def test_new_keys_wait_and_gone_keys_are_forgotten() -> None:
    rates = CounterRates()
    rates.update(0.0, {"a": {"x": 0}})
    assert rates.update(1.0, {"a": {"x": 5}, "b": {"x": 100}}) == {"a": {"x": 5.0}}
    assert rates.update(2.0, {"b": {"x": 150}}) == {"b": {"x": 50.0}}
    # "a" was gone for a reading: when it comes back, it starts over.
    assert rates.update(3.0, {"a": {"x": 1000}, "b": {"x": 150}}) == {"b": {"x": 0.0}}


def test_a_counter_that_went_backwards_has_no_rate_this_time() -> None:
    rates = CounterRates()
    rates.update(0.0, {"eth0": {"rx": 900, "tx": 10}})
    assert rates.update(10.0, {"eth0": {"rx": 100, "tx": 20}}) == {"eth0": {"tx": 1.0}}
    assert rates.update(20.0, {"eth0": {"rx": 200, "tx": 20}}) == {"eth0": {"rx": 10.0, "tx": 0.0}}


def test_no_time_passed_gives_no_rates() -> None:
    rates = CounterRates()
    rates.update(5.0, {"a": {"x": 1}})
    assert rates.update(5.0, {"a": {"x": 2}}) == {}
    assert rates.update(6.0, {"a": {"x": 4}}) == {"a": {"x": 2.0}}
