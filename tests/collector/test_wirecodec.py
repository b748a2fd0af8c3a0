"""The fast batch decoder (collector.wirecodec) against the contract's pydantic model.

Both ends of the contract tied together: for every body, what ``parse_batch`` (the decoder
the batch endpoint runs) answers is what the pydantic model ``agent.wire.Batch`` answers —
the same values for an accepted batch, the same 4xx status, error code, ``detail`` and
``fields`` naming the field for a refused one. A table of the bad inputs the API tests use
(and the corners where msgspec and pydantic differ), then property tests over generated
bodies, valid and broken.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from agent import wire
from collector import wirecodec
from collector.api import parse_batch
from collector.errors import UpkeepError, from_validation, status_for

NOW = 1_750_000_000.0
AGENT_ID = "6f1c1c9e-8a36-4c53-9d2b-2f4f4f1f0a11"
BATCH_ID = "0b7e7c58-3c3e-4a55-8c86-2a3b6f5b1d22"

_SENT_AT = TypeAdapter(datetime)


def _good() -> dict[str, Any]:
    return {
        "batch_id": BATCH_ID,
        "seq": 7,
        "sent_at": NOW,
        "agent": {"id": AGENT_ID, "version": "0.1.0", "hostname": "srv1", "site": "hq"},
        "assets": [
            {"name": "srv1", "kind": "host", "tags": ["a"], "attributes": {"cores": 4}},
            {"name": "prn", "kind": "printer", "vendor": "ACME", "serial": None},
        ],
        "samples": [
            {
                "asset": "srv1",
                "metric": "cpu_usage_percent",
                "labels": {},
                "value": 12.5,
                "ts": NOW,
            },
            {
                "asset": "srv1",
                "metric": "disk_used_percent",
                "labels": {"mountpoint": "/", "device": "/dev/sda1"},
                "value": 40,
                "ts": NOW,
            },
            {"asset": "prn", "metric": "snmp_up", "value": 1.0, "ts": NOW},
        ],
        "events": [{"asset": "srv1", "type": "reboot", "ts": NOW, "data": {"uptime": 3}}],
    }


def _dump(batch: Any) -> dict[str, Any]:
    """A decoded batch (either kind) as plain values, to compare the two decoders."""
    if isinstance(batch, wire.Batch):
        out = batch.model_dump()
    else:
        out = msgspec.to_builtins(batch, builtin_types=(uuid.UUID,))
        out["sent_at"] = _SENT_AT.validate_python(out["sent_at"])
    return out


def _reference(raw: bytes) -> tuple[str, Any]:
    """What the pydantic model answers: ("ok", values) or ("error", (status, code, body))."""
    if b"\\u0000" in raw:
        pytest.skip("NUL is refused before any decoder runs (see test_nul_is_refused_first)")
    try:
        return "ok", _dump(wire.Batch.model_validate_json(raw))
    except ValidationError as exc:
        err = from_validation(exc)
        return "error", (status_for(err), err.code, err.detail, err.fields)


def _fast(raw: bytes) -> tuple[str, Any]:
    """What the batch endpoint's decoder answers, in the same terms."""
    try:
        return "ok", _dump(parse_batch(raw))
    except UpkeepError as err:
        return "error", (status_for(err), err.code, err.detail, err.fields)


def _same(raw: bytes) -> tuple[str, Any]:
    fast, ref = _fast(raw), _reference(raw)
    assert fast == ref, raw[:400]
    return fast


def _with(path: str, value: Any, *, raw: str | None = None) -> bytes:
    """The good batch with ``path`` (a.b.0.c) set to ``value``; ``raw`` = a bare JSON literal;
    value ``...`` deletes the key."""
    body = _good()
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = "\x01PLACEHOLDER\x01" if raw is not None else value
    text = json.dumps(body)
    if raw is not None:
        text = text.replace(json.dumps("\x01PLACEHOLDER\x01"), raw)
    return text.encode()


