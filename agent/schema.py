"""A small config schema for the agent with pydantic's API and pydantic's error messages.

The agent validates one YAML file at start-up. pydantic did that well but cost ~13 MiB of
the agent's memory (its import plus the validators it builds), more than half of a host
agent's budget. This module covers what the agent's config models use — annotated fields
with ``Field(...)`` constraints, ``str``/``int``/``float``/``bool``/``Path``/``SecretStr``,
``Literal``, ``X | None``, ``list``/``dict``, nested models, unions, ``Annotated`` before/after
validators, ``field_validator`` and ``model_validator`` — with the same coercions (lax mode)
and the same error types, locations and messages, so ``agent.yamlsource.describe_errors``
turns them into the same ``file:line: path: message`` lines. ``tests/agent/test_schema.py``
compares it with pydantic itself, value by value.

The collector keeps pydantic; only the agent's run path uses this module.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

__all__ = [
    "AfterValidator",
    "BaseModel",
    "BeforeValidator",
    "ConfigDict",
    "Field",
    "FieldInfo",
    "SecretStr",
    "ValidationError",
    "field_validator",
    "model_validator",
]

_MISSING: Any = object()


def ConfigDict(**options: Any) -> dict[str, Any]:  # noqa: N802 (pydantic's spelling)
    return dict(options)


class ValidationError(ValueError):
    """Validation failed; ``errors()`` lists dicts with ``type``, ``loc``, ``msg``, ``input``."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        self.title = title
        self._errors = errors
        lines = [f"{len(errors)} validation error(s) for {title}"]
        lines += [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in errors]
        super().__init__("\n".join(lines))

    def errors(self, include_url: bool = True) -> list[dict[str, Any]]:
        return [dict(e) for e in self._errors]

    def error_count(self) -> int:
        return len(self._errors)


class _Invalid(Exception):
    """Errors of one value, locations relative to it: [(loc, type, msg, input)]."""

    def __init__(self, items: list[tuple[tuple[Any, ...], str, str, Any]]) -> None:
        self.items = items

    @classmethod
    def one(cls, kind: str, msg: str, value: Any) -> _Invalid:
        return cls([((), kind, msg, value)])

    def under(self, *prefix: Any) -> list[tuple[tuple[Any, ...], str, str, Any]]:
        return [((*prefix, *loc), kind, msg, value) for loc, kind, msg, value in self.items]


class SecretStr:
    """A string that does not show in ``repr``/``str`` (tokens, communities, keys)."""

    __slots__ = ("_secret",)

    def __init__(self, value: str) -> None:
        self._secret = value

    def get_secret_value(self) -> str:
        return self._secret

    def __repr__(self) -> str:
        return "SecretStr('**********')" if self._secret else "SecretStr('')"

    def __str__(self) -> str:
        return "**********" if self._secret else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._secret == self._secret

    def __hash__(self) -> int:
        return hash(self._secret)

    def __len__(self) -> int:
        return len(self._secret)


class BeforeValidator:
    """``Annotated[T, BeforeValidator(f)]``: ``f`` sees the raw value (as in pydantic)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


class AfterValidator:
    """``Annotated[T, AfterValidator(f)]``: ``f`` sees the validated value (as in pydantic)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


_CONSTRAINTS = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern")


class FieldInfo:
    """What ``Field(...)`` says about one field (pydantic's attribute names)."""

    __slots__ = ("alias", "annotation", "constraints", "default", "default_factory", "description")

    def __init__(
        self,
        default: Any = _MISSING,
        *,
        default_factory: Callable[[], Any] | None = None,
        description: str | None = None,
        alias: str | None = None,
        **constraints: Any,
    ) -> None:
        unknown = set(constraints) - set(_CONSTRAINTS)
        if unknown:
            raise TypeError(f"Field() does not support {', '.join(sorted(unknown))}")
        self.default = default if default is not ... else _MISSING
        self.default_factory = default_factory
        self.description = description
        self.alias = alias
        self.constraints = {k: v for k, v in constraints.items() if v is not None}
        self.annotation: Any = None

    def is_required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None

    def get_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        if isinstance(self.default, list | dict | set):
            return copy.deepcopy(self.default)
        return self.default


