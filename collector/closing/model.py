"""What notice a resolved incident gets (pure; no I/O).

- not visible to the client (out of scope and not reported by them): none;
- a proactive fix nobody reported meanwhile: an announcement per the contract's
  ``closing.announce_proactive`` — ``each`` (its own message), ``daily`` (the daily digest) or
  ``monthly`` (none now: the monthly report lists it);
- anything else the client sees (they reported it, or it came from another monitoring
  system and is in scope): the closing message with confirm/reopen links.
"""

from __future__ import annotations

from typing import Literal

NoticeKind = Literal["closing", "announce", "digest"]
#: Rows in these states still wait for something (sending, or the client's answer).
OPEN_STATES = ("due", "awaiting")
ANSWERS = ("confirmed", "reopened", "auto_closed")
RATINGS = range(1, 6)


def notice_for(*, visible: bool, preventive: bool, announce_proactive: str) -> NoticeKind | None:
    """The notice of one resolution (None: nothing to tell now)."""
    if not visible:
        return None
    if not preventive:
        return "closing"
    if announce_proactive == "each":
        return "announce"
    if announce_proactive == "daily":
        return "digest"
    return None


def valid_rating(value: int | None) -> int | None:
    """``value`` when it is a rating (1–5) or None; ValueError naming the range otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in RATINGS:
        raise ValueError("a rating is a whole number from 1 to 5")
    return value