def test_a_good_batch_takes_the_fast_path_with_the_same_values():
    raw = json.dumps(_good()).encode()
    assert isinstance(parse_batch(raw), wirecodec.Batch)
    assert _same(raw)[0] == "ok"
    # The ingest path reads the same attributes from both.
    fast, ref = wirecodec.decode_batch(raw), wire.Batch.model_validate_json(raw)
    assert (
        fast.samples[1].labels
        == ref.samples[1].labels
        == {
            "mountpoint": "/",
            "device": "/dev/sda1",
        }
    )
    assert fast.samples[1].value == ref.samples[1].value == 40.0
    assert type(fast.samples[1].value) is float
    assert fast.agent.site == ref.agent.site == "hq"
    assert fast.assets[1].tags == ref.assets[1].tags == []


# Every bad input of tests/collector/test_api.py and test_finite_json.py, plus the corners
# where msgspec and pydantic read JSON differently.
BAD = {
    # test_api.py
    "malformed json": b'{"batch_id": ',
    "wrong type samples[3].value": None,
    "missing agent.id": _with("agent.id", ...),
    "seq 2**64": _with("seq", 2**64),
    # test_finite_json.py: NaN/Infinity/1e999 in attributes, nested, event data, value
    **{
        f"{literal} in {where}": _with(path, None, raw=literal)
        for literal in ("NaN", "Infinity", "-Infinity", "1e999")
        for where, path in (
            ("attributes", "assets.0.attributes.temp"),
            ("nested", "assets.0.attributes.sensors"),
            ("event", "events.0.data.boot_time"),
            ("value", "samples.0.value"),
            ("ts", "samples.0.ts"),
            ("sent_at", "sent_at"),
        )
    },
    # the contract's constraints
    "extra field": _with("extra", 1),
    "extra field in a sample": _with("samples.0.unit", "percent"),
    "bad metric name": _with("samples.0.metric", "cpu-usage"),
    "metric with a trailing newline": _with("samples.0.metric", "cpu\n"),
    "empty metric": _with("samples.0.metric", ""),
    "label name starting with __": _with("samples.0.labels", {"__name__": "x"}),
    "bad label name": _with("samples.0.labels", {"mount-point": "/"}),
    "label value not a string": _with("samples.0.labels", {"cpu": 0}),
    "label value too long": _with("samples.0.labels", {"x": "v" * 1025}),
    "33 labels": _with("samples.0.labels", {f"l{i}": "v" for i in range(33)}),
    "value as a string": _with("samples.0.value", "12.5"),
    "value as a bool": _with("samples.0.value", True),
    "value null": _with("samples.0.value", None),
    "ts in milliseconds": _with("samples.0.ts", NOW * 1000),
    "ts as a string": _with("samples.0.ts", str(NOW)),
    "ts before 2001": _with("samples.0.ts", 9e8),
    "seq negative": _with("seq", -1),
    "seq 3.5": _with("seq", 3.5),
    "seq as a string": _with("seq", "3"),
    "seq as a bool": _with("seq", True),
    "batch_id not a uuid": _with("batch_id", "not-a-uuid"),
    "agent id an int": _with("agent.id", 5),
    "empty hostname": _with("agent.hostname", ""),
    "empty site": _with("agent.site", ""),
    "version too long": _with("agent.version", "v" * 201),
    "kind with capitals": _with("assets.0.kind", "Host"),
    "kind with a trailing newline": _with("assets.0.kind", "host\n"),
    "51 tags": _with("assets.0.tags", ["t"] * 51),
    "tag not a string": _with("assets.0.tags", [1]),
    "51 attributes": _with("assets.0.attributes", {f"a{i}": i for i in range(51)}),
    "description too long": _with("assets.0.description", "d" * 2001),
    "event type bad": _with("events.0.type", "Reboot!"),
    "event message too long": _with("events.0.message", "m" * 4001),
    "event data not an object": _with("events.0.data", [1, 2]),
    "samples not a list": _with("samples", {"a": 1}),
    "1001 assets": _with("assets", [{"name": f"a{i}", "kind": "host"} for i in range(1001)]),
    "sent_at not a time": _with("sent_at", "yesterday"),
    "sent_at a bool": _with("sent_at", True),
    "top level a list": b"[]",
    "top level a string": b'"batch"',
    "empty body": b"",
    "lone surrogate": _with("agent.hostname", None, raw='"\\ud800"'),
    "raw control character": _with("agent.hostname", None, raw='"a\x01b"'),
    "invalid utf-8": _with("agent.hostname", None, raw='"caf\xe9"').replace(b"\xc3\xa9", b"\xe9"),
    "trailing garbage": json.dumps(_good()).encode() + b" x",
    "two documents": json.dumps(_good()).encode() * 2,
}
_wrong_type = _good()
_wrong_type["samples"] += [
    {"asset": "srv1", "metric": "m", "value": 1.0, "ts": NOW},
    {"asset": "srv1", "metric": "m2", "value": "high", "ts": NOW},
]
BAD["wrong type samples[3].value"] = json.dumps(_wrong_type).encode()

