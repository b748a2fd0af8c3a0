"""The registry table, each check's shape, and its metric catalog.

Together with ``test_check_cases.py`` (every emitted sample matches the catalog) this
keeps metric names from drifting: a name exists once, in the catalog, and is emitted
by at least one recorded case.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from recorded import RecordedHost, all_cases, replay

from agent.checks import registry
from agent.checks.base import BASE_CATALOG, Check, CheckConfig
from agent.config import check_configs
from agent.host import Host
from agent.schema import ValidationError

NAMES = sorted(registry.CHECKS)
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
#: Base units (Prometheus conventions), plus percent for human thresholds.
UNITS = {"", "bytes", "seconds", "percent", "celsius", "bytes_per_second", "per_second"}
DOCS = Path(__file__).resolve().parents[3] / "docs" / "checks.md"


def test_registry_lists_every_check_module_once() -> None:
    targets = list(registry.CHECKS.values())
    assert len(targets) == len(set(targets))
    modules = {p.stem for p in Path(registry.__file__).parent.glob("*.py")}
    helpers = {"__init__", "base", "registry", "patterns", "rates", "targets", "perfdata"}
    listed = {t.split(":")[0].rsplit(".", 1)[1] for t in targets}
    assert modules - helpers == listed, (
        "a check module is missing from the registry table (or vice versa)"
    )


@pytest.mark.parametrize("name", NAMES)
def test_check_class_shape(name: str) -> None:
    cls = registry.check_class(name)
    assert issubclass(cls, Check) and cls.name == name
    assert cls.__doc__ and cls.Config.__doc__, "checks and their configs say what they are"
    assert issubclass(cls.Config, CheckConfig) and cls.Config is not CheckConfig
    assert cls.Config.model_config.get("extra") == "forbid"
    assert cls.collect is not Check.collect
    with pytest.raises(ValidationError, match="Extra inputs"):
        cls.Config.model_validate({"no_such_option": 1})


@pytest.mark.parametrize("name", NAMES)
def test_catalog_follows_naming_conventions(name: str) -> None:
    catalog = registry.check_class(name).catalog
    assert catalog, "every check declares what it emits"
    names = [spec.name for spec in catalog]
    assert len(names) == len(set(names))
    assert not set(names) & {spec.name for spec in BASE_CATALOG}
    for spec in catalog:
        assert SNAKE.match(spec.name), spec.name
        assert spec.unit in UNITS, f"{spec.name}: unit {spec.unit!r} is not a base unit"
        assert spec.type in ("gauge", "counter")
        if spec.type == "counter":
            assert spec.name.endswith("_total"), f"counter {spec.name} must end in _total"
        else:
            assert not spec.name.endswith("_total"), f"gauge {spec.name} must not end in _total"
        if spec.unit:
            stem = spec.name.removesuffix("_total")
            assert stem.endswith("_" + spec.unit), (
                f"{spec.name} does not end with its unit {spec.unit}"
            )
        assert len(spec.labels) == len(set(spec.labels))
        assert all(LABEL.match(label) for label in spec.labels), spec.labels
        assert "check" not in spec.labels and "asset" not in spec.labels  # added elsewhere
        assert spec.help.strip(), f"{spec.name} has no help text"


def test_no_metric_name_is_claimed_by_two_checks() -> None:
    seen: dict[str, str] = {}
    for name in NAMES:
        for spec in registry.check_class(name).catalog:
            assert spec.name not in seen, f"{spec.name} in both {seen.get(spec.name)} and {name}"
            seen[spec.name] = name


def test_every_check_has_golden_cases_and_every_catalog_metric_is_emitted_by_one() -> None:
    cases = all_cases()
    assert {case.check for case in cases} == set(NAMES), "every registered check has a golden case"
    emitted: dict[str, set[str]] = {name: set() for name in NAMES}
    for case in cases:
        for result in replay(case).results:
            emitted[case.check].update(s.metric for s in result.samples)
    for name in NAMES:
        declared = {spec.name for spec in registry.check_class(name).catalog}
        assert declared - emitted[name] == set(), f"{name}: catalog metrics no case emits"


@pytest.mark.parametrize("platform", sorted(registry.DEFAULTS))
def test_defaults_are_registered_and_need_no_options(platform: str) -> None:
    names = registry.default_checks(platform)
    assert names and set(names) <= set(registry.CHECKS)
    configs = check_configs(dict.fromkeys(names), None)
    assert set(configs) == set(names)


def test_linux_defaults_are_the_cheap_set() -> None:
    assert registry.default_checks("linux") == (
        "cpu",
        "load",
        "memory",
        "disk",
        "diskio",
        "netio",
        "uptime",
        "temperature",
    )
    assert "load" not in registry.default_checks("win32")
    assert "temperature" not in registry.default_checks("win32")
    assert registry.default_checks("sunos5") == ()


@pytest.mark.parametrize(
    ("name", "interval"),
    [
        ("updates", 6 * 3600.0),
        ("smart", 3600.0),
        ("file_age", 300.0),
        ("service", 60.0),
        ("temperature", 60.0),
        ("cpu", 30.0),
        ("disk", 30.0),
    ],
)
def test_default_intervals(name: str, interval: float) -> None:
    options = {"names": [{"name": "x"}]} if name == "process" else {}
    options |= {"services": ["x"]} if name == "service" else {}
    options |= {"paths": ["/x"]} if name == "file_age" else {}
    assert check_configs({name: options}, None)[name].interval == interval


def test_an_interval_in_the_config_beats_the_checks_default() -> None:
    assert check_configs({"updates": {"interval": "1h"}}, None)["updates"].interval == 3600.0


def test_recorded_host_mirrors_every_host_method() -> None:
    """A check tested against RecordedHost must be able to run against Host, and back."""

    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    real, recorded = public(Host), public(RecordedHost)
    assert set(real) == set(recorded)
    for name, signature in real.items():
        assert list(signature.parameters) == list(recorded[name].parameters), name


def test_docs_describe_every_check_option_and_metric() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in NAMES:
        cls = registry.check_class(name)
        assert f"## `{name}`" in text, f"docs/checks.md has no section for {name}"
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for spec in cls.catalog:
            assert f"`{spec.name}`" in section, f"docs: {name} does not mention {spec.name}"
        for option in set(cls.Config.model_fields) - set(CheckConfig.model_fields):
            assert f"`{option}`" in section, f"docs: {name} does not mention option {option}"
