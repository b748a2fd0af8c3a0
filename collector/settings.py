"""The collector's settings: defaults here, then the YAML file, then the environment.

Every ``upkeep`` command loads settings the same way, so ``UPKEEP_DATABASE_URL=… upkeep
client add acme`` works on the store a running collector uses. Precedence, lowest first:
defaults, the YAML file (``--config F`` or ``UPKEEP_CONFIG``), ``UPKEEP_<KEY>`` environment
variables (``UPKEEP_<KEY>_FILE`` for secrets: the file's content, stripped), command-line
flags. A bad value is reported with where it came from (``f.yaml:3: port: …`` or
``UPKEEP_PORT: port: …``) and nothing starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url

from agent import wire
from agent.durations import Duration
from agent.yamlsource import ConfigError, YamlDocument, dotted
from collector.connectors import ConnectorsConfig
from collector.incidents.renotify import RenotifyPolicy

ENV_PREFIX = "UPKEEP_"
#: Keys whose value may also come from ``UPKEEP_<KEY>_FILE`` (Docker/systemd credentials).
SECRET_KEYS = ("database_url", "task_signing_key")
DEFAULT_PORT = 8427


def _path_list(value: Any) -> Any:
    # From the environment: UPKEEP_RULES_PATHS=/etc/upkeep/rules:/srv/more-rules
    if isinstance(value, str):
        return [p for p in value.replace(",", os.pathsep).split(os.pathsep) if p.strip()]
    return value


def _name_list(value: Any) -> Any:
    # From the environment: UPKEEP_ALERTMANAGER_ASSET_LABELS=asset,instance
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return value


class NotifyEmail(BaseModel):
    """SMTP for client notifications (low balance, approval requests, reports): docs/ledger.md.
    The password only from a file (``password_file``), never inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    #: Default: 587 (starttls), 465 (tls), 25 (none).
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_file: Path | None = None
    #: A CA bundle to verify the server's certificate with (default: the system's).
    ca_file: Path | None = None
    from_address: str = Field(min_length=3)
    timeout: Duration = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _login_needs_password(self) -> NotifyEmail:
        if self.username and self.password_file is None:
            raise ValueError("username needs password_file")
        if "@" not in parseaddr(self.from_address)[1]:
            raise ValueError(f"from_address: {self.from_address!r} is not an e-mail address")
        return self