#: Accepted by the contract in a looser spelling: the fast path passes them to pydantic.
LOOSE = {
    "seq 3.0": _with("seq", 3.0),
    "sent_at RFC 3339": _with("sent_at", "2025-06-15T12:00:00Z"),
    "sent_at naive": _with("sent_at", "2025-06-15T12:00:00"),
    "sent_at in milliseconds": _with("sent_at", NOW * 1000),
    "uuid without hyphens": _with("batch_id", uuid.UUID(BATCH_ID).hex),
    "uuid in capitals": _with("batch_id", BATCH_ID.upper()),
    "label name with a trailing newline": _with("samples.0.labels", {"cpu\n": "0"}),
    "value an int": _with("samples.0.value", 3),
    "ts an int": _with("samples.0.ts", int(NOW)),
    "no samples, assets or events": _with("samples", ...),
    "duplicate keys": json.dumps(_good()).encode()[:-1] + b', "seq": 9}',
    "huge int attribute": _with("assets.0.attributes.big", 10**30),
    "null vendor": _with("assets.1.vendor", None),
    "whitespace around": b"  \n" + json.dumps(_good()).encode() + b"\n ",
    "astral characters": _with("agent.hostname", "srv-\U0001f600"),
    "escaped slash": _with("agent.hostname", None, raw='"a\\/b"'),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inputs_get_the_contracts_answer(case):
    outcome, answer = _same(BAD[case])
    assert outcome == "error", case
    status, code, detail, fields = answer
    assert status in (400, 422), answer
    assert code in ("malformed_body", "invalid_batch")
    # A refusal names where: the field (422) or what is wrong with the body (400).
    assert detail and (status == 400 or fields), answer


@pytest.mark.parametrize("case", sorted(LOOSE))
def test_looser_spellings_are_accepted_alike(case):
    outcome, _ = _same(LOOSE[case])
    assert outcome == "ok", case


def test_nul_is_refused_first():
    raw = _with("agent.hostname", "a\u0000b")
    with pytest.raises(UpkeepError) as err:
        parse_batch(raw)
    assert (status_for(err.value), err.value.code) == (422, "invalid_batch")
    assert [f["type"] for f in err.value.fields] == ["nul_character"]


# ---------------------------------------------------------------------- property tests

_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["srv1", "cpu", "a_b", "__x", "A:b", "x\n", "", "host", "é", "1a", " "]),
)
_number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([1e9, 1e10, 1e10 + 1, 999_999_999.9, 0.0, -0.0, 2**63 - 1, 2**63]),
    st.floats(min_value=1e9, max_value=1e10),
)
_scalar = st.one_of(st.none(), st.booleans(), _number, _text)
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)


def _maybe(value: st.SearchStrategy, other: st.SearchStrategy = _json) -> st.SearchStrategy:
    """Mostly a valid value, sometimes anything at all."""
    return st.one_of(value, value, value, other)


