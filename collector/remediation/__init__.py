"""Remediation: an action library, signed tasks for agents, and their audit log (issue 18).

* :mod:`collector.remediation.actions` — the library (``actions/*.yaml``), validated at load;
* :mod:`collector.remediation.keys` — the Ed25519 key tasks are signed with;
* :mod:`collector.remediation.tasks` — the task domain: create, deliver, record results,
  expire, audit; the read functions (evidence for preventive work);
* :mod:`collector.remediation.service` — policies: ``auto`` on a firing alert, ``technician``
  ("Run fix"), ``client`` (approval through the ledger's requests, charged on success);
* :mod:`collector.remediation.api` — the agent endpoints and the admin API.
"""
