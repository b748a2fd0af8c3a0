"""Tenant isolation of the web UI, in one place.

Every page and form asks for a :class:`Scope` (the dependency ``client_scope`` in
``collector.web.routes`` builds it from the logged-in user) and hands it to the queries in
``collector.web.queries``, which filter every client-owned table with :meth:`Scope.where`
and check single rows with :meth:`Scope.check`. A client viewer's scope is their one client;
staff see all. Templates never decide what a user may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from collector.errors import Forbidden, NotFound
from collector.web.auth import WebUser


@dataclass(frozen=True, slots=True)
class Scope:
    """The client ids a user may see; ``None``: every client."""

    client_ids: frozenset[int] | None

    @classmethod
    def of(cls, user: WebUser) -> Scope:
        if user.is_staff:
            return cls(None)
        # A client viewer without a client (impossible by the table's check) sees nothing.
        return cls(frozenset({user.client_id}) if user.client_id is not None else frozenset())

    @property
    def everything(self) -> bool:
        return self.client_ids is None

    def allows(self, client_id: int | None) -> bool:
        return self.client_ids is None or (client_id is not None and client_id in self.client_ids)

    def where(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """A filter on a ``client_id`` column: true for every row the scope may see."""
        if self.client_ids is None:
            return sa.true()
        if not self.client_ids:
            return sa.false()
        return column.in_(sorted(self.client_ids))

    def check(self, client_id: int | None, what: str) -> None:
        """NotFound (as if it did not exist) for a row of another client."""
        if not self.allows(client_id):
            raise NotFound(f"no {what}")


def require_staff(user: WebUser) -> None:
    if not user.is_staff:
        raise Forbidden("only the service company's staff may do this")


def require_admin(user: WebUser) -> None:
    if not user.is_admin:
        raise Forbidden("only an admin may do this")
