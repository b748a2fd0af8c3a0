"""``upkeep user add|list|disable|enable|passwd``: the web UI's users.

A password is read from a prompt (asked twice) or from ``--password-file F`` (``-``: standard
input; the first line, without its line end), never from the command line, where it would
land in the shell history and the process list. Nothing secret is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from collector.errors import InvalidArgument

user_app = typer.Typer(
    help="Web UI users (admin, technician, client_viewer).", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the password from this file ('-': standard input) instead of a prompt.",
        show_default=False,
    ),
]


def read_password(password_file: Path | None) -> str:
    """The new password, from the file or a prompt (never an argument)."""
    if password_file is not None:
        try:
            text = (
                sys.stdin.read()
                if str(password_file) == "-"
                else password_file.read_text(encoding="utf-8")
            )
        except OSError as exc:
            raise InvalidArgument(f"cannot read {password_file}: {exc.strerror or exc}") from None
        lines = text.splitlines()
        return lines[0] if lines else ""
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, technician or client_viewer.")] = "technician",
    client: Annotated[str | None, typer.Option(help="The client a client_viewer sees.")] = None,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    email: Annotated[str | None, typer.Option(help="E-mail address (optional).")] = None,
    password_file: PasswordFile = None,
    config: Config = None,
) -> None:
    """Add a user; the password is asked for (or read with --password-file)."""
    from collector import cli_support, timeutil
    from collector.web import auth

    @cli_support.reported
    def go() -> None:
        store = cli_support.store_of(config)
        password = read_password(password_file)
        with store.write() as conn:
            auth.create_user(
                conn,
                username,
                password,
                role=role,
                client=client,
                display_name=name,
                email=email,
                now=timeutil.now(),
            )
        cli_support.out.print(
            f"user {username} added ({role}{', client ' + client if client else ''})"
        )

    go()


@user_app.command("list")
def user_list(config: Config = None) -> None:
    """List users (never their password hashes)."""
    from rich.table import Table

    from collector import cli_support, timeutil
    from collector.web import auth

    @cli_support.reported
    def go() -> None:
        with cli_support.store_of(config).read() as conn:
            rows = auth.list_users(conn)
        table = Table("user", "name", "role", "client", "status", "created", "last login", box=None)
        for u in rows:
            table.add_row(
                u.username,
                u.display_name,
                u.role,
                u.client or "-",
                "disabled" if u.disabled else "active",
                cli_support.when(timeutil.to_datetime(u.created_at)),
                cli_support.when(timeutil.to_datetime(u.last_login_at)),
            )
        cli_support.out.print(table)

    go()


def _set_disabled(username: str, disabled: bool, config: Path | None) -> None:
    from collector import cli_support
    from collector.web import auth

    @cli_support.reported
    def go() -> None:
        with cli_support.store_of(config).write() as conn:
            auth.set_disabled(conn, username, disabled)
        cli_support.out.print(
            f"user {username} {'disabled (sessions ended)' if disabled else 'enabled'}"
        )

    go()


@user_app.command("disable")
def user_disable(username: str, config: Config = None) -> None:
    """Disable a user: they cannot log in, and their sessions end now."""
    _set_disabled(username, True, config)


@user_app.command("enable")
def user_enable(username: str, config: Config = None) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, False, config)


@user_app.command("passwd")
def user_passwd(username: str, password_file: PasswordFile = None, config: Config = None) -> None:
    """Set a new password (asked for, or read with --password-file); ends the user's sessions."""
    from collector import cli_support
    from collector.web import auth

    @cli_support.reported
    def go() -> None:
        store = cli_support.store_of(config)
        password = read_password(password_file)
        with store.write() as conn:
            auth.set_password(conn, username, password)
        cli_support.out.print(f"password of {username} changed; their sessions ended")

    go()
