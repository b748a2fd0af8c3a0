"""The agent's one YAML config file, validated at load.

A bad key or value is reported with its place in the file and the agent refuses to start.
``agent/sample-config.yaml`` is the commented reference; defaults live here only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.checks import registry
from agent.checks.base import CheckConfig
from agent.durations import Duration
from agent.schema import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from agent.yamlsource import ConfigError, YamlDocument, describe_errors, validate

if TYPE_CHECKING:
    from agent.snmp.config import SnmpConfig


def default_state_dir() -> Path:
    """Where the agent keeps its identity and spool when the config does not say."""
    if env := os.environ.get("UPKEEP_AGENT_STATE_DIR") or os.environ.get("STATE_DIRECTORY"):
        return Path(env.split(":")[0])
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Upkeep" / "agent"
    if os.geteuid() == 0:
        return Path("/var/lib/upkeep-agent")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "upkeep-agent"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectorConfig(_Model):
    """Where to push, and how to prove who we are."""

    url: str = Field(
        pattern=r"^https?://[^\s/]+(/.*)?$", description="e.g. https://collector.example.net:8427"
    )
    token: SecretStr | None = None
    token_file: Path | None = None
    ca_bundle: Path | None = None
    timeout: Duration = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _one_token_source(self) -> CollectorConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("give either token or token_file, not both")
        return self

    def read_token(self) -> str | None:
        """The agent token: ``token``, ``token_file``, or ``UPKEEP_AGENT_TOKEN[_FILE]``."""
        if self.token is not None:
            return self.token.get_secret_value().strip()
        path = self.token_file or os.environ.get("UPKEEP_AGENT_TOKEN_FILE")
        if path:
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    [f"collector.token_file: cannot read {path}: {exc.strerror or exc}"]
                ) from None
        return os.environ.get("UPKEEP_AGENT_TOKEN") or None


class SpoolConfig(_Model):
    """The local SQLite spool every sample passes through before it is sent."""

    path: Path | None = Field(default=None, description="default: <state_dir>/spool.db")
    max_mb: float = Field(default=200.0, gt=0)
    max_age: Duration = Field(default=7 * 86400.0, gt=0)
    batch_max_samples: int = Field(default=5000, ge=1, le=20_000)
    #: Sends follow collections at once, but at most one batch per flush_interval.
    flush_interval: Duration = Field(default=5.0, gt=0)


class MetricsConfig(_Model):
    """The optional local Prometheus endpoint (``agent/metrics_endpoint.py``)."""

    enabled: bool = False
    #: HOST:PORT; loopback by default. ``[::1]:9427``; ``0.0.0.0:9427`` for every interface.
    listen: str = "127.0.0.1:9427"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"must be HOST:PORT (e.g. 127.0.0.1:9427), got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ActionsConfig(_Model):
    """Remediation tasks from the collector (agent/tasks.py). Default: none allowed, no polling."""

    #: Action names (the collector's actions/*.yaml) this agent may run.
    allow: list[str] = Field(default_factory=list)
    #: Folder of the scripts the ``run-script`` kind may run, by file name only.
    scripts_dir: Path | None = None
    #: The collector's Ed25519 task key (base64, from ``upkeep tasks key``); default: the key
    #: the collector presents on first contact, pinned in the state directory.
    public_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{43}=$")
    #: Between polls when the collector holds no long-poll (an older collector), after a
    #: failed poll at most (failures back off from 1 s up to this).
    poll_interval: Duration = Field(default=30.0, ge=1, le=3600)
    #: How long each poll asks the collector to hold its answer until a task comes (a
    #: long-poll: a task is picked up within a moment of being queued); 0: plain polling
    #: every ``poll_interval``. The collector cuts it to its ``task_poll_max_wait``.
    long_poll: Duration = Field(default=25.0, ge=0, le=300)
    max_output_bytes: int = Field(default=16384, ge=256, le=1_048_576)

    @field_validator("allow")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"{name!r} is not an action name")
        return value


class AgentConfig(_Model):
    collector: CollectorConfig | None = None
    site: str = Field(default="default", min_length=1, max_length=100)
    asset_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="name of this host's asset; default: the hostname",
    )
    tags: list[str] = Field(default_factory=list)
    state_dir: Path = Field(default_factory=default_state_dir)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    log_level: str = Field(default="info", pattern=r"^(?i)(debug|info|warning|error)$")
    #: name → options; validated per check against the check's own Config in ``load_config``.
    checks: dict[str, dict[str, Any] | None] | None = None
    #: The ``snmp:`` section as written; ``load_config`` replaces it with a validated
    #: ``agent.snmp.config.SnmpConfig``. Kept untyped here so a host-only agent never
    #: builds the SNMP models (the agent's memory budget is 30 MiB).
    snmp: dict[str, Any] | None = None

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: dict | None) -> dict | None:
        for name in value or {}:
            if name not in registry.CHECKS:
                known = ", ".join(sorted(registry.CHECKS))
                raise ValueError(f"unknown check {name!r} (known: {known})")
        return value

    @property
    def spool_path(self) -> Path:
        return self.spool.path or self.state_dir / "spool.db"


class LoadedConfig:
    """An AgentConfig plus each enabled check's validated options."""

    def __init__(
        self,
        agent: AgentConfig,
        checks: dict[str, CheckConfig],
        source: str,
        snmp: SnmpConfig | None = None,
    ) -> None:
        self.agent = agent
        self.checks = checks
        self.source = source
        #: The validated ``snmp:`` section (``agent.snmp`` holds the same once loaded).
        self.snmp = snmp


