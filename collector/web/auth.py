"""Web UI users, password hashes, server-side sessions and login throttling.

Passwords are hashed with argon2id (argon2-cffi's defaults); a login also upgrades a hash made
with older parameters. A session is a random id (256 bits) in an HttpOnly cookie; the store
keeps only its SHA-256, the user, a per-session CSRF token and its idle and absolute expiry,
so a stolen database holds nothing that logs anyone in. Logout deletes the row.

:class:`LoginThrottle` is pure (time is passed in): after ``max_failures`` failed logins for a
key (a user name; the web UI keeps a second, larger budget per address) within ``window``
seconds, further attempts are refused until the oldest failure leaves the window. The failures
are rows in the database, so every replica on one store counts the same (docs/web-ui.md). The
address is the real client's: behind a reverse proxy listed in ``trusted_proxies`` it comes
from ``X-Forwarded-For`` / ``Forwarded`` (collector.proxies).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from collector.errors import AlreadyExists, InvalidArgument, NotFound
from collector.schema import clients, login_failures, users, web_sessions
from collector.store import Store, inserted_id

Role = Literal["admin", "technician", "client_viewer"]
ROLES: tuple[Role, ...] = ("admin", "technician", "client_viewer")
#: Roles that see every client and work incidents.
STAFF_ROLES: frozenset[str] = frozenset({"admin", "technician"})
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps a huge body from costing CPU
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Verified against when the user name is unknown, so that both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class WebUser:
    """Who is logged in: what pages and queries need to know about the user."""

    id: int
    username: str
    role: str
    client_id: int | None
    client_name: str | None
    display_name: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: its user and its CSRF token."""

    id_hash: str
    user: WebUser
    csrf_token: str
    created_at: float
    last_seen_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as listed (never the hash)."""

    id: int
    username: str
    role: str
    client: str | None
    display_name: str
    disabled: bool
    created_at: float
    last_login_at: float | None


# ---------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    """InvalidArgument unless the password is acceptable (length only: passphrases welcome)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(f"a password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidArgument(f"a password must be at most {MAX_PASSWORD_LENGTH} characters")
    if "\x00" in password:
        raise InvalidArgument("a password must not contain NUL characters")


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def tokens_match(expected: str, given: str) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


# ---------------------------------------------------------------------- users


def _client_id(conn: Connection, name: str) -> int:
    row = conn.execute(sa.select(clients.c.id).where(clients.c.name == name)).first()
    if row is None:
        raise NotFound(f"no client named {name!r}")
    return row.id


def create_user(
    conn: Connection,
    username: str,
    password: str,
    *,
    role: str,
    client: str | None = None,
    display_name: str = "",
    email: str | None = None,
    now: float,
) -> int:
    """Add a user; a client viewer needs ``client``, staff must not have one. Returns the id."""
    if not _USERNAME.match(username or ""):
        raise InvalidArgument(
            "a user name is 1 to 100 letters, digits or _ . @ - (starting with a letter or digit)"
        )
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}")
    if role == "client_viewer" and not client:
        raise InvalidArgument("a client_viewer needs --client (the client whose pages they see)")
    if role != "client_viewer" and client:
        raise InvalidArgument(f"a {role} sees every client; --client is only for client_viewer")
    client_id = _client_id(conn, client) if client else None
    if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
        raise AlreadyExists(f"user {username!r} already exists")
    result = conn.execute(
        users.insert().values(
            username=username,
            password_hash=hash_password(password),
            role=role,
            client_id=client_id,
            display_name=display_name[:200],
            email=email,
            disabled=False,
            created_at=now,
        )
    )
    return inserted_id(result)


def list_users(conn: Connection) -> list[UserInfo]:
    rows = conn.execute(
        sa.select(users, clients.c.name.label("client"))
        .outerjoin(clients, clients.c.id == users.c.client_id)
        .order_by(users.c.username)
    )
    return [
        UserInfo(
            r.id,
            r.username,
            r.role,
            r.client,
            r.display_name,
            bool(r.disabled),
            r.created_at,
            r.last_login_at,
        )
        for r in rows
    ]


def _user_id(conn: Connection, username: str) -> int:
    row = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user named {username!r}")
    return row.id


def set_disabled(conn: Connection, username: str, disabled: bool) -> None:
    """Disable (or enable) a user; disabling also ends all their sessions."""
    user_id = _user_id(conn, username)
    conn.execute(users.update().where(users.c.id == user_id).values(disabled=disabled))
    if disabled:
        conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))


def set_password(conn: Connection, username: str, password: str) -> None:
    """Replace the password; every session of the user ends (log in again everywhere)."""
    user_id = _user_id(conn, username)
    conn.execute(
        users.update().where(users.c.id == user_id).values(password_hash=hash_password(password))
    )
    conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))


def _web_user(row: sa.Row) -> WebUser:
    return WebUser(
        row.id, row.username, row.role, row.client_id, row.client, row.display_name or ""
    )


