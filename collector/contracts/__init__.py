"""Contracts: what each client's contract covers, its calendar, SLA targets, points and tasks.

:mod:`~collector.contracts.model` is the validated YAML model (pure);
:mod:`~collector.contracts.store` loads contract files and keeps them in the ``contracts`` table.
"""