def check_configs(
    raw: dict[str, dict | None] | None, doc: YamlDocument | None
) -> dict[str, CheckConfig]:
    """Validate each check's options against its class; omitted section = OS defaults."""
    names = list(raw) if raw is not None else list(registry.default_checks())
    problems: list[str] = []
    out: dict[str, CheckConfig] = {}
    for name in names:
        cls = registry.check_class(name)
        options = dict((raw or {}).get(name) or {})
        if cls.default_interval is not None:
            options.setdefault("interval", cls.default_interval)
        try:
            cfg = validate(cls.Config, options, doc, ("checks", name))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if cfg.enabled:
            out[name] = cfg
    if problems:
        raise ConfigError(problems)
    return out


def load_config(path: str | Path | None) -> LoadedConfig:
    """Load and validate the agent config; ``None`` gives the defaults for this OS."""
    if path is None:
        agent = AgentConfig()
        return LoadedConfig(agent, check_configs(None, None), "<defaults>")
    doc = YamlDocument.from_file(path)
    if doc.data is not None and not isinstance(doc.data, dict):
        raise ConfigError(
            [f"{doc.where(())}: the config must be a mapping of keys (collector, site, checks, …)"]
        )
    agent = validate(AgentConfig, doc.data, doc)
    snmp = None
    if agent.snmp is not None:
        from agent.snmp.config import SnmpConfig

        snmp = validate(SnmpConfig, agent.snmp, doc, ("snmp",))
        check_snmp(snmp, doc)
        agent = agent.model_copy(update={"snmp": snmp})
    return LoadedConfig(agent, check_configs(agent.checks, doc), str(path), snmp)


def check_snmp(snmp: SnmpConfig, doc: YamlDocument | None) -> None:
    """Profiles load (shipped and custom) and every target names one; secret files are readable."""
    from agent.snmp.config import SecretError
    from agent.snmp.profiles import load_profiles

    profiles = load_profiles(snmp.profiles_dir)
    problems = []
    for i, target in enumerate(snmp.targets):
        loc = ("snmp", "targets", i)
        if target.profile not in profiles:
            where = doc.where((*loc, "profile")) if doc else "<input>"
            problems.append(
                f"{where}: snmp.targets[{i}].profile: no profile {target.profile!r} "
                f"(known: {', '.join(sorted(profiles))})"
            )
        try:
            target.credentials()
        except SecretError as exc:
            problems.append(f"{doc.where(loc) if doc else '<input>'}: snmp.targets[{i}].{exc}")
    if problems:
        raise ConfigError(problems)


def require_collector(cfg: LoadedConfig) -> None:
    """``run`` needs somewhere to send to and a token; ``once --print`` does not."""
    if cfg.agent.collector is None:
        raise ConfigError(
            [f"{cfg.source}: collector: required to run (url and token or token_file)"]
        )
    if not cfg.agent.collector.read_token():
        raise ConfigError(
            [
                f"{cfg.source}: collector.token: no agent token (token, token_file, or UPKEEP_AGENT_TOKEN[_FILE])"
            ]
        )


__all__ = [
    "AgentConfig",
    "ConfigError",
    "LoadedConfig",
    "describe_errors",
    "load_config",
    "require_collector",
]