def Field(default: Any = _MISSING, **kwargs: Any) -> Any:  # noqa: N802 (pydantic's spelling)
    return FieldInfo(default, **kwargs)


class _FieldValidator:
    __slots__ = ("fields", "func", "mode")

    def __init__(self, func: Any, fields: tuple[str, ...], mode: str) -> None:
        self.func, self.fields, self.mode = func, fields, mode


class _ModelValidator:
    __slots__ = ("func", "mode")

    def __init__(self, func: Any, mode: str) -> None:
        self.func, self.mode = func, mode


def field_validator(*fields: str, mode: str = "after") -> Callable[[Any], Any]:
    def mark(func: Any) -> Any:
        return _FieldValidator(func, fields, mode)

    return mark


def model_validator(*, mode: str) -> Callable[[Any], Any]:
    def mark(func: Any) -> Any:
        return _ModelValidator(func, mode)

    return mark


def _call(func: Any, owner: type, *args: Any) -> Any:
    """Call a validator as pydantic does: classmethods get the class, plain functions not."""
    if isinstance(func, classmethod | staticmethod):
        func = func.__func__ if isinstance(func, staticmethod) else func.__get__(None, owner)
    return func(*args)


def _value_error(exc: Exception, value: Any) -> _Invalid:
    if isinstance(exc, AssertionError):
        return _Invalid.one("assertion_error", f"Assertion failed, {exc}", value)
    return _Invalid.one("value_error", f"Value error, {exc}", value)


# -- type validators -------------------------------------------------------------------
Validator = Callable[[Any], Any]


def _v_any(value: Any) -> Any:
    return value


def _v_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise _Invalid.one("string_unicode", "Input should be a valid string, unable to parse raw data as a unicode string", value) from None  # fmt: skip
    raise _Invalid.one("string_type", "Input should be a valid string", value)


