"""Wiring incidents into a running collector: the service, the rule hook, the workers, metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.yamlsource import ConfigError
from collector.connectors import ConnectorsConfig
from collector.incidents.outbox import BacklogCollector, OutboxMetrics, OutboxWorkers
from collector.incidents.service import IncidentService
from collector.ledger.runtime import Ledger
from collector.metrics import CollectorMetrics
from collector.notify import NotifyWorkers
from collector.oncall.metrics import AckTimes
from collector.oncall.model import OncallConfig
from collector.oncall.service import Oncall
from collector.rules.service import RuleService
from collector.settings import Settings
from collector.sla.service import SlaClocks
from collector.store import Store

log = logging.getLogger(__name__)


def rule_metric(rules: RuleService, rule_id: str) -> str | None:
    """The metric a loaded rule watches (None: unknown rule, or a per-asset ``metric: any`` rule)."""
    compiled = rules.engine.ruleset.rules.get(rule_id)
    if compiled is None or compiled.rule.metric == "any":
        return None
    return compiled.rule.metric


def attach_listeners(service: IncidentService) -> SlaClocks:
    """The SLA clocks as an incident listener (see :func:`attach_contract_listeners` for all)."""
    clocks = SlaClocks(service)
    service.listeners.append(clocks.on_incident)
    return clocks


def attach_contract_listeners(
    service: IncidentService,
    settings: Settings,
    metric_of: Callable[[str], str | None] | None = None,
    oncall: Oncall | None = None,
) -> tuple[SlaClocks, Ledger]:
    """Every listener an incident writer needs, the server and the CLI alike: SLA clocks, the
    preventive-work record (``metric_of``: a rule id's metric, for its evidence) and the points
    ledger (charges resolved incidents). Each reads the change and writes its own tables, so
    their order does not matter; contract scope is a pipeline stage whose decision carries the
    incident's labels (``collector.contracts.scope``), not a listener."""
    from collector.preventive import PreventiveRecorder

    clocks = attach_listeners(service)
    service.listeners.append(PreventiveRecorder(metric_of))
    ledger = Ledger(service.store, settings)
    service.listeners.append(ledger.on_incident_changed)
    # Closing communication: a due row per resolution the client should hear of (the message
    # itself is composed later by the ``closing`` job, after the ledger's charge).
    from collector.closing.service import ClosingService

    service.listeners.append(ClosingService(service.store, settings, service).on_incident)
    # On-call: starts the escalation climb of a new incident, stops it on acknowledgement.
    if oncall is None:
        try:
            oncall = Oncall(service.store, settings, service)
        except ConfigError as exc:
            # A command (``upkeep incident ack``) run without the channels' secrets in its
            # environment still stops the climb; only the server refuses a broken file.
            log.warning("on-call files not usable here (%s); climbs are still stopped", exc)
            oncall = Oncall(service.store, settings, service, OncallConfig())
    service.listeners.append(oncall.on_incident)
    return clocks, ledger


class Incidents:
    """One collector's incident machinery. Its workers and periodic jobs (SLA sweep, ticket
    polling, ledger periods) are started by the collector's job runner (:mod:`collector.background`)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        rules: RuleService,
        metrics: CollectorMetrics | None = None,
        connectors: ConnectorsConfig | None = None,
    ) -> None:
        self.config = connectors if connectors is not None else settings.connectors_config()
        self.service = IncidentService(
            store,
            self.config,
            reopen_window=settings.incidents_reopen_window,
            renotify_policy=settings.renotify_policy(),
        )
        rules.transition_listeners.append(self.service.on_transitions)
        self.oncall = Oncall(store, settings, self.service)
        self.sla, self.ledger = attach_contract_listeners(
            self.service, settings, lambda rule_id: rule_metric(rules, rule_id), self.oncall
        )
        self.outbox_metrics = OutboxMetrics(
            registry=metrics.registry if metrics is not None else None
        )
        if metrics is not None:
            metrics.register(BacklogCollector(store, settings))
            metrics.register(AckTimes(store, self.oncall.config))
        self.workers = OutboxWorkers(
            store,
            settings,
            # Ticket connectors and paging channels (``page:<name>``) share the outbox.
            {**self.config.build(), **self.oncall.channels},
            self.outbox_metrics,
            on_closed=self.service.close_from_ticket,
            incident_listeners=self.service.listeners,
        )
        # Client notices (low balance, approvals, SLA, reports) are mailed by their own workers.
        self.notify_workers = NotifyWorkers(store, settings)
        from collector.closing.service import ClosingService

        #: Closing messages, announcements, answers (its job: ``closing`` in collector.background).
        self.closing = ClosingService(store, settings, self.service)

    def log_connectors(self) -> None:
        if self.config.connectors:
            log.info(
                "outbox: %d worker(s) for connector(s) %s",
                self.workers.settings.outbox_workers,
                ", ".join(self.config.connectors),
            )
