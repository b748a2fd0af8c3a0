"""``upkeep tasks keygen|key|list|show|audit|fix``: the remediation task channel from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

tasks_app = typer.Typer(
    help="Remediation: signing key, agent tasks, their audit log, Run fix.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]


@tasks_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="File to write the private key to (0600).")],
) -> None:
    """Generate a task signing key into a file; point UPKEEP_TASK_SIGNING_KEY_FILE at it."""
    import os

    from collector.remediation.keys import TaskSigner, generate_key

    key = generate_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    typer.echo(f"public key (for agents' actions.public_key): {TaskSigner(key).public_key()}")


@tasks_app.command("key")
def public_key(config: Config = None) -> None:
    """Print the public key of the configured task signing key."""
    from collector import cli_support as cli
    from collector.errors import NotFound
    from collector.remediation.keys import TaskSigner

    @cli.reported
    def go() -> None:
        secret = cli.settings_of(config).task_signing_key
        if secret is None:
            raise NotFound("no task_signing_key configured")
        typer.echo(TaskSigner(secret.get_secret_value()).public_key())

    go()


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@tasks_app.command("list")
def list_tasks(
    client: Annotated[str | None, typer.Option(help="Only this client's tasks.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only tasks in this state (queued, succeeded, …).")
    ] = None,
    config: Config = None,
) -> None:
    """Tasks, newest first (JSON)."""
    from collector import admin
    from collector import cli_support as cli
    from collector.errors import InvalidArgument
    from collector.remediation import tasks

    @cli.reported
    def go() -> None:
        if state is not None and state not in tasks.STATES:
            raise InvalidArgument(f"--state: one of {', '.join(tasks.STATES)}, not {state!r}")
        with cli.store_of(config).read() as conn:
            client_id = admin.get_client(conn, client).id if client else None
            found = tasks.list_tasks(conn, client_id=client_id)
        _print([t for t in found if state is None or t["state"] == state])

    go()


@tasks_app.command("show")
def show(task: Annotated[str, typer.Argument(help="The task id.")], config: Config = None) -> None:
    """One task: its state, result and evidence (JSON)."""
    from collector import cli_support as cli
    from collector.remediation import tasks

    @cli.reported
    def go() -> None:
        with cli.store_of(config).read() as conn:
            _print(tasks.get(conn, task))

    go()


@tasks_app.command("audit")
def audit(
    task: Annotated[str | None, typer.Argument(help="A task id; default: every task.")] = None,
    config: Config = None,
) -> None:
    """The append-only audit log (of one task, or all)."""
    from collector import cli_support as cli
    from collector.remediation import tasks

    @cli.reported
    def go() -> None:
        with cli.store_of(config).read() as conn:
            if task is not None:
                tasks.get(conn, task)  # an unknown task is an error, not an empty log
            _print(tasks.audit_log(conn, task))

    go()


def _params(text: str | None) -> dict[str, Any] | None:
    from collector.errors import InvalidArgument

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"--params: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidArgument('--params: a JSON object, e.g. \'{"service": "nginx"}\'')
    return value


@tasks_app.command("fix")
def fix(
    incident: Annotated[str, typer.Argument(help="The incident key (UPK-acme-7).")],
    by: Annotated[str, typer.Option("--by", help="Who runs it (the audit log's actor).")],
    action: Annotated[str | None, typer.Option(help="Another action than the rule's.")] = None,
    params: Annotated[
        str | None, typer.Option(help="The action's parameters as a JSON object.")
    ] = None,
    config: Config = None,
) -> None:
    """Run fix on an incident: the rule's action by its policy (client: after approval)."""
    from collector import cli_support as cli
    from collector.incidents.cli import _service
    from collector.remediation.service import Remediation
    from collector.rules.service import RuleService

    @cli.reported
    def go() -> None:
        given = _params(params)
        settings = cli.settings_of(config)
        store = cli.store_of(config)
        rules = RuleService(store, settings)
        rules.reload(initial=True)
        remediation = Remediation(store, settings, rules, _service(config))
        _print(remediation.run_fix(incident, by, action=action, params=given))

    go()