def _v_int(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise _Invalid.one("finite_number", "Input should be a finite number", value)
        raise _Invalid.one(
            "int_from_float",
            "Input should be a valid integer, got a number with a fractional part",
            value,
        )
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and number.is_integer():
            return int(number)
        raise _Invalid.one(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer", value
        )  # fmt: skip
    raise _Invalid.one("int_type", "Input should be a valid integer", value)


def _v_float(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Invalid.one(
                "float_parsing", "Input should be a valid number, unable to parse string as a number", value
            ) from None  # fmt: skip
    raise _Invalid.one("float_type", "Input should be a valid number", value)


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _v_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if isinstance(value, int | float | str):
        raise _Invalid.one(
            "bool_parsing", "Input should be a valid boolean, unable to interpret input", value
        )
    raise _Invalid.one("bool_type", "Input should be a valid boolean", value)


def _v_path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    raise _Invalid.one("path_type", "Input is not a valid path for <class 'pathlib.Path'>", value)


def _v_secret(value: Any) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    return SecretStr(_v_str(value))


def _v_none(value: Any) -> None:
    if value is None:
        return None
    raise _Invalid.one("none_required", "Input should be None", value)


_SIMPLE: dict[Any, Validator] = {
    Any: _v_any,
    object: _v_any,
    str: _v_str,
    int: _v_int,
    float: _v_float,
    bool: _v_bool,
    Path: _v_path,
    SecretStr: _v_secret,
    type(None): _v_none,
    None: _v_none,
}


def _type_name(tp: Any) -> str:
    """pydantic's name of a union member in error locations (``list[str]``, ``dict[str,str]``)."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(get_args(tp)[0])
    if origin in (list, dict, set, tuple):
        return f"{origin.__name__}[{','.join(_type_name(a) for a in get_args(tp))}]"
    if origin is Literal:
        return "literal[" + ",".join(repr(a) for a in get_args(tp)) + "]"
    if tp is SecretStr:
        return "function-plain[SecretStr()]"
    return getattr(tp, "__name__", str(tp))


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _constrained(inner: Validator, constraints: dict[str, Any], kind: str) -> Validator:
    """Add ``Field`` constraints after the type's own validation, as pydantic does."""
    if not constraints:
        return inner
    gt, ge, lt, le = (constraints.get(k) for k in ("gt", "ge", "lt", "le"))
    min_len, max_len = constraints.get("min_length"), constraints.get("max_length")
    pattern = constraints.get("pattern")
    regex = None
    if pattern is not None:  # (pydantic's Rust regexes allow an inline flag anywhere)
        flags = re.IGNORECASE if "(?i)" in pattern else 0
        regex = re.compile(pattern.replace("(?i)", ""), flags)

    def check(value: Any) -> Any:
        value = inner(value)
        if value is None:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) or kind == "number":
            if gt is not None and not value > gt:
                raise _Invalid.one("greater_than", f"Input should be greater than {gt}", value)
            if ge is not None and not value >= ge:
                raise _Invalid.one("greater_than_equal", f"Input should be greater than or equal to {ge}", value)  # fmt: skip
            if lt is not None and not value < lt:
                raise _Invalid.one("less_than", f"Input should be less than {lt}", value)
            if le is not None and not value <= le:
                raise _Invalid.one("less_than_equal", f"Input should be less than or equal to {le}", value)  # fmt: skip
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if min_len is not None and len(text) < min_len:
                raise _Invalid.one("string_too_short", f"String should have at least {_plural(min_len, 'character')}", value)  # fmt: skip
            if max_len is not None and len(text) > max_len:
                raise _Invalid.one("string_too_long", f"String should have at most {_plural(max_len, 'character')}", value)  # fmt: skip
            if regex is not None and not regex.search(text):
                raise _Invalid.one("string_pattern_mismatch", f"String should match pattern '{pattern}'", value)  # fmt: skip
        elif isinstance(value, list | dict):
            what = "List" if isinstance(value, list) else "Dictionary"
            if min_len is not None and len(value) < min_len:
                raise _Invalid.one("too_short", f"{what} should have at least {_plural(min_len, 'item')} after validation, not {len(value)}", value)  # fmt: skip
            if max_len is not None and len(value) > max_len:
                raise _Invalid.one("too_long", f"{what} should have at most {_plural(max_len, 'item')} after validation, not {len(value)}", value)  # fmt: skip
        return value

    return check


def _compile(tp: Any, constraints: dict[str, Any] | None = None) -> Validator:
    """A function validating (and coercing) one value of type ``tp``; raises _Invalid."""
    constraints = constraints or {}
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        befores = [m.func for m in meta if isinstance(m, BeforeValidator)]
        befores += [m.before for m in meta if callable(getattr(m, "before", None))]
        afters = [m.func for m in meta if isinstance(m, AfterValidator)]
        inner = _compile(base, constraints)

        def annotated(value: Any) -> Any:
            for func in befores:
                try:
                    value = func(value)
                except (ValueError, AssertionError) as exc:
                    raise _value_error(exc, value) from None
            value = inner(value)
            for func in afters:
                try:
                    value = func(value)
                except (ValueError, AssertionError) as exc:
                    raise _value_error(exc, value) from None
            return value

        return annotated
    if origin in (Union, types.UnionType):
        members = get_args(tp)
        if type(None) in members:
            rest = [m for m in members if m is not type(None)]
            inner = _compile(rest[0] if len(rest) == 1 else Union[tuple(rest)], constraints)  # noqa: UP007

            def nullable(value: Any) -> Any:
                return None if value is None else inner(value)

            return nullable
        options = [(_type_name(m), _compile(m, constraints)) for m in members]

        def union(value: Any) -> Any:
            problems = []
            for name, validator in options:
                try:
                    return validator(value)
                except _Invalid as exc:
                    problems.extend(exc.under(name))
            raise _Invalid(problems)

        return union
    if origin is Literal:
        allowed = get_args(tp)
        shown = [repr(a) for a in allowed]
        text = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

        def literal(value: Any) -> Any:
            for option in allowed:
                if value == option and type(value) is type(option):
                    return option
            raise _Invalid.one("literal_error", f"Input should be {text}", value)

        return literal
    if origin in (list, set, frozenset, tuple) or tp in (list, tuple):
        (item_type,) = get_args(tp)[:1] or (Any,)
        item = _compile(item_type)

        def sequence(value: Any) -> Any:
            if not isinstance(value, list | tuple | set | frozenset):
                raise _Invalid.one("list_type", "Input should be a valid list", value)
            out, problems = [], []
            for i, element in enumerate(value):
                try:
                    out.append(item(element))
                except _Invalid as exc:
                    problems.extend(exc.under(i))
            if problems:
                raise _Invalid(problems)
            return out

        return _constrained(sequence, constraints, "list")
    if origin is dict or tp is dict:
        key_type, value_type = get_args(tp) or (Any, Any)
        key_v, value_v = _compile(key_type), _compile(value_type)

        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _Invalid.one("dict_type", "Input should be a valid dictionary", value)
            out, problems = {}, []
            for k, v in value.items():
                try:
                    k = key_v(k)
                except _Invalid as exc:
                    problems.extend(exc.under(k, "[key]"))
                    continue
                try:
                    out[k] = value_v(v)
                except _Invalid as exc:
                    problems.extend(exc.under(k))
            if problems:
                raise _Invalid(problems)
            return out

        return _constrained(mapping, constraints, "dict")
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _constrained(tp._validate_value, constraints, "model")
    simple = _SIMPLE.get(tp)
    if simple is None:
        raise TypeError(f"agent.schema does not support the type {tp!r}")
    kind = "number" if tp in (int, float) else "other"
    return _constrained(simple, constraints, kind)


class _Schema:
    """A model class's fields and validators, built on first use (annotations are strings)."""

    def __init__(self, cls: type[BaseModel]) -> None:
        hints = typing.get_type_hints(cls, include_extras=True)
        self.fields: dict[str, FieldInfo] = {}
        self.validators: dict[str, Validator] = {}
        for name, tp in hints.items():
            if name.startswith("_") or name == "model_config" or get_origin(tp) is ClassVar:
                continue
            declared = _MISSING
            for klass in cls.__mro__:
                if name in klass.__dict__:
                    declared = klass.__dict__[name]
                    break
                if name in getattr(klass, "__schema_defaults__", {}):
                    declared = klass.__schema_defaults__[name]  # type: ignore[attr-defined]
                    break
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
            info.annotation = tp
            self.fields[name] = info
        before: dict[str, list[Any]] = {}
        after: dict[str, list[Any]] = {}
        self.model_before: list[Any] = []
        self.model_after: list[Any] = []
        for klass in reversed(cls.__mro__):
            for item in klass.__dict__.get("__schema_validators__", ()):
                if isinstance(item, _ModelValidator):
                    (self.model_before if item.mode == "before" else self.model_after).append(
                        item.func
                    )
                else:
                    for field in item.fields:
                        if field not in self.fields:
                            raise TypeError(
                                f"{cls.__name__}: validator for unknown field {field!r}"
                            )
                        (before if item.mode == "before" else after).setdefault(field, []).append(
                            item.func
                        )
        for name, info in self.fields.items():
            self.validators[name] = self._field(
                cls, _compile(info.annotation, info.constraints), before.get(name, []), after.get(name, [])
            )  # fmt: skip
        self.extra = cls.model_config.get("extra", "ignore")

    @staticmethod
    def _field(cls: type, inner: Validator, before: list[Any], after: list[Any]) -> Validator:
        if not before and not after:
            return inner

        def validate(value: Any) -> Any:
            for func in before:
                try:
                    value = _call(func, cls, value)
                except (ValueError, AssertionError) as exc:
                    raise _value_error(exc, value) from None
            value = inner(value)
            for func in after:
                try:
                    value = _call(func, cls, value)
                except (ValueError, AssertionError) as exc:
                    raise _value_error(exc, value) from None
            return value

        return validate


class _ModelMeta(type):
    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        return cls._schema().fields  # type: ignore[attr-defined]


class BaseModel(metaclass=_ModelMeta):
    """A validated record: ``Model.model_validate(data)`` or ``Model(**data)``."""

    model_config: ClassVar[dict[str, Any]] = {}
    __schema_validators__: ClassVar[tuple[Any, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = []
        defaults = {}
        for name, value in list(cls.__dict__.items()):
            if isinstance(value, _FieldValidator | _ModelValidator):
                found.append(value)
                delattr(cls, name)
            elif isinstance(value, FieldInfo):
                # Instances keep their values in __dict__; the class keeps no FieldInfo that
                # would shadow a missing attribute with something that is not a value.
                defaults[name] = value
                delattr(cls, name)
        cls.__schema_validators__ = tuple(found)
        cls.__schema_defaults__ = defaults  # type: ignore[attr-defined]
        cls.__schema__ = None  # type: ignore[attr-defined]

    @classmethod
    def _schema(cls) -> _Schema:
        schema = cls.__dict__.get("__schema__")
        if schema is None:
            schema = _Schema(cls)
            cls.__schema__ = schema  # type: ignore[attr-defined]
        return schema

    def __init__(self, /, **data: Any) -> None:
        validated = type(self).model_validate(data)
        self.__dict__.update(validated.__dict__)

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        try:
            return cls._validate_value(data)
        except _Invalid as exc:
            errors = [
                {"type": kind, "loc": loc, "msg": msg, "input": value}
                for loc, kind, msg, value in exc.items
            ]
            raise ValidationError(cls.__name__, errors) from None

    @classmethod
    def _validate_value(cls, data: Any) -> Any:
        schema = cls._schema()
        for func in schema.model_before:
            try:
                data = _call(func, cls, data)
            except (ValueError, AssertionError) as exc:
                raise _value_error(exc, data) from None
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise _Invalid.one(
                "model_type", f"Input should be a valid dictionary or instance of {cls.__name__}", data
            )  # fmt: skip
        values: dict[str, Any] = {}
        problems: list[tuple[tuple[Any, ...], str, str, Any]] = []
        for name, info in schema.fields.items():
            key = info.alias or name
            if key in data:
                try:
                    values[name] = schema.validators[name](data[key])
                except _Invalid as exc:
                    problems.extend(exc.under(key))
            elif info.is_required():
                problems.append(((key,), "missing", "Field required", data))
            else:
                values[name] = info.get_default()
        if schema.extra == "forbid":
            known = {info.alias or name for name, info in schema.fields.items()}
            for key, value in data.items():
                if key not in known:
                    problems.append(((key,), "extra_forbidden", "Extra inputs are not permitted", value))  # fmt: skip
        if problems:
            raise _Invalid(problems)
        self = object.__new__(cls)
        self.__dict__.update(values)
        self.__dict__["__fields_set__"] = {
            name for name, info in schema.fields.items() if (info.alias or name) in data
        }
        for func in schema.model_after:
            try:
                self = _call(func, cls, self)
            except (ValueError, AssertionError) as exc:
                raise _value_error(exc, data) from None
        return self

    @property
    def model_fields_set(self) -> set[str]:
        return set(self.__dict__.get("__fields_set__", ()))

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        new = object.__new__(type(self))
        state = copy.deepcopy(self.__dict__) if deep else dict(self.__dict__)
        state["__fields_set__"] = set(state.get("__fields_set__", ())) | set(update or {})
        state.update(update or {})
        new.__dict__.update(state)
        return new

    def model_dump(self) -> dict[str, Any]:
        return {name: _dump(getattr(self, name)) for name in type(self)._schema().fields}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self)._schema().fields)
        return f"{type(self).__name__}({shown})"


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value