class RemoteWrite(BaseModel):
    """Prometheus remote write of every stored sample (collector/remote_write; docs/remote-write.md).

    The bearer token only from a file (``bearer_token_file``), never inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The receiver's write endpoint, e.g. http://prometheus:9090/api/v1/write.
    url: str = Field(pattern=r"^https?://[^\s]+$")
    bearer_token_file: Path | None = None
    #: Extra request headers, e.g. ``X-Scope-OrgID`` (Mimir tenant), ``THANOS-TENANT``.
    headers: dict[str, str] = Field(default_factory=dict)
    #: Labels added to every series (e.g. ``upkeep: prod``); a sample's own label wins.
    external_labels: dict[str, str] = Field(default_factory=dict)
    #: A CA bundle to verify the receiver's certificate with (default: the system's).
    ca_file: Path | None = None
    timeout: Duration = Field(default=10.0, gt=0)
    #: How often the sender looks for queued samples (it sends until the queue is empty).
    send_interval: Duration = Field(default=1.0, gt=0)
    max_samples_per_send: int = Field(default=2000, ge=1, le=100_000)
    #: The queue's bound: past it, new samples are not queued (counted as dropped). The
    #: default holds about 2 h of a 1,000-host fleet (docs/sizing.md: ~0.5 GiB on SQLite).
    max_queue_samples: int = Field(default=20_000_000, ge=1)
    min_backoff: Duration = Field(default=0.5, gt=0)
    max_backoff: Duration = Field(default=60.0, gt=0)

    @field_validator("headers", "external_labels")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or any(c in name for c in "\r\n:"):
                raise ValueError(f"bad name {name!r}")
        return value


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$UPKEEP_DATA_DIR``, else ``$XDG_DATA_HOME/upkeep``, else ``~/.local/share/upkeep``.

    The systemd unit sets ``UPKEEP_DATA_DIR=/var/lib/upkeep``.
    """
    env = os.environ if environ is None else environ
    if env.get("UPKEEP_DATA_DIR"):
        return Path(env["UPKEEP_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "upkeep"


class Settings(BaseModel):
    """Validated collector settings. Build with :func:`load_settings` or :meth:`for_data_dir`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; default: sqlite file upkeep.db in data_dir"
    )
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    #: Raw samples feed rule windows only; hourly rollups keep the history.
    raw_retention: Duration = Field(default=48 * 3600.0, gt=0)
    rollup_retention: Duration = Field(default=400 * 86400.0, gt=0)
    event_retention: Duration = Field(default=400 * 86400.0, gt=0)
    #: Must exceed the agent's longest spool age (7 d), or a late retry would be stored twice.
    batch_retention: Duration = Field(default=14 * 86400.0, gt=0)
    retention_interval: Duration = Field(default=600.0, gt=0)
    #: PostgreSQL: day partitions of raw samples are created this many days ahead, by the
    #: ``partitions`` job every ``partition_interval`` (collector/partitions.py).
    partition_days_ahead: int = Field(default=3, ge=1, le=60)
    partition_interval: Duration = Field(default=3600.0, gt=0)
    #: The ``rollups`` job (collector/rollups.py): builds the closed hours' rollups from the
    #: raw samples every ``rollup_interval``.
    rollup_interval: Duration = Field(default=60.0, gt=0)
    #: The largest file (a report) kept in the database (``artefacts``; PostgreSQL's limit is 1 GiB).
    artefact_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0, le=1024 * 1024 * 1024)
    #: Periodic jobs and delivery workers (collector/background.py; docs/cluster.md). Off
    #: (``upkeep serve --no-background``): this replica only serves the API and ingests.
    background: bool = True
    #: Rule files and folders (docs/rules.md); empty: the packs shipped in rules/.
    rules_paths: Annotated[list[Path], BeforeValidator(_path_list)] = Field(default_factory=list)
    rules_sweep_interval: Duration = Field(default=15.0, gt=0)
    #: Remediation (docs/remediation.md): the Ed25519 key tasks are signed with (base64 of
    #: the 32-byte private key, from ``upkeep tasks keygen``; also UPKEEP_TASK_SIGNING_KEY
    #: or ``_FILE``). Without it no task can be created and agents get no tasks.
    task_signing_key: SecretStr | None = None
    #: Action library files and folders (``actions/*.yaml``); empty: the shipped actions/.
    actions_paths: Annotated[list[Path], BeforeValidator(_path_list)] = Field(default_factory=list)
    #: A task not finished by then is reported expired (and the agent will not run it).
    task_deadline: Duration = Field(default=3600.0, gt=0, le=7 * 86400.0)
    #: How often approvals are picked up and deadlines checked (0: never).
    task_sync_interval: Duration = Field(default=5.0, ge=0)
    #: The longest an agent's task poll is held open waiting for a task (its ``wait`` is cut
    #: to this; 0: no long-poll, every poll answers at once).
    task_poll_max_wait: Duration = Field(default=25.0, ge=0, le=300.0)
    #: Polls held open at once per collector process; more are answered at once (empty).
    task_poll_max_parked: int = Field(default=1000, ge=0, le=100_000)
    #: How often the held polls look for tasks queued by another process (another replica,
    #: the CLI); a task queued by this process wakes its agent at once.
    task_poll_recheck: Duration = Field(default=1.0, gt=0, le=60.0)
    #: How often rule files are checked for changes (0: only SIGHUP and the reload API).
    rules_watch_interval: Duration = Field(default=2.0, ge=0)
    #: A sample older than this when it arrives (a spool replay) moves clocks but never fires.
    rules_stale_after: Duration = Field(default=600.0, gt=0)
    #: Out-of-order samples up to this much older than the newest are re-evaluated in order.
    rules_reorder_window: Duration = Field(default=900.0, ge=0)
    #: A firing alert whose series sent nothing for this long resolves ("no data").
    rules_series_gone_after: Duration = Field(default=86400.0, gt=0)
    #: PostgreSQL only (docs/cluster.md): rule evaluation is split into this many shards by
    #: client; each is owned by one live replica through a lease. Every replica of one
    #: database must use the same number.
    cluster_shards: int = Field(default=64, ge=1, le=4096)
    #: A replica that stops renewing loses its shards after this long; the others take them.
    cluster_lease_ttl: Duration = Field(default=15.0, ge=1)
    #: How often a shard owner looks at its queue when no LISTEN/NOTIFY wake-up arrived.
    cluster_poll_interval: Duration = Field(default=2.0, gt=0)
    #: PostgreSQL: an agent's and asset's last_seen row is written at most this often.
    cluster_seen_write_interval: Duration = Field(default=15.0, ge=0)
    #: SQLite (one collector): an agent's and asset's unchanged row (only last_seen moves) is
    #: written at most this often, not with every batch; 0: every batch. The silence rule and
    #: the "silent agents" views compare last_seen with thresholds of minutes.
    seen_write_interval: Duration = Field(default=15.0, ge=0)
    #: Contract files and folders (docs/contracts.md): one YAML contract per client, loaded at
    #: start, on SIGHUP and on POST /api/v1/contracts/reload. Empty: contracts only via the API/CLI.
    contracts_paths: Annotated[list[Path], BeforeValidator(_path_list)] = Field(
        default_factory=list
    )
    #: Noise control (docs/noise.md): client time zones, maintenance windows, dependencies (YAML).
    maintenance_file: Path | None = None
    #: How often signals held back (maintenance window, site grace) are checked for release.
    noise_release_interval: Duration = Field(default=5.0, gt=0)
    #: Reminders for an unchanged open incident: after interval, then x factor up to max (0: off).
    renotify_interval: Duration = Field(default=4 * 3600.0, ge=0)
    renotify_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    renotify_max_interval: Duration = Field(default=24 * 3600.0, gt=0)
    #: Alertmanager receiver: the alert labels naming the client, the asset (first present), the site.
    alertmanager_client_label: str = Field(default="client", min_length=1, max_length=100)
    alertmanager_asset_labels: Annotated[list[str], BeforeValidator(_name_list)] = Field(
        default_factory=lambda: ["asset", "instance"], min_length=1
    )
    alertmanager_site_label: str = Field(default="site", min_length=1, max_length=100)
    alertmanager_max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    #: Samples and events dated more than this ahead of the collector's clock are refused (a
    #: wrong agent clock would otherwise freeze the series' latest value and its alerts).
    max_clock_skew: Duration = Field(default=300.0, gt=0)
    #: Series limits at ingest: a new series beyond them is refused (counted, reported as an
    #: event); existing series keep being stored.
    max_series_per_asset: int = Field(default=2000, ge=1)
    max_series_per_client: int = Field(default=50_000, ge=1)
    max_body_bytes: Annotated[int, Field(gt=0, le=wire.MAX_BODY_BYTES)] = wire.MAX_BODY_BYTES
    max_decompressed_bytes: Annotated[int, Field(gt=0, le=wire.MAX_DECOMPRESSED_BYTES)] = (
        wire.MAX_DECOMPRESSED_BYTES
    )
    #: /metrics: open when unset (bind to loopback or firewall it); else needs this bearer token.
    metrics_token_file: Path | None = None
    #: /metrics shows a series while its asset was seen this recently and its own newest
    #: sample is at most metrics_series_max_age old (longer than the slowest check interval).
    metrics_stale_after: Duration = Field(default=600.0, gt=0)
    metrics_series_max_age: Duration = Field(default=25 * 3600.0, gt=0)
    #: Cardinality guard: series per asset exposed on /metrics; the rest are counted as dropped.
    metrics_max_series_per_asset: int = Field(default=2000, ge=1)
    #: Ticket connectors (docs/connectors.md): inline, or a YAML file of the same shape.
    connectors: ConnectorsConfig | None = None
    connectors_file: Path | None = None
    #: A re-fire this soon after an incident resolved reopens it instead of opening a new one.
    incidents_reopen_window: Duration = Field(default=24 * 3600.0, ge=0)
    #: How often running SLA clocks are recomputed (warnings and breaches go out then; docs/sla.md).
    sla_sweep_interval: Duration = Field(default=30.0, gt=0)
    #: Delivery threads per connector; each claims one of its connector's outbox rows at a
    #: time, so a slow ticket system holds only its own threads (docs/incidents.md).
    outbox_workers: int = Field(default=2, ge=0, le=32)
    #: A delivery failing transiently is retried (exponential from base with jitter, capped at
    #: max) until it has been failing this long, then dead-lettered (`upkeep outbox retry`).
    outbox_max_age: Duration = Field(default=7 * 86400.0, gt=0)
    outbox_retry_base: Duration = Field(default=2.0, gt=0)
    outbox_retry_max: Duration = Field(default=600.0, gt=0)
    #: A claimed row whose worker died is claimed again after this long.
    outbox_claim_timeout: Duration = Field(default=120.0, gt=0)
    #: How often ticket systems are asked which tickets were closed there (0: never).
    outbox_poll_closed_interval: Duration = Field(default=300.0, ge=0)
    #: Client notifications (collector.notify): SMTP, delivery threads and bounded retries.
    notify_email: NotifyEmail | None = None
    #: Prometheus remote write of every stored sample (off when unset; docs/remote-write.md).
    remote_write: RemoteWrite | None = None
    notify_workers: int = Field(default=1, ge=0, le=8)
    #: Like outbox_max_age: a notice failing transiently this long is dead-lettered.
    notify_max_age: Duration = Field(default=7 * 86400.0, gt=0)
    notify_retry_base: Duration = Field(default=30.0, gt=0)
    notify_retry_max: Duration = Field(default=3600.0, gt=0)
    notify_claim_timeout: Duration = Field(default=300.0, gt=0)
    #: The collector's address as clients reach it (links in approval mails); default http://host:port.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    #: HMAC secret of approval links; default: ``approval-secret`` in data_dir, made on first use.
    approval_secret_file: Path | None = None
    approval_link_max_age: Duration = Field(default=14 * 86400.0, gt=0)
    #: Closing communication (collector.closing, docs/closing.md): how long after an incident is
    #: resolved its closing message is composed (room for the technician's note in the ticket
    #: system), and how often due messages, daily digests and automatic closes are looked for
    #: (0: never).
    closing_delay: Duration = Field(default=600.0, ge=0)
    closing_interval: Duration = Field(default=60.0, ge=0)
    #: On-call (docs/oncall.md): rotation/escalation/channel files and folders (``oncall/*.yaml``);
    #: empty: nobody is paged. The escalation job looks for due steps this often.
    oncall_paths: Annotated[list[Path], BeforeValidator(_path_list)] = Field(default_factory=list)
    oncall_interval: Duration = Field(default=10.0, gt=0)
    #: How long the acknowledge/resolve links in a page work.
    oncall_link_max_age: Duration = Field(default=3 * 86400.0, gt=0)
    #: How often the ledger writes new periods' allotments, rollovers and expiries (0: only lazily).
    ledger_period_interval: Duration = Field(default=3600.0, ge=0)
    #: Management views: what one hour of a technician's work costs the company (time vs fee;
    #: in each client's contract currency).
    management_hourly_cost: Decimal = Field(
        default=Decimal(60), ge=0, le=1_000_000, max_digits=12, decimal_places=2
    )
    #: Monthly reports (docs/reports.md): how often due reports are looked for (0: never), how
    #: long after a period's end they are generated, and in which format they are archived/e-mailed.
    report_schedule_interval: Duration = Field(default=3600.0, ge=0)
    report_schedule_delay: Duration = Field(default=3600.0, ge=0)
    report_schedule_format: Literal["html", "pdf"] = "pdf"
    #: A period that ended longer ago than this is not generated automatically (no back-fill of
    #: old months on a first start or after a long outage; `upkeep report` still makes it).
    report_schedule_catch_up: Duration = Field(default=7 * 86400.0, gt=0)
    #: Serve HTTPS directly (PEM files) instead of behind a TLS-terminating proxy; both or neither.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    #: With TLS on: ``Strict-Transport-Security: max-age=…`` on every answer (0: no header).
    tls_hsts_max_age: Duration = Field(default=365 * 86400.0, ge=0)
    #: Web UI (docs/web-ui.md): a session ends after this long without a request, and at the latest
    #: this long after login.
    web_session_idle: Duration = Field(default=2 * 3600.0, gt=0)
    web_session_max_age: Duration = Field(default=12 * 3600.0, gt=0)
    #: Mark the session cookie Secure although the collector speaks plain HTTP (behind a
    #: TLS-terminating proxy); when it serves HTTPS itself the cookie is always Secure.
    web_cookie_secure: bool = False
    #: Reverse proxies (addresses or CIDR networks) whose forwarded headers say who the client
    #: is (the web UI's login throttling counts per real address); from anyone else they are
    #: ignored. Empty: the connecting address is the client.
    trusted_proxies: Annotated[list[str], BeforeValidator(_name_list)] = Field(default_factory=list)
    #: Which header those proxies set: ``x-forwarded-for`` (nginx, HAProxy's ``forwardfor``,
    #: Traefik, Caddy) or ``forwarded`` (RFC 7239; HAProxy's ``option forwarded``).
    trusted_proxy_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    #: Login throttling: this many failures for a user name (5x as many from one address) within
    #: the window lock further attempts until the oldest failure leaves the window.
    web_login_max_failures: int = Field(default=5, ge=1)
    web_login_window: Duration = Field(default=900.0, gt=0)
    #: Dashboard: SLA clocks due within this are "at risk".
    web_sla_risk_window: Duration = Field(default=3600.0, ge=0)
    #: Dashboard "agents silent": used only while no ``metric: any`` absent rule is loaded (the
    #: loaded rule's ``absent.for`` wins, so the page and the incidents agree); the default is
    #: the shipped rules/agents.yaml ``agent-silent`` (a test keeps them equal).
    web_agent_silent_after: Duration = Field(default=300.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from collector.proxies import check_networks

        return check_networks(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        return self

    @model_validator(mode="after")
    def _one_connectors_source(self) -> Settings:
        if self.connectors is not None and self.connectors_file is not None:
            raise ValueError("give connectors or connectors_file, not both")
        return self

    def connectors_config(self) -> ConnectorsConfig:
        """The connectors configuration (empty when none is set). Raises ConfigError."""
        if self.connectors is not None:
            return self.connectors
        path = self.connectors_file
        if path is None:
            # Saved from the web UI (collector/connectors/saved.py) when no file is named.
            path = Path(self.data_dir) / "connectors.yaml"
            if not path.exists():
                return ConnectorsConfig()
        doc = YamlDocument.from_file(path)
        try:
            return ConnectorsConfig.model_validate(doc.data or {})
        except ValidationError as exc:
            err = exc.errors(include_input=False, include_url=False)[0]
            raise ConfigError(
                [f"{path}: {dotted(list(err['loc']))}: {err['msg'].removeprefix('Value error, ')}"]
            ) from None

    @classmethod
    def for_data_dir(cls, data_dir: str | Path, **values: Any) -> Settings:
        """Settings with defaults for everything but ``data_dir`` (demo, tests)."""
        return cls(data_dir=Path(data_dir), **values)

    def renotify_policy(self) -> RenotifyPolicy:
        """The re-notification back-off of ``renotify_*``."""
        return RenotifyPolicy(
            interval=self.renotify_interval,
            factor=self.renotify_factor,
            max_interval=self.renotify_max_interval,
        )

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL to connect to (contains the password: never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'upkeep.db'}"

    @property
    def database_display(self) -> str:
        """The database URL without its password, for logs and ``upkeep`` output."""
        return make_url(self.sqlalchemy_url).render_as_string(hide_password=True)


def _env_key(key: str) -> str:
    return ENV_PREFIX + key.upper()


def load_settings(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the YAML file, the environment and ``overrides`` (CLI flags); raise ConfigError."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    doc: YamlDocument | None = None
    config_file = config_file or env.get("UPKEEP_CONFIG") or None
    if config_file:
        doc = YamlDocument.from_file(config_file)
        if doc.data is not None and not isinstance(doc.data, dict):
            raise ConfigError(
                [f"{doc.where([])}: the settings file must be a mapping of key: value"]
            )
        data.update(doc.data or {})

    for key in Settings.model_fields:
        name = _env_key(key)
        if key in SECRET_KEYS and env.get(name + "_FILE"):
            path = env[name + "_FILE"]
            try:
                data[key] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    [f"{name}_FILE: cannot read {path}: {exc.strerror or exc}"]
                ) from None
            origin[key] = name + "_FILE"
        elif env.get(name):
            data[key] = env[name]
            origin[key] = name
    if "data_dir" not in data:
        data["data_dir"] = default_data_dir(env)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
            origin[key] = f"--{key.replace('_', '-')}"

    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = list(err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            msg = msg.removeprefix("Value error, ")
            top = str(loc[0]) if loc else ""
            if top in origin:
                where = origin[top]
            elif doc is not None:
                where = doc.where(loc)
            else:
                where = "<settings>"
            problems.append(f"{where}: {dotted(loc)}: {msg}")
        raise ConfigError(problems) from None
