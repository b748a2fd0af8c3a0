"""Client-facing notices: typed notices rendered by one renderer.

Every message Upkeep sends a client's contacts (SLA warnings and breaches, low balance,
approval requests, report mails, closing messages) is a dataclass in
:mod:`collector.notices.model` and becomes a subject, a plain-text body and an HTML body
through :func:`collector.notices.render.render`: Jinja2 templates in ``templates/`` with the
Babel catalog ``locale/<lang>/LC_MESSAGES/upkeep_notices.po``, in the contract's language,
time zone and locale (:class:`collector.notices.render.Voice`). Values are shown in the
reader's terms by :class:`collector.notices.human.Human` (durations, sizes, percentages,
dates), which rule summaries, reports and the UI use too.
"""

from __future__ import annotations

from collector.notices.human import Human, default_locale
from collector.notices.render import Rendered, Voice, render

__all__ = ["Human", "Rendered", "Voice", "default_locale", "render"]
