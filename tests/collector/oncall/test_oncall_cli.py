"""``upkeep oncall check | who | override`` (in process, on a SQLite store)."""

from __future__ import annotations

from typer.testing import CliRunner

from collector.cli import app

ONCALL = """\
channels:
  chat: {type: slack, url: "http://127.0.0.1:9/hook"}
people:
  anna: {name: Anna Berg, contacts: [{channel: chat}]}
  boris: {name: Boris Kovalev, contacts: [{channel: chat}]}
rotations:
  primary: {timezone: Europe/Berlin, start: 2026-03-02, people: [anna, boris], handover: {every: week, at: "09:00"}}
"""


def run(*args: str, env: dict[str, str]):
    return CliRunner().invoke(app, list(args), env=env)


def test_check_who_and_overrides(tmp_path) -> None:
    folder = tmp_path / "oncall"
    folder.mkdir()
    (folder / "ops.yaml").write_text(ONCALL)
    env = {"UPKEEP_DATA_DIR": str(tmp_path / "data"), "UPKEEP_ONCALL_PATHS": str(folder)}
    ok = run("oncall", "check", str(folder), env=env)
    assert ok.exit_code == 0 and "ok: 2 people, 1 rotations" in ok.output
    # across the spring change (29 March): the hand-over is still 09:00 local
    who = run("oncall", "who", "--at", "2026-03-27T12:00", env=env)
    assert who.exit_code == 0, who.output
    assert "primary: Boris Kovalev — at Fri 2026-03-27 12:00 CET" in who.output
    assert "next: Anna Berg from Mon 2026-03-30 09:00 CEST" in who.output
    made = run(
        "oncall",
        "override",
        "add",
        "--rotation",
        "primary",
        "--person",
        "anna",
        "--start",
        "2026-03-27T00:00",
        "--end",
        "2026-03-28T00:00",
        "--reason",
        "swap",
        "--by",
        "lea",
        env=env,
    )
    assert made.exit_code == 0, made.output
    who = run("oncall", "who", "--at", "2026-03-27T12:00", env=env)
    assert "primary: Anna Berg (override: swap)" in who.output
    listed = run("oncall", "override", "list", "--json", "--past", env=env)
    assert '"created_by": "lea"' in listed.output
    (folder / "bad.yaml").write_text("people:\n  zoe: {contacts: [{channel: pager}]}\n")
    bad = run("oncall", "check", str(folder), env=env)
    assert bad.exit_code != 0
    assert (
        f"{folder / 'bad.yaml'}:2:21: people.zoe.contacts[0].channel: unknown channel 'pager'"
        in bad.output
    )
