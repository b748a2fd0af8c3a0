"""``agent.schema`` answers like pydantic: the same values and the same errors (type, place,
message) for the same model, so the agent's config errors did not change with the switch.

No ``from __future__ import annotations`` here: the models are built inside a function for
both libraries, and string annotations could not see the function's local ``Inner``.
"""

from pathlib import Path
from typing import Annotated, Literal

import pydantic
import pytest

from agent import schema
from agent.durations import Duration


def _upper(value: str) -> str:
    if value != value.strip():
        raise ValueError("no blanks around it")
    return value.upper()


def models(lib):
    """The same models written against either library."""

    class Inner(lib.BaseModel):
        model_config = lib.ConfigDict(extra="forbid")
        a: str = "x"
        n: int = lib.Field(default=0, ge=0)

    class Outer(lib.BaseModel):
        model_config = lib.ConfigDict(extra="forbid")
        i: int = lib.Field(default=1, ge=1, le=20)
        f: float = lib.Field(default=1.0, gt=0, lt=100)
        b: bool = True
        s: str = lib.Field(default="aa", min_length=2, max_length=3, pattern=r"^a")
        p: Path | None = None
        d_or_none: Duration | None = lib.Field(default=None, gt=0)
        dur: Duration = lib.Field(default=5.0, gt=0, le=60)
        items: list[str] = lib.Field(default_factory=lambda: ["a"], min_length=1)
        mapping: dict[str, int] = lib.Field(default_factory=dict)
        lit: Literal["a", "b", "c"] = "a"
        one: Literal["x"] = "x"
        inner: Inner = lib.Field(default_factory=Inner)
        inners: list[Inner] = lib.Field(default_factory=list)
        either: list[str] | dict[str, str] = lib.Field(default_factory=list)
        secret: lib.SecretStr | None = None
        shout: Annotated[str, lib.AfterValidator(_upper)] = "A"
        required_int: int

        @lib.field_validator("items")
        @classmethod
        def _unique(cls, value):
            if len(set(value)) != len(value):
                raise ValueError("listed twice")
            return value

        @lib.field_validator("inners", mode="before")
        @classmethod
        def _strings(cls, value):
            if isinstance(value, list):
                return [{"a": v} if isinstance(v, str) else v for v in value]
            return value

        @lib.model_validator(mode="after")
        def _not_both(self):
            if self.p is not None and self.secret is not None:
                raise ValueError("give either p or secret, not both")
            return self

    return Outer


VALUES = {
    "i": [True, False, 1.5, 2.0, "5", " 4 ", "3.0", "3.5", "x", None, [], 0, 21, 20],
    "f": [True, "lots", None, "1e3", 0, -1, [], "inf", 99.5, 100, "2"],
    "b": ["yes", "Off", "maybe", 2, None, 1.0, 0, "1", "TRUE", []],
    "s": [1, "b", "abcd", "", None, "ba", "abc"],
    "p": [1, "", None, "/x", ["/x"]],
    "d_or_none": [None, "5m", 0, "-1", "soon", True, [], "1h30m", "0s"],
    "dur": ["61s", "1m", 60, "x", None, 0.5],
    "items": [[], "x", [1], None, ["a", "a"], ["a", 2, None], ("a",)],
    "mapping": [[], {"a": "1"}, {"a": "x"}, {1: 2}, None],
    "lit": ["d", 1, "b", None],
    "one": ["y", "x"],
    "inner": [1, "x", {"b": 1}, None, {"a": 1, "n": -1, "z": 0}, {}],
    "inners": [[1], "x", ["a", {"a": 2}], [{"n": "x"}]],
    "either": [1, [1], {"a": 1}, ["a"], {"a": "b"}],
    "secret": [1, "s3cret", None, ""],
    "shout": ["abc", " abc", 5],
    "required_int": ["1", "x"],
}


def outcome(model, data):
    try:
        value = model.model_validate(data)
    except (pydantic.ValidationError, schema.ValidationError) as exc:
        return [(e["type"], tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    return {
        name: (v.get_secret_value() if hasattr(v, "get_secret_value") else v)
        for name, v in ((n, getattr(value, n)) for n in type(value).model_fields)
        if name not in ("inner", "inners")
    } | {
        "inner": (value.inner.a, value.inner.n),
        "inners": [(x.a, x.n) for x in value.inners],
        "fields_set": sorted(value.model_fields_set),
    }


REFERENCE, OURS = models(pydantic), models(schema)
CASES = [({name: v, "required_int": 1}, f"{name}={v!r}") for name, vs in VALUES.items() for v in vs]
CASES += [
    ({}, "missing"),
    ({"required_int": "x", "zz": 1, "i": "x", "aa": 2}, "extras after field errors"),
    ({"required_int": 1, "p": "/x", "secret": "s"}, "model validator"),
    ({"required_int": 1, "p": "/x", "secret": "s", "i": 0}, "no model validator on errors"),
    (1, "not a mapping"),
    ([1], "a list"),
    (None, "None"),
]


@pytest.mark.parametrize("data", [c[0] for c in CASES], ids=[c[1] for c in CASES])
def test_same_answer_as_pydantic(data):
    assert outcome(OURS, data) == outcome(REFERENCE, data)


def test_copy_dump_and_secrets():
    value = OURS.model_validate({"required_int": 3, "secret": "s3cret"})
    assert "s3cret" not in repr(value) and value.secret.get_secret_value() == "s3cret"
    copy = value.model_copy(update={"i": 7})
    assert copy.i == 7 and value.i == 1 and copy.required_int == 3
    assert "i" in copy.model_fields_set and "i" not in value.model_fields_set
    assert OURS(required_int=3, secret="s3cret") == value
    with pytest.raises(schema.ValidationError, match="required_int: Field required"):
        OURS()
    first, second = (
        OURS.model_validate({"required_int": 1}),
        OURS.model_validate({"required_int": 1}),
    )
    first.items.append("b")
    assert second.items == ["a"], "defaults are not shared between instances"
