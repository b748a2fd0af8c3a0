"""Management views for the service company (issue 7): how the work is going across clients.

Created vs resolved incidents, open incidents by age and priority, SLA compliance per client
and priority, workload per technician, top problem assets and clients, time spent vs fee,
points consumption and the connectors' health. Each view is a function over the store and a
time range that returns plain data (:mod:`.views`, models in :mod:`.models`, time arithmetic
in :mod:`.periods`); the JSON API is :mod:`.api` and the server-rendered pages :mod:`.pages`
(templates in ``templates/management/``). See docs/management.md.
"""

from __future__ import annotations

from pathlib import Path

#: Where the page templates live (``management/*.html``), for a Jinja2 loader.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
