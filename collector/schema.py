"""The store's tables, as SQLAlchemy Core metadata.

Migrations in ``collector/migrations`` create them; a test checks that the migrated database
and this metadata agree. Every time is stored as UTC epoch seconds (a float): samples and
rollups are the hot path, and one representation everywhere keeps comparisons and
retention simple on SQLite and PostgreSQL alike. ``collector.timeutil`` converts at the
edges.

Tenancy: a client owns its sites, assets, agents and agent tokens; asset names are unique
per client only, so every lookup by name goes through ``client_id``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Epoch = sa.Float(precision=53)  # DOUBLE PRECISION on PostgreSQL; REAL on SQLite
BigId = sa.BigInteger().with_variant(
    sa.Integer(), "sqlite"
)  # SQLite aliases rowid only for INTEGER

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Epoch, nullable=False),
)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.UniqueConstraint("client_id", "name"),
)

assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=True),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("vendor", sa.String(200)),
    sa.Column("model", sa.String(200)),
    sa.Column("serial", sa.String(200)),
    sa.Column("address", sa.String(200)),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("first_seen", Epoch, nullable=False),
    sa.Column("last_seen", Epoch, nullable=False),
    sa.UniqueConstraint("client_id", "name"),
    sa.Index("ix_assets_site_id", "site_id"),  # a site's assets (the dependency stage)
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the agent's UUID, canonical text form
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("hostname", sa.String(253), nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("os", sa.String(200), nullable=False, server_default=""),
    sa.Column("first_seen", Epoch, nullable=False),
    sa.Column("last_seen", Epoch, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "kind", sa.String(20), nullable=False
    ),  # "agent" (bound to a client), "admin", "alertmanager"
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=True),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    sa.Column("prefix", sa.String(16), nullable=False),  # shown in listings; not enough to use
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("revoked_at", Epoch, nullable=True),
    sa.Column("last_used_at", Epoch, nullable=True),
    sa.CheckConstraint("kind IN ('agent', 'admin', 'alertmanager')", name="kind"),
    sa.CheckConstraint("(kind = 'agent') = (client_id IS NOT NULL)", name="client_for_agent"),
)

series = sa.Table(
    "series",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id"), nullable=False),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),  # canonical JSON: sorted keys, no spaces
    # Labels may be long (32 × 1 KiB); a hash keeps the unique index within PostgreSQL's limit.
    sa.Column("labels_hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("asset_id", "metric", "labels_hash"),
)

# Raw samples: the hot table. Clustered on (series_id, ts) (WITHOUT ROWID on SQLite) so
# inserts, rule windows and per-series retention deletes all walk one index. No foreign
# key: ingest takes every series_id from the series table, and the check would cost an
# extra index probe per sample.
samples = sa.Table(
    "samples",
    metadata,
    sa.Column("series_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", Epoch, primary_key=True),
    sa.Column("value", sa.Float(precision=53), nullable=False),
    sqlite_with_rowid=False,
    # PostgreSQL (migration 0014): one partition per UTC day plus a default partition
    # (collector.partitions); the partitions themselves are not in this metadata.
    postgresql_partition_by="RANGE (ts)",
)

latest = sa.Table(
    "latest",
    metadata,
    # INTEGER on SQLite makes series_id the rowid: one B-tree instead of table + index.
    sa.Column(
        "series_id", BigId, sa.ForeignKey("series.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("value", sa.Float(precision=53), nullable=False),
)

# avg = sum / count; "last" is the value with the largest ts seen in the hour.
rollups_hourly = sa.Table(
    "rollups_hourly",
    metadata,
    sa.Column("series_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hour", sa.BigInteger, primary_key=True, autoincrement=False),  # epoch of hour start
    sa.Column("min", sa.Float(precision=53), nullable=False),
    sa.Column("max", sa.Float(precision=53), nullable=False),
    sa.Column("sum", sa.Float(precision=53), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last", sa.Float(precision=53), nullable=False),
    sa.Column("last_ts", Epoch, nullable=False),
    sqlite_with_rowid=False,
    postgresql_partition_by="RANGE (hour)",  # one partition per UTC month (collector.partitions)
)

# The progress of the ``rollups`` job (collector/rollups.py): every hour before built_until
# is built from raw samples, and of the hour built_until the series with ids up to
# built_series. One row (id 1), written by the migration.
rollup_state = sa.Table(
    "rollup_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("built_until", sa.BigInteger, nullable=False),
    sa.Column("built_series", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("batch_id", sa.String(36), nullable=False, unique=True),
    sa.Column("agent_id", sa.String(36), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("samples", sa.Integer, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("assets", sa.Integer, nullable=False),
    sa.Column("received_at", Epoch, nullable=False, index=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id"), nullable=False),
    sa.Column("agent_id", sa.String(36), sa.ForeignKey("agents.id"), nullable=True),
    sa.Column("type", sa.String(60), nullable=False),
    sa.Column("ts", Epoch, nullable=False, index=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("received_at", Epoch, nullable=False),
    sa.Index(None, "asset_id", "ts"),
)

# ---------------------------------------------------------------------- rule engine
# The state of every alert that is not idle (pending, firing, clocks running, flapping),
# so a restart keeps `for` and `keep_firing_for` clocks. `state` is the engine's
# collector.rules.engine.Core as JSON; the other columns are for listing and filtering.
rule_alerts = sa.Table(
    "rule_alerts",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),  # rule + asset + identifying labels
    sa.Column("rule_id", sa.String(100), nullable=False),
    sa.Column("client_id", sa.Integer, nullable=False),
    sa.Column("asset_id", sa.Integer, nullable=False),
    sa.Column("series_id", sa.BigInteger, nullable=True),  # NULL: a per-asset rule (metric: any)
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("severity", sa.String(10), nullable=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.Index(None, "status"),
    sa.Index("ix_rule_alerts_asset_id", "asset_id"),
)

# Append-only: every alert transition the engine produced (the incident lifecycle reads it).
alert_transitions = sa.Table(
    "alert_transitions",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("rule_id", sa.String(100), nullable=False),
    sa.Column("client_id", sa.Integer, nullable=False),
    sa.Column("asset_id", sa.Integer, nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("previous_status", sa.String(10), nullable=False),
    sa.Column("severity", sa.String(10), nullable=True),
    sa.Column("previous_severity", sa.String(10), nullable=True),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("value", sa.Float(precision=53), nullable=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("runbook", sa.Text, nullable=True),
    sa.Column("flapping", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("recorded_at", Epoch, nullable=False),
    sa.Index(None, "fingerprint", "id"),
    sa.Index(None, "recorded_at"),
)

# ---------------------------------------------------------------------- noise control
# Maintenance windows defined through the API (the YAML file's windows live in the file).
# `definition` is a collector.incidents.maintenance.MaintenanceWindow as JSON.
maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.UniqueConstraint("client_id", "name"),
)

# Signals a noise stage held back (inside a maintenance window; while a site's other agents
# may still be going silent): the newest signal per fingerprint, re-evaluated at `until`.
deferred_signals = sa.Table(
    "deferred_signals",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("until", Epoch, nullable=False, index=True),
    sa.Column("status", sa.String(10), nullable=False),  # of the newest signal: firing | resolved
    sa.Column("signal", sa.JSON, nullable=False),
    sa.Column("deferred_at", Epoch, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
)

# ---------------------------------------------------------------------- incidents
# One row per incident; `key` (UPK-<client>-<number>) is stable and carried by every ticket.
# `number` counts per client (incident_counters). At most one incident per fingerprint is
# active (open, acknowledged or waiting) at a time: the partial unique index below enforces
# it for every replica of a cluster (collector.incidents.lifecycle.ACTIVE).
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(140), nullable=False, unique=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=True),  # NULL: reported by a person
    sa.Column("site", sa.String(100), nullable=True),
    sa.Column("asset_id", sa.Integer, nullable=True),
    sa.Column("asset", sa.String(253), nullable=True),
    sa.Column("rule", sa.String(200), nullable=True),  # rule id or Alertmanager alertname
    sa.Column("origin", sa.String(20), nullable=False),
    sa.Column("state", sa.String(30), nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(10), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    # What a rule's title was rendered from (template, fields, value, unit, forecast), so it can
    # be said in the client's language (collector.incidents.titles); NULL: the title as stored.
    sa.Column("title_source", sa.JSON, nullable=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("first_value", sa.Float(precision=53), nullable=True),
    sa.Column("last_value", sa.Float(precision=53), nullable=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("flapping", sa.Boolean, nullable=False),
    sa.Column("assignee", sa.String(100), nullable=True),
    sa.Column("cause", sa.String(20), nullable=True),
    sa.Column("resolution_note", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),  # +1 per event; with the action, one delivery
    # Re-notification back-off (collector.incidents.renotify): when the ticket systems last
    # heard of it, and how many reminders went out since the last real change.
    sa.Column("last_notified_at", Epoch, nullable=True),
    sa.Column("reminders_sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("opened_at", Epoch, nullable=False),
    sa.Column("acknowledged_at", Epoch, nullable=True),
    sa.Column("resolved_at", Epoch, nullable=True),
    sa.Column("closed_at", Epoch, nullable=True),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.UniqueConstraint("client_id", "number"),
    sa.Index(None, "fingerprint", "state"),
    sa.Index(None, "state", "opened_at"),
)

#: The states in which an incident is active (one per fingerprint); lifecycle.ACTIVE.
ACTIVE_STATES = ("open", "acknowledged", "waiting_for_client", "waiting_for_third_party")
ACTIVE_FINGERPRINT_INDEX = "uq_incidents_active_fingerprint"
_active = sa.and_(incidents.c.fingerprint.is_not(None), incidents.c.state.in_(ACTIVE_STATES))
sa.Index(
    ACTIVE_FINGERPRINT_INDEX,
    incidents.c.fingerprint,
    unique=True,
    postgresql_where=_active,
    sqlite_where=_active,
)

incident_counters = sa.Table(
    "incident_counters",
    metadata,
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

# Append-only: who did what to an incident, when (the lifecycle and technicians).
incident_events = sa.Table(
    "incident_events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),  # "upkeep" for automatic changes
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index(None, "incident_id", "id"),
)

incident_comments = sa.Table(
    "incident_comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
)

# Work logged on an incident or on a service request (exactly one of the two). ``source``
# is "upkeep" for entries made here, or the connector whose ticket system they were mirrored
# from (``external_id`` is then that system's id, so a re-read never adds one twice).
time_entries = sa.Table(
    "time_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True, index=True),
    sa.Column(
        "request_id", sa.Integer, sa.ForeignKey("service_requests.id"), nullable=True, index=True
    ),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False),
    sa.Column("work_type", sa.String(40), nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("source", sa.String(100), nullable=False, server_default="upkeep"),
    sa.Column("external_id", sa.String(200), nullable=True),
    sa.Column("spent_at", Epoch, nullable=True),  # when the work was done (default: created_at)
    sa.Column("created_at", Epoch, nullable=False),
    sa.UniqueConstraint("source", "external_id"),
    sa.CheckConstraint("(incident_id IS NULL) <> (request_id IS NULL)", name="one_subject"),
)

# Where each incident lives in each ticket system (the connector's TicketRef).
tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("closed_remotely_at", Epoch, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
)

# Transactional outbox: written with the incident change, delivered by the workers
# (collector.incidents.outbox). `payload` is the TicketSubject snapshot at that version.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("connector", sa.String(100), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # pending | in_flight | done | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Epoch, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    # When the current run of failures began (None: not failing); dead after outbox_max_age.
    sa.Column("first_failed_at", Epoch, nullable=True),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("claimed_until", Epoch, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("delivered_at", Epoch, nullable=True),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "incident_id", "connector", "id"),
)


# ---------------------------------------------------------------------- contracts (issue 6)
# One contract per client. ``definition`` is a collector.contracts.model.Contract as JSON
# (validated before it is stored); ``source`` is the YAML file it was loaded from, or "api".
contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
)

# The SLA clock of each incident, recomputed from its history on every change and by the
# sweep (collector.sla). Targets are those of the incident's current priority; due times
# are absolute (the contract's calendar and the pauses so far applied); elapsed times are
# business or calendar seconds as the target says.
incident_sla = sa.Table(
    "incident_sla",
    metadata,
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # running | paused | stopped
    sa.Column(
        "response_target", Epoch, nullable=True
    ),  # seconds; NULL: no target for this priority
    sa.Column("response_due_at", Epoch, nullable=True),
    sa.Column("responded_at", Epoch, nullable=True),
    sa.Column("response_elapsed", Epoch, nullable=False),
    sa.Column("response_breached", sa.Boolean, nullable=False),
    sa.Column("resolution_target", Epoch, nullable=True),
    sa.Column("resolution_due_at", Epoch, nullable=True),
    sa.Column("resolved_at", Epoch, nullable=True),
    sa.Column("resolution_elapsed", Epoch, nullable=False),
    sa.Column("resolution_breached", sa.Boolean, nullable=False),
    sa.Column("paused_seconds", Epoch, nullable=False),
    # Which notices went out already (e.g. ["response:warning", "resolution:breach"]).
    sa.Column("notified", sa.JSON, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.Index(None, "client_id", "state"),
    sa.Index(None, "state", "resolution_due_at"),
)

# Pause history: one row per stay in a waiting state (kept across priority changes).
sla_pauses = sa.Table(
    "sla_pauses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column(
        "reason", sa.String(30), nullable=False
    ),  # waiting_for_client | waiting_for_third_party
    sa.Column("started_at", Epoch, nullable=False),
    sa.Column("ended_at", Epoch, nullable=True),
    sa.Column("actor", sa.String(100), nullable=False),
)

# Which releases may run on this schema (one row, written by every ``Store.upgrade``): the
# revision migrated to and the revisions whose code is compatible with it (docs/cluster.md,
# rolling upgrade). A replica that does not know the database's revision reads this.
schema_compat = sa.Table(
    "schema_compat",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.String(32), nullable=False),
    sa.Column("compatible", sa.JSON, nullable=False),
    sa.Column("written_at", Epoch, nullable=False),
)

# The SLA notices sent (warning at the contract's threshold, breach at the due time): the SLA
# domain's own record of them, written by the SLA clocks (listener and sweep) and shown in
# the incident's timeline through collector.sla.queries.timeline — the clocks never write
# into the incident's own event log (collector/incidents/service.py: listeners only read).
sla_notices = sa.Table(
    "sla_notices",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("target", sa.String(12), nullable=False),  # response | resolution
    sa.Column("kind", sa.String(12), nullable=False),  # warning | breach
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),  # priority, within, clock, due_at, elapsed, body
    sa.UniqueConstraint("incident_id", "target", "kind"),
    sa.Index(None, "client_id", "ts"),
)

# Service requests (non-standard work the client asks for): estimated in points, approved or
# rejected by the client, charged on completion (collector.ledger.requests).
service_requests = sa.Table(
    "service_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(140), nullable=False, unique=True),  # REQ-<client>-<n>
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("standard", sa.Boolean, nullable=False),  # a standard request costs nothing
    sa.Column("work_type", sa.String(40), nullable=True),
    # new | awaiting_approval | approved | rejected | in_progress | done | cancelled
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("estimate_minutes", sa.Integer, nullable=True),
    sa.Column("estimate_centipoints", sa.BigInteger, nullable=True),
    sa.Column("approved_centipoints", sa.BigInteger, nullable=True),  # the cap the client agreed to
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_via", sa.String(20), nullable=True),  # api | email | phone | portal
    sa.Column("decided_at", Epoch, nullable=True),
    sa.Column("decision_note", sa.Text, nullable=True),
    sa.Column("started_at", Epoch, nullable=True),
    sa.Column("completed_at", Epoch, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.UniqueConstraint("client_id", "number"),
    sa.Index(None, "client_id", "state"),
)

request_counters = sa.Table(
    "request_counters",
    metadata,
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

# Append-only: what happened to a service request (estimated, approved, rejected, …).
request_events = sa.Table(
    "request_events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("service_requests.id"), nullable=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index(None, "request_id", "id"),
)

# The points ledger: append-only; the balance is the sum of ``centipoints`` (hundredths of a
# point, so sums are exact). ``dedupe_key`` makes a retried or concurrent write of the same
# entry (a period's allotment, an incident's charge) a no-op instead of a second entry.
ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),  # the contract period, e.g. "2026-10"
    # allotment | rollover | charge | topup | adjustment | expiry
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("centipoints", sa.BigInteger, nullable=False),  # + credit, - debit
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("service_requests.id"), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=True, unique=True),
    sa.CheckConstraint(
        "kind IN ('allotment', 'rollover', 'charge', 'topup', 'adjustment', 'expiry')", name="kind"
    ),
    sa.Index(None, "client_id", "period"),
    sa.Index(None, "client_id", "ts"),
)

# Low-balance notices sent: once per threshold per client and period.
ledger_notices = sa.Table(
    "ledger_notices",
    metadata,
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("threshold", sa.String(20), primary_key=True),  # e.g. "25%", "10%", "zero"
    sa.Column("balance_centipoints", sa.BigInteger, nullable=False),
    sa.Column("sent_at", Epoch, nullable=False),
)

# Preventive work: incidents caught proactively and resolved before anyone reported the
# problem, and scheduled maintenance tasks done; each with its evidence (the metric before
# and after, a supply replaced, …) as JSON.
preventive_work = sa.Table(
    "preventive_work",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # incident | task
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True, unique=True),
    sa.Column("task_id", sa.String(100), nullable=True),  # the contract's maintenance task id
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("asset", sa.String(253), nullable=True),
    sa.Column("done_at", Epoch, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Index(None, "client_id", "done_at"),
    sa.Index(None, "client_id", "task_id", "done_at"),
)

# Client-facing notifications (low balance, approval requests, SLA notices to contacts,
# monthly reports): a second transactional outbox, delivered by e-mail / webhook workers
# (collector.notify). ``dedupe_key`` keeps a notice from being queued twice.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=True, unique=True),
    sa.Column("recipients", sa.JSON, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=True),
    sa.Column("attachments", sa.JSON, nullable=False),  # [{name, content_type, path}]
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # pending | in_flight | done | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Epoch, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("first_failed_at", Epoch, nullable=True),
    sa.Column("claimed_until", Epoch, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("sent_at", Epoch, nullable=True),
    sa.Index(None, "state", "next_attempt_at"),
)

# ---------------------------------------------------------------------- web UI, reports (issue 7)
# Failed web logins, one row each (``key`` is ``user:<name>`` or ``addr:<address>``): counted
# by every replica alike; rows older than the throttling window are deleted.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("at", Epoch, nullable=False),
    sa.Index(None, "key", "at"),
    sa.Index(None, "at"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),  # argon2id
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=True),
    sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("email", sa.String(300), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("last_login_at", Epoch, nullable=True),
    sa.CheckConstraint("role IN ('admin', 'technician', 'client_viewer')", name="role"),
    sa.CheckConstraint(
        "(role = 'client_viewer') = (client_id IS NOT NULL)", name="client_for_viewer"
    ),
)

# Server-side sessions: the cookie carries a random id; only its SHA-256 is stored.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("last_seen_at", Epoch, nullable=False),
    sa.Column("expires_at", Epoch, nullable=False, index=True),
)

# Generated client reports, archived with their content hash (collector.reports).
# Files the collector makes and serves (report archive, attachments): in the database, so
# any replica of a cluster can serve and mail them (collector.artefacts).
artefacts = sa.Table(
    "artefacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False),  # report | …
    sa.Column("name", sa.String(255), nullable=False),  # file name for downloads and mails
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),
    sa.Column("format", sa.String(10), nullable=False),  # html | pdf | json | csv
    sa.Column("language", sa.String(10), nullable=False),
    # Where the content is: an artefact (since 0010), else a file (older archives).
    sa.Column("path", sa.Text, nullable=False),  # the file name, or the file under data_dir/reports
    sa.Column("artefact_id", sa.Integer, sa.ForeignKey("artefacts.id"), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("generated_by", sa.String(100), nullable=False),
    sa.Column("generated_at", Epoch, nullable=False),
    sa.Column("emailed_at", Epoch, nullable=True),  # queued to the report contacts (not: sent)
    # The notification that mails it (its state says pending / e-mailed / failed, and why).
    sa.Column("notification_id", BigId, nullable=True),
    # A report of a period not over yet is a draft that client viewers do not see until it is
    # published (``published_at``) or the period has ended (``period_end``).
    sa.Column("period_end", Epoch, nullable=True),
    sa.Column("published_at", Epoch, nullable=True),
    sa.Column("published_by", sa.String(100), nullable=True),
    sa.Index(None, "client_id", "period"),
)

# Closing communication (collector.closing): one row per resolution of an incident the client
# sees. ``token_id`` names the row in its signed confirm/reopen links; the conditional UPDATE
# out of ``awaiting`` makes each row's links single-use.
incident_closings = sa.Table(
    "incident_closings",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("token_id", sa.String(40), nullable=False, unique=True),
    # closing: the message with confirm/reopen links; announce: a proactive fix, told on its
    # own; digest: a proactive fix, told in the client's daily digest.
    sa.Column("kind", sa.String(12), nullable=False),
    # due (message not sent yet) | awaiting (sent, no answer) | confirmed | reopened |
    # auto_closed | announced | superseded (reopened before it was answered or sent)
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("resolved_at", Epoch, nullable=False),
    sa.Column("due_at", Epoch, nullable=False),  # when the message is composed and queued
    sa.Column("sent_at", Epoch, nullable=True),
    sa.Column("expires_at", Epoch, nullable=True),  # no answer by then: closed automatically
    sa.Column("notification_id", BigId, nullable=True),
    sa.Column("answered_at", Epoch, nullable=True),
    sa.Column("answered_by", sa.String(200), nullable=True),
    sa.Column("answered_via", sa.String(12), nullable=True),  # link | portal | auto
    sa.Column("rating", sa.SmallInteger, nullable=True),  # 1–5
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
    sa.Index(None, "state", "due_at"),
    sa.Index(None, "incident_id"),
    sa.Index(None, "client_id", "answered_at"),
)

# ---------------------------------------------------------------------- cluster (PostgreSQL)
# Rule evaluation is split into shards (collector.cluster.shard_of(client_id)); each shard is
# owned by one live replica through a lease row. `generation` is the fencing token: it grows
# on every change of owner, and every write of alert state checks it in its own transaction.
shard_leases = sa.Table(
    "shard_leases",
    metadata,
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.String(100), nullable=True),  # a replicas.id; NULL: never owned
    sa.Column("generation", sa.BigInteger, nullable=False),
    sa.Column("expires_at", Epoch, nullable=False),  # database clock; <= now: free to take
    sa.Column("acquired_at", Epoch, nullable=True),
    sa.Column("renewed_at", Epoch, nullable=True),
)

# Every live replica's heartbeat: how many replicas share the shards (each takes at most
# ceil(shards / live replicas)), and what `upkeep cluster status` shows.
replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", Epoch, nullable=False),
    sa.Column("heartbeat_at", Epoch, nullable=False),
)

# The hand-off from the replica that stored a batch to the owner of its client's shard:
# written in the ingest transaction, claimed by the owner with FOR UPDATE SKIP LOCKED and
# deleted in the transaction that stores the resulting alert state.
shard_queue = sa.Table(
    "shard_queue",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("shard", sa.Integer, nullable=False),
    sa.Column("client_id", sa.Integer, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),  # {"series": {id: [...]}, "rows": [[id, ts, v]]}
    sa.Index(None, "shard", "id"),
)

# ---------------------------------------------------------------------- remote write (issue 15)
# Samples waiting for the Prometheus remote-write sender (collector.remote_write.exporter):
# written in the ingest transaction, deleted once the receiver took them. No high-water mark:
# the sender deletes exactly the rows it sent, so a row committed late is sent at the next turn.
remote_write_queue = sa.Table(
    "remote_write_queue",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("series_id", sa.BigInteger, nullable=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("value", sa.Float(precision=53), nullable=False),
)

# ---------------------------------------------------------------------- remediation (issue 18)
# Signed tasks for agents (collector/remediation): queued → delivered → succeeded | failed |
# refused | expired; ``cancelled`` before delivery; ``awaiting_approval`` while the client
# decides (policy client). ``payload``/``signature`` are exactly what the agent verifies.
remediation_tasks = sa.Table(
    "remediation_tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id"), nullable=False),
    sa.Column("asset", sa.String(253), nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("policy", sa.String(20), nullable=False),  # auto | technician | client
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("expires_at", Epoch, nullable=False),
    sa.Column("payload", sa.Text, nullable=True),  # NULL until approved (policy client)
    sa.Column("signature", sa.String(100), nullable=True),
    sa.Column("delivered_at", Epoch, nullable=True),
    sa.Column("finished_at", Epoch, nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("duration", sa.Float, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),  # measured before/after, facts
    sa.Column("request_key", sa.String(140), nullable=True),  # ledger request (policy client)
    sa.Index(None, "client_id", "asset_id", "state"),
    sa.Index(None, "asset_id", "created_at"),
    sa.Index(None, "incident_id"),
)

# Append-only: who did what to which task, where, with what result. Never updated.
remediation_audit = sa.Table(
    "remediation_audit",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("event", sa.String(30), nullable=False),
    sa.Column("task_id", sa.String(36), nullable=True),
    sa.Column("client_id", sa.Integer, nullable=True),
    sa.Column("asset", sa.String(253), nullable=True),
    sa.Column("action", sa.String(100), nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index(None, "task_id"),
    sa.Index(None, "client_id", "ts"),
)
# On-call (collector.oncall, docs/oncall.md). Overrides made through the API/CLI/UI (the
# YAML files' overrides are not stored); a deleted override is kept with deleted_at.
oncall_overrides = sa.Table(
    "oncall_overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rotation", sa.String(64), nullable=False),
    sa.Column("person", sa.String(64), nullable=False),
    sa.Column("replaces", sa.String(64), nullable=True),
    sa.Column("starts_at", Epoch, nullable=False),
    sa.Column("ends_at", Epoch, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("deleted_at", Epoch, nullable=True),
    sa.Column("deleted_by", sa.String(200), nullable=True),
    sa.Index(None, "rotation", "ends_at"),
)

# One escalation climb per incident: the next step and when it is due. The job moves
# ``next_step`` with a conditional UPDATE, so a step is paged once across replicas/restarts.
oncall_escalations = sa.Table(
    "oncall_escalations",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("client", sa.String(100), nullable=False),
    sa.Column("policy", sa.String(64), nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("started_at", Epoch, nullable=False),
    sa.Column("next_step", sa.Integer, nullable=False),
    sa.Column("next_at", Epoch, nullable=True),  # None: nothing more to page
    sa.Column("sla_pulled", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # running | acknowledged | resolved | done
    sa.Column("stopped_at", Epoch, nullable=True),
    sa.Column("stopped_by", sa.String(200), nullable=True),
    sa.Column("stop_recorded", sa.Boolean, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.Index(None, "state", "next_at"),
)

# Every page sent (one person, one channel, one step); the signed links name the page, and
# ``used_at`` makes them single-use.
oncall_pages = sa.Table(
    "oncall_pages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("person", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),  # schedule | sla_warning
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("used_at", Epoch, nullable=True),
    sa.Column("used_for", sa.String(12), nullable=True),  # acknowledge | resolve
    sa.Index(None, "incident_id"),
)

#: Changes made to the collector's configuration from the web UI (connectors saved, disabled):
#: who, when, what — never a secret (collector/connectors/saved.py).
config_audit = sa.Table(
    "config_audit",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index(None, "subject", "id"),
)
