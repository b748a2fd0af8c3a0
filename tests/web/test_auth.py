"""Users, passwords, sessions, cookies and login throttling of the web UI."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from collector.errors import AlreadyExists, InvalidArgument, NotFound
from collector.schema import login_failures, users, web_sessions
from collector.store import Store
from collector.web import auth
from tests.web.kit import NOW, PASSWORD, Browser, World

# ---------------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    ("last_seen", "expires", "now", "idle", "state"),
    [
        (100, 1000, 150, 60, "live"),
        (100, 1000, 160, 60, "idle"),  # exactly idle seconds without a request
        (100, 1000, 1000, 10_000, "expired"),  # the absolute end wins over a recent request
        (990, 1000, 999, 60, "live"),
        (100, 1000, 1001, 60, "expired"),
    ],
)
def test_session_state(
    last_seen: float, expires: float, now: float, idle: float, state: str
) -> None:
    assert auth.session_state(last_seen, expires, now, idle) == state


def test_throttle_locks_after_max_failures_within_the_window(store) -> None:
    throttle = auth.LoginThrottle(store, max_failures=3, window=100)
    keys = ["user:bob", "addr:1.2.3.4"]
    for t in (0, 10, 20):
        assert throttle.retry_after(keys, t) == 0
        throttle.failed(keys, t)
    assert throttle.retry_after(keys, 21) == pytest.approx(
        79
    )  # until the first failure leaves the window
    assert throttle.retry_after(["user:bob"], 99) == pytest.approx(1)
    assert throttle.retry_after(["user:alice", "addr:1.2.3.4"], 50) > 0  # the address is locked too
    assert throttle.retry_after(["user:alice", "addr:5.6.7.8"], 50) == 0
    assert throttle.retry_after(keys, 100) == 0  # the oldest failure left the window
    throttle.failed(keys, 100)
    assert throttle.retry_after(keys, 101) == pytest.approx(
        9
    )  # failures at 10, 20, 100: free at 110


def test_throttle_success_clears_only_the_given_keys(store) -> None:
    throttle = auth.LoginThrottle(store, max_failures=2, window=100)
    throttle.failed(["user:bob", "addr:x"], 0)
    throttle.failed(["user:bob", "addr:x"], 1)
    throttle.succeeded(["user:bob"])
    assert throttle.retry_after(["user:bob"], 2) == 0
    assert throttle.retry_after(["addr:x"], 2) > 0


def test_throttle_prunes_failures_older_than_the_window(store) -> None:
    throttle = auth.LoginThrottle(store, max_failures=3, window=100)
    for t in range(10):
        throttle.failed([f"user:u{t}", "addr:x"], t)
    throttle.failed(["user:late"], 205)  # every earlier failure is out of the window now
    with store.read() as conn:
        rows = conn.execute(sa.select(login_failures.c.key, login_failures.c.at)).all()
    assert [(k, at) for k, at in rows] == [("user:late", 205)]


def test_throttle_holds_across_two_collectors_on_one_database(db_url: str, tmp_path) -> None:
    """Two app instances (two engines, as two replicas) on one store: failures counted by one
    lock the user out on the other."""
    from collector.api import create_app
    from collector.settings import Settings

    first, second = Store.from_url(db_url), Store.from_url(db_url)
    try:
        first.upgrade()
        with first.write() as conn:
            auth.create_user(conn, "tech", PASSWORD, role="technician", now=0)
        settings = Settings.for_data_dir(tmp_path, database_url=db_url)
        apps = [
            create_app(settings, store=s, migrate=False, run_retention=False)
            for s in (first, second)
        ]
        for n in range(settings.web_login_max_failures):
            assert Browser(apps[n % 2]).login("tech", "wrong password!").status_code == 401
        assert Browser(apps[1]).login("tech", PASSWORD).status_code == 429
        assert Browser(apps[0]).login("tech", PASSWORD).status_code == 429
    finally:
        first.dispose()
        second.dispose()


def test_passwords_are_argon2id_and_verified() -> None:
    stored = auth.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert auth.verify_password(stored, PASSWORD)
    assert not auth.verify_password(stored, PASSWORD + "x")
    assert not auth.verify_password("not a hash", PASSWORD)
    with pytest.raises(InvalidArgument, match="at least 10"):
        auth.hash_password("short")


def test_csrf_tokens_compare_exactly() -> None:
    assert auth.tokens_match("abc", "abc")
    assert not auth.tokens_match("abc", "abd")
    assert not auth.tokens_match("", "")  # a session always has a token; empty never matches


# ---------------------------------------------------------------------- users in the store


def test_user_rules(store: Store) -> None:
    from collector import admin

    admin.create_client(store, "acme")
    with store.write() as conn:
        auth.create_user(conn, "ann", PASSWORD, role="technician", now=NOW)
        with pytest.raises(AlreadyExists):
            auth.create_user(conn, "ann", PASSWORD, role="technician", now=NOW)
        with pytest.raises(InvalidArgument, match="needs --client"):
            auth.create_user(conn, "cv", PASSWORD, role="client_viewer", now=NOW)
        with pytest.raises(InvalidArgument, match="only for client_viewer"):
            auth.create_user(conn, "t2", PASSWORD, role="admin", client="acme", now=NOW)
        with pytest.raises(NotFound):
            auth.create_user(conn, "cv", PASSWORD, role="client_viewer", client="nope", now=NOW)
        with pytest.raises(InvalidArgument, match="role must be"):
            auth.create_user(conn, "x", PASSWORD, role="root", now=NOW)
        with pytest.raises(InvalidArgument, match="user name"):
            auth.create_user(conn, "../x", PASSWORD, role="admin", now=NOW)
        auth.create_user(conn, "cv", PASSWORD, role="client_viewer", client="acme", now=NOW)
    with store.read() as conn:
        listed = {u.username: u for u in auth.list_users(conn)}
    assert listed["cv"].client == "acme" and listed["ann"].client is None
    assert auth.check_login(store, "ann", PASSWORD, NOW).role == "technician"
    assert auth.check_login(store, "ann", "wrong password!", NOW) is None
    assert auth.check_login(store, "nobody", PASSWORD, NOW) is None
    with store.write() as conn:
        auth.set_disabled(conn, "ann", True)
    assert auth.check_login(store, "ann", PASSWORD, NOW) is None


# ---------------------------------------------------------------------- sessions over HTTP


def _session_rows(world: World) -> list[Any]:
    with world.store.read() as conn:
        return conn.execute(sa.select(web_sessions)).all()


def test_login_sets_a_hardened_cookie_and_stores_only_its_hash(world: World) -> None:
    b = Browser(world.app)
    response = b.login("tech")
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    cookie = response.headers["set-cookie"]
    assert "upkeep_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/ui" in cookie and "Secure" not in cookie  # plain http, no setting
    session_id = b.http.cookies["upkeep_session"]
    rows = _session_rows(world)
    assert len(rows) == 1 and rows[0].id_hash == auth.hash_session_id(session_id)
    assert session_id not in repr(rows)  # the cookie value itself is stored nowhere
    assert rows[0].expires_at - rows[0].created_at == world.settings.web_session_max_age
    # Pages carry security headers.
    page = b.get("/ui/")
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert page.headers["cache-control"] == "no-store"


def test_cookie_is_secure_over_https_or_when_the_setting_says_so(world: World) -> None:
    b = Browser(world.app)
    b.http = TestClient(world.app, base_url="https://testserver", follow_redirects=False)
    assert "Secure" in b.login("tech").headers["set-cookie"]
    # Behind a TLS proxy that does not say so: the setting marks cookies Secure on plain http.
    world.app.state.runtime.settings = world.settings.model_copy(update={"web_cookie_secure": True})
    plain = TestClient(world.app, follow_redirects=False)
    assert "Secure" in plain.get("/ui/login").headers["set-cookie"]


def test_logout_deletes_the_session(world: World, browser: Any) -> None:
    b = browser("tech")
    old_cookie = b.http.cookies["upkeep_session"]
    assert len(_session_rows(world)) == 1
    response = b.post("/ui/logout")
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert _session_rows(world) == []
    # The old cookie, replayed, is worthless.
    replay = TestClient(world.app, follow_redirects=False, cookies={"upkeep_session": old_cookie})
    assert replay.get("/ui/").status_code == 303


def test_idle_and_absolute_expiry(world: World, browser: Any) -> None:
    b = browser("tech")
    idle = world.settings.web_session_idle
    with world.store.write() as conn:
        conn.execute(
            web_sessions.update().values(last_seen_at=NOW - idle - 1, created_at=NOW - idle - 1)
        )
    assert b.get("/ui/").status_code == 303  # idle too long: back to the login page
    assert _session_rows(world) == []  # and the row is gone
    b = browser("tech")
    with world.store.write() as conn:
        conn.execute(web_sessions.update().values(expires_at=NOW - 1))
    assert b.get("/ui/").status_code == 303
    assert _session_rows(world) == []


def test_a_login_clears_sessions_nobody_came_back_to(world: World, browser: Any) -> None:
    browser("viewer-a")
    with world.store.write() as conn:
        conn.execute(
            web_sessions.update().values(last_seen_at=NOW - world.settings.web_session_idle - 5)
        )
    browser("tech")
    rows = _session_rows(world)
    assert len(rows) == 1 and rows[0].last_seen_at > NOW - 5


def test_disabling_or_a_new_password_ends_sessions(world: World, browser: Any) -> None:
    b = browser("tech")
    with world.store.write() as conn:
        auth.set_password(conn, "tech", "another long password")
    assert b.get("/ui/").status_code == 303
    b = Browser(world.app)
    assert b.login("tech", "another long password").status_code == 303
    with world.store.write() as conn:
        auth.set_disabled(conn, "tech", True)
    assert b.get("/ui/").status_code == 303
    assert Browser(world.app).login("tech", "another long password").status_code == 401


def test_wrong_password_and_throttling(world: World) -> None:
    b = Browser(world.app)
    for _ in range(world.settings.web_login_max_failures):
        response = b.login("tech", "wrong password!")
        assert response.status_code == 401 and "Wrong user name or password" in response.text
    locked = b.login("tech", PASSWORD)  # even the right password waits now
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "Too many failed logins" in locked.text
    assert _session_rows(world) == []


def test_an_address_spraying_user_names_is_throttled_too(world: World) -> None:
    from collector.web import ADDRESS_FACTOR

    b = Browser(world.app)
    limit = world.settings.web_login_max_failures * ADDRESS_FACTOR
    for i in range(limit):
        assert b.login(f"guess{i}", "wrong password!").status_code == 401
    assert b.login("tech", PASSWORD).status_code == 429  # a fresh user name, the same address


def test_login_form_needs_its_token_and_redirects_only_inside_the_ui(world: World) -> None:
    http = TestClient(world.app, follow_redirects=False)
    refused = http.post(
        "/ui/login", data={"username": "tech", "password": PASSWORD, "csrf_token": "made-up"}
    )
    assert refused.status_code == 403
    for target, expected in (
        ("/ui/incidents?state=open", "/ui/incidents?state=open"),
        ("https://evil.example/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/ui/\\evil", "/ui/"),
        ("/api/v1/clients", "/ui/"),
    ):
        b = Browser(world.app)
        page = b.get(f"/ui/login?next={target}")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        response = b.http.post(
            "/ui/login",
            data={"username": "tech", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.headers["location"] == expected, target


def test_a_planted_session_cookie_never_becomes_a_session(world: World) -> None:
    b = Browser(world.app)
    b.http.cookies.set("upkeep_session", "attacker-chosen-value", path="/ui")
    assert b.login("tech").status_code == 303
    issued = [
        c.value
        for c in b.http.cookies.jar
        if c.name == "upkeep_session" and c.value != "attacker-chosen-value"
    ]
    with world.store.read() as conn:
        hashes = [r.id_hash for r in conn.execute(sa.select(web_sessions))]
    assert hashes == [auth.hash_session_id(issued[0])]  # a fresh id, not the planted one


def test_login_upgrades_an_outdated_hash(world: World) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with world.store.write() as conn:
        conn.execute(users.update().where(users.c.username == "tech").values(password_hash=weak))
    assert Browser(world.app).login("tech").status_code == 303
    with world.store.read() as conn:
        stored = conn.execute(
            sa.select(users.c.password_hash).where(users.c.username == "tech")
        ).scalar_one()
    assert stored != weak and auth.verify_password(stored, PASSWORD)