_labels = _maybe(
    st.dictionaries(
        st.sampled_from(["cpu", "mode", "mountpoint", "x\n", "__a", "a-b", "B_1"]),
        _maybe(st.sampled_from(["0", "/", "", "v" * 1024, "v" * 1025])),
        max_size=4,
    )
)
_sample = st.fixed_dictionaries(
    {
        "asset": _maybe(st.sampled_from(["srv1", "prn", ""])),
        "metric": _maybe(st.sampled_from(["cpu_usage_percent", "a:b", "1x", "x y", "m\n"])),
        "value": _maybe(_number),
        "ts": _maybe(st.one_of(st.just(NOW), st.floats(min_value=9.9e8, max_value=1.01e10))),
    },
    optional={"labels": _labels, "extra": _json},
)
_asset = st.fixed_dictionaries(
    {
        "name": _maybe(st.sampled_from(["srv1", "prn", "x" * 253, "x" * 254])),
        "kind": _maybe(st.sampled_from(["host", "printer", "Host", "a1_", "1a", "host\n"])),
    },
    optional={
        "vendor": _maybe(st.one_of(st.none(), st.text(max_size=5))),
        "tags": _maybe(st.lists(st.text(max_size=3), max_size=3)),
        "attributes": _maybe(st.dictionaries(_text, _json, max_size=3)),
        "description": _maybe(st.one_of(st.none(), st.text(max_size=5))),
    },
)
_event = st.fixed_dictionaries(
    {
        "asset": _maybe(st.just("srv1")),
        "type": _maybe(st.sampled_from(["reboot", "check_error", "Bad", ""])),
        "ts": _maybe(st.just(NOW)),
    },
    optional={
        "message": _maybe(st.text(max_size=5)),
        "data": _maybe(st.dictionaries(_text, _json, max_size=3)),
    },
)
_batch = st.fixed_dictionaries(
    {
        "batch_id": _maybe(
            st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.just("x"))
        ),
        "seq": _maybe(st.integers(min_value=0, max_value=2**63 - 1), _number),
        "sent_at": _maybe(
            st.one_of(
                st.just(NOW),
                st.floats(min_value=-1e12, max_value=1e14),
                st.sampled_from(["2025-06-15T12:00:00Z", "2025-06-15 12:00", "2025-06-15"]),
            )
        ),
        "agent": _maybe(
            st.fixed_dictionaries(
                {
                    "id": _maybe(st.uuids().map(str)),
                    "version": _maybe(st.text(max_size=4)),
                    "hostname": _maybe(st.sampled_from(["srv1", ""])),
                },
                optional={"site": _maybe(st.sampled_from(["hq", ""])), "os": _text},
            )
        ),
    },
    optional={
        "assets": _maybe(st.lists(_asset, max_size=3)),
        "samples": _maybe(st.lists(_sample, max_size=4)),
        "events": _maybe(st.lists(_event, max_size=2)),
        "unknown": _json,
    },
)


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batch)
def test_generated_batches_get_the_same_answer(body):
    raw = _encode(body)
    if b"\\u0000" in raw or "\x00" in raw.decode("utf-8", "surrogatepass"):
        return  # refused before either decoder (test_nul_is_refused_first)
    _same(raw)


@settings(max_examples=150, deadline=None)
@given(st.lists(_sample, min_size=1, max_size=20))
def test_generated_samples_in_a_good_batch_get_the_same_answer(samples):
    body = _good()
    body["samples"] = samples
    _same(_encode(body))


def test_the_fast_path_is_taken_for_what_agents_send():
    """Whatever a real agent sends passes msgspec's own checks (no fallback cost)."""
    body = _good()
    body["samples"] = [
        {"asset": "srv1", "metric": f"m_{i}", "labels": {"i": str(i)}, "value": i * 1.5, "ts": NOW}
        for i in range(200)
    ]
    decoded = parse_batch(_encode(body))
    assert isinstance(decoded, wirecodec.Batch)
    assert all(math.isfinite(s.value) for s in decoded.samples)
