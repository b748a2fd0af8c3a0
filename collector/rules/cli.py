"""``upkeep rules check PATH...`` and ``upkeep rules test FILE...``.

``check`` prints every problem as ``file:line:col: message`` (warnings marked) and exits 0
when there is no error, 1 otherwise; ``test`` runs rule unit tests and exits 1 on any
failure. Neither needs a database or settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collector.rules.loader import TEST_SUFFIXES, load
from collector.rules.testing import format_result, run_file

rules_app = typer.Typer(
    help="Threshold rules: validate rule files and run their unit tests.", no_args_is_help=True
)


@rules_app.command("check")
def rules_check(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or folders.")],
    actions: Annotated[
        list[Path] | None,
        typer.Option(
            "--actions",
            help="Action library files or folders that `remediate` may name "
            "(default: the shipped actions/).",
        ),
    ] = None,
) -> None:
    """Validate rule files (folders: every *.yaml but tests). Exit 0 clean, 1 on errors."""
    from collector.remediation.actions import ActionsInvalid, load_library

    try:
        library = dict(load_library(actions).actions)
    except ActionsInvalid as exc:
        for line in exc.problems:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    result = load(paths, actions=library)
    for problem in result.problems:
        typer.echo(str(problem), err=problem.level == "error")
    rules = len(result.ruleset.rules)
    if result.errors:
        typer.echo(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"OK: {rules} rule(s) in {len(result.ruleset.files)} file(s)"
        + (f", {len(result.warnings)} warning(s)" if result.warnings else "")
    )


@rules_app.command("test")
def rules_test(
    files: Annotated[list[Path], typer.Argument(help="Rule test files (*.test.yaml) or folders.")],
) -> None:
    """Run rule unit tests (format like promtool test rules). Exit 1 on any failure."""
    paths: list[Path] = []
    for path in files:
        if path.is_dir():
            paths.extend(sorted(p for p in path.iterdir() if p.name.endswith(TEST_SUFFIXES)))
        else:
            paths.append(path)
    failed = False
    for path in paths:
        result = run_file(path)
        typer.echo(f"Unit testing: {path}")
        typer.echo(format_result(result))
        failed |= not result.ok
    if not paths:
        typer.echo("no test files given", err=True)
        failed = True
    raise typer.Exit(1 if failed else 0)


@rules_app.command("backtest")
def rules_backtest(
    file: Annotated[Path, typer.Argument(help="The candidate rule file (YAML).")],
    client: Annotated[str, typer.Option("--client", help="Whose stored history to replay.")],
    since: Annotated[
        str, typer.Option("--since", help="How far back: 30d, 12h, 90m (at most 400 days).")
    ] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG)."),
    ] = None,
) -> None:
    """How many alerts and incidents FILE's rules would have opened over the client's stored
    history (raw samples within retention, hourly rollups beyond), compared with the loaded
    rules of the same id. Exit 1 when the file has errors (shown at file:line:col)."""
    import json

    from collector import cli_support as cli
    from collector import timeutil
    from collector.rules.backtest import BacktestError, backtest, format_report, load_candidate
    from collector.rules.service import default_rules_paths

    try:
        span = parse_since(since)
    except ValueError as exc:
        typer.echo(f"error: --since: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = cli.settings_of(config)
    current = load(settings.rules_paths or default_rules_paths()).ruleset
    try:
        candidate = load_candidate(file, current)
    except BacktestError as exc:
        for text in [str(p) for p in exc.problems] or [exc.detail]:
            typer.echo(f"error: {text}", err=True)
        raise typer.Exit(1) from None
    store = cli.store_of(config)
    until = timeutil.now()
    try:
        report = cli.reported(backtest)(
            store,
            candidate,
            current,
            client=client,
            since=until - span,
            until=until,
            settings=settings,
        )
    finally:
        store.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(format_report(report))


def parse_since(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``3600s`` → seconds (more than 0, at most 400 days)."""
    from agent.durations import parse_duration

    seconds = parse_duration(text.strip())
    if not 0 < seconds <= 400 * 86400:
        raise ValueError(f"{text!r}: must be more than 0 and at most 400 days")
    return seconds
