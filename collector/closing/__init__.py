"""Closing communication with the client (issue 16, docs/closing.md).

When an incident the client can see (in scope, or reported by them) is resolved, the contract's
``closing`` contacts get a closing message in the contract's language: what happened, when (in
their time zone), what was done (the technician's resolution note, time spent), what it cost in
points with the balance after, and two signed, expiring, single-use links — "all good, close
it" and "not solved" (reopens the incident with their comment), each taking a 1–5 rating.
Without an answer the incident closes after the contract's ``closing.auto_close_after``.
Proactive fixes the client never noticed are announced per ``closing.announce_proactive``:
each on its own, in a daily digest, or only in the monthly report.

- :mod:`collector.closing.model`: what kind of notice an incident gets (pure);
- :mod:`collector.closing.service`: the incident listener, the ``closing`` job (compose and
  queue due messages and digests, close unanswered ones), answers by link and portal, ratings;
- the texts: typed notices (:mod:`collector.notices.model`) of the one notice renderer, and
  :mod:`collector.closing.pages` for the link and portal pages (same catalog);
- :mod:`collector.closing.links`: the signed links (:class:`collector.ledger.links.ApprovalLinks`
  with their own context);
- :mod:`collector.closing.api`: the link pages, the client portal's page, the staff API.

Messages go through the durable client-notification queue (:mod:`collector.notify`), never
inside a request.
"""
