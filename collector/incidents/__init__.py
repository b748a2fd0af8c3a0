"""Incidents: lifecycle, noise-control pipeline, transactional outbox, delivery workers.

Modules, one concern each:

- :mod:`~collector.incidents.pipeline`: :class:`AlertSignal` and the stage contract every
  noise-control stage (maintenance, dependencies, re-notification) implements;
- :mod:`~collector.incidents.lifecycle`: pure decisions (no I/O) on plain values;
- :mod:`~collector.incidents.store`: reading/writing incidents, events and outbox rows;
- :mod:`~collector.incidents.outbox`: the delivery workers;
- :mod:`~collector.incidents.api` / :mod:`~collector.incidents.cli`: HTTP and ``upkeep incident``.
"""
