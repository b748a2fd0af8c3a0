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

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
})

Epoch = sa.Float(precision=53)  # DOUBLE PRECISION on PostgreSQL; REAL on SQLite
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite aliases rowid only for INTEGER

clients = sa.Table(
    "clients", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Epoch, nullable=False),
)

sites = sa.Table(
    "sites", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.UniqueConstraint("client_id", "name"),
)

assets = sa.Table(
    "assets", metadata,
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
)

agents = sa.Table(
    "agents", metadata,
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
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # "agent" (bound to a client), "admin", "alertmanager"
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
    "series", metadata,
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
    "samples", metadata,
    sa.Column("series_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", Epoch, primary_key=True),
    sa.Column("value", sa.Float(precision=53), nullable=False),
    sqlite_with_rowid=False,
)

latest = sa.Table(
    "latest", metadata,
    # INTEGER on SQLite makes series_id the rowid: one B-tree instead of table + index.
    sa.Column("series_id", BigId, sa.ForeignKey("series.id"), primary_key=True, autoincrement=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("value", sa.Float(precision=53), nullable=False),
)

# avg = sum / count; "last" is the value with the largest ts seen in the hour.
rollups_hourly = sa.Table(
    "rollups_hourly", metadata,
    sa.Column("series_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hour", sa.BigInteger, primary_key=True, autoincrement=False),  # epoch of hour start
    sa.Column("min", sa.Float(precision=53), nullable=False),
    sa.Column("max", sa.Float(precision=53), nullable=False),
    sa.Column("sum", sa.Float(precision=53), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last", sa.Float(precision=53), nullable=False),
    sa.Column("last_ts", Epoch, nullable=False),
    sqlite_with_rowid=False,
)

batches = sa.Table(
    "batches", metadata,
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
    "events", metadata,
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
    "rule_alerts", metadata,
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
)

# Append-only: every alert transition the engine produced (the incident lifecycle reads it).
alert_transitions = sa.Table(
    "alert_transitions", metadata,
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
    "maintenance_windows", metadata,
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
    "deferred_signals", metadata,
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
# open or acknowledged at a time (collector.incidents.lifecycle).
incidents = sa.Table(
    "incidents", metadata,
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

incident_counters = sa.Table(
    "incident_counters", metadata,
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

# Append-only: who did what to an incident, when (the lifecycle and technicians).
incident_events = sa.Table(
    "incident_events", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),  # "upkeep" for automatic changes
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index(None, "incident_id", "id"),
)

incident_comments = sa.Table(
    "incident_comments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
)

time_entries = sa.Table(
    "time_entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False),
    sa.Column("work_type", sa.String(40), nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
)

# Where each incident lives in each ticket system (the connector's TicketRef).
tickets = sa.Table(
    "tickets", metadata,
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
    "outbox", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("connector", sa.String(100), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # pending | in_flight | done | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Epoch, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("claimed_until", Epoch, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("delivered_at", Epoch, nullable=True),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "incident_id", "connector", "id"),
)
