"""The connector registry and the commented sample configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.connectors import CONNECTORS, ConnectorsConfig, connector_class

SAMPLE = Path(__file__).parents[3] / "collector" / "connectors" / "sample-config.yaml"


def test_every_registered_connector_imports() -> None:
    for name in CONNECTORS:
        cls = connector_class(name)
        assert cls.config_model.model_fields["type"].default == name


def test_sample_config_is_valid(tmp_path: Path) -> None:
    raw = yaml.safe_load(SAMPLE.read_text())
    for options in raw["connectors"].values():
        for key in [k for k in options if k.endswith("_file")]:
            secret = tmp_path / f"{key}.txt"
            secret.write_text("sample-secret\n")
            options[key] = str(secret)
    config = ConnectorsConfig.model_validate(raw)
    assert set(raw["connectors"]) <= set(config.connectors)
    assert {c.type for c in config.connectors.values()} <= set(CONNECTORS)
    assert config.for_client("globex") == ["jira-cloud"]
    assert config.for_client("acme") == ["redmine-main", "psa-webhook"]
    for connector in config.build().values():
        assert "sample-secret" not in repr(connector.config)
        connector.close()


def test_missing_secret_file_is_reported_with_its_key() -> None:
    raw = yaml.safe_load(SAMPLE.read_text())
    raw["connectors"]["psa-webhook"]["secret"] = "inline-secret-value"
    with pytest.raises(
        ValueError, match=r"connectors\.redmine-main: api_key_file: cannot read"
    ) as excinfo:
        ConnectorsConfig.model_validate(raw)
    assert "inline-secret-value" not in str(excinfo.value)