_USER_QUERY = sa.select(users, clients.c.name.label("client")).outerjoin(
    clients, clients.c.id == users.c.client_id
)


def check_login(store: Store, username: str, password: str, now: float) -> WebUser | None:
    """The user if the name and password match an enabled user, else None (same time either way).

    The hash is checked outside any transaction: argon2 takes tens of milliseconds, and on
    SQLite a write transaction holds the store's one write lock.
    """
    with store.read() as conn:
        row = conn.execute(_USER_QUERY.where(users.c.username == username)).first()
    if row is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row.password_hash, password) or row.disabled:
        return None
    values: dict[str, object] = {"last_login_at": now}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    with store.write() as conn:
        conn.execute(users.update().where(users.c.id == row.id).values(**values))
    return _web_user(row)


# ---------------------------------------------------------------------- sessions


def create_session(
    conn: Connection, user_id: int, *, now: float, max_age: float
) -> tuple[str, str]:
    """A new session for the user: ``(cookie value, csrf token)``. Only the id's hash is stored."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        web_sessions.insert().values(
            id_hash=hash_session_id(session_id),
            user_id=user_id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
        )
    )
    return session_id, csrf


def session_state(last_seen_at: float, expires_at: float, now: float, idle: float) -> str:
    """``live``, ``idle`` (no request for ``idle`` seconds) or ``expired`` (past the absolute end)."""
    if now >= expires_at:
        return "expired"
    if now - last_seen_at >= idle:
        return "idle"
    return "live"


#: last_seen_at is written at most this often per session (a write per page view is waste).
TOUCH_EVERY = 60.0


def load_session(store: Store, session_id: str, *, now: float, idle: float) -> Session | None:
    """The live session for a cookie value, or None; an ended session's row is deleted.

    Read first, write only when needed (an ended session, or ``last_seen_at`` due a touch).
    """
    if not session_id or len(session_id) > 200:
        return None
    id_hash = hash_session_id(session_id)
    with store.read() as conn:
        row = conn.execute(
            sa.select(
                web_sessions,
                users.c.username,
                users.c.role,
                users.c.client_id,
                users.c.display_name,
                users.c.disabled,
                clients.c.name.label("client"),
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .outerjoin(clients, clients.c.id == users.c.client_id)
            .where(web_sessions.c.id_hash == id_hash)
        ).first()
    if row is None:
        return None
    if row.disabled or session_state(row.last_seen_at, row.expires_at, now, idle) != "live":
        with store.write() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.id_hash == id_hash))
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with store.write() as conn:
            conn.execute(
                web_sessions.update()
                .where(web_sessions.c.id_hash == id_hash)
                .values(last_seen_at=now)
            )
    user = WebUser(
        row.user_id, row.username, row.role, row.client_id, row.client, row.display_name or ""
    )
    return Session(id_hash, user, row.csrf_token, row.created_at, row.last_seen_at, row.expires_at)


def delete_session(conn: Connection, session_id: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.id_hash == hash_session_id(session_id)))


def purge_sessions(conn: Connection, *, now: float, idle: float) -> int:
    """Delete sessions past their absolute or idle end; returns how many."""
    return conn.execute(
        web_sessions.delete().where(
            (web_sessions.c.expires_at <= now) | (web_sessions.c.last_seen_at <= now - idle)
        )
    ).rowcount


# ---------------------------------------------------------------------- throttling


class LoginThrottle:
    """Failed logins per key (a user name, or an address) within a sliding window, counted in
    the database (``login_failures``), so every collector replica on one store enforces the
    same budget. Time is passed in; see the module docstring for the policy.

    Rows older than the window are deleted whenever a failure is written (the only moment the
    table grows), so it holds at most the failures of the last window.
    """

    def __init__(self, store: Store, max_failures: int, window: float) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window = window

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until an attempt for any of ``keys`` is allowed again (0: allowed now)."""
        wait = 0.0
        with self.store.read() as conn:
            for key in keys:
                times = (
                    conn.execute(
                        sa.select(login_failures.c.at)
                        .where(
                            login_failures.c.key == key[:200],
                            login_failures.c.at > now - self.window,
                        )
                        .order_by(login_failures.c.at.desc())
                        .limit(self.max_failures)
                    )
                    .scalars()
                    .all()
                )
                if len(times) >= self.max_failures:
                    # Allowed again when the oldest of the newest max_failures leaves the window.
                    wait = max(wait, times[-1] + self.window - now)
        return wait

    def failed(self, keys: list[str], now: float) -> None:
        with self.store.write() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.at <= now - self.window))
            conn.execute(login_failures.insert(), [{"key": k[:200], "at": now} for k in keys])

    def succeeded(self, keys: list[str]) -> None:
        with self.store.write() as conn:
            conn.execute(
                login_failures.delete().where(login_failures.c.key.in_([k[:200] for k in keys]))
            )
