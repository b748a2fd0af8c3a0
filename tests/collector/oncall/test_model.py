"""On-call files: the shipped sample loads; every problem names file:line:column and the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.yamlsource import ConfigError
from collector.oncall.model import load, parse_text

SAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "oncall" / "oncall.example.yaml"
SECRETS = {
    "UPKEEP_TELEGRAM_BOT_TOKEN": "1:x",
    "UPKEEP_TELEGRAM_WEBHOOK_SECRET": "s",
    "UPKEEP_SLACK_WEBHOOK_URL": "https://hooks.slack.example/x",
    "UPKEEP_MATTERMOST_WEBHOOK_URL": "https://mm.example/hooks/x",
    "UPKEEP_TEAMS_WORKFLOW_URL": "https://teams.example/x",
    "UPKEEP_SMS_GATEWAY_KEY": "k",
}


def test_the_sample_loads(monkeypatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = load([SAMPLE.parent])
    assert sorted(config.people) == ["anna", "boris", "chen", "lead"]
    assert sorted(config.channels) == ["mail", "ops-slack", "sms", "team-chat", "teams", "tg"]
    policy = config.policy("acme", "critical")
    assert policy is not None and [s.after for s in policy.steps] == [0, 600, 1200]
    minor = config.policy("acme", "minor")
    assert minor is not None and minor.business_hours
    assert config.policy("acme", "technical") is None
    assert len(config.overrides) == 1 and config.overrides[0].created_by == "lead"


BASE = """\
channels:
  chat: {type: slack, url: "http://127.0.0.1:9/x"}
people:
  anna: {contacts: [{channel: chat}]}
rotations:
  primary: {start: 2026-01-05, people: [anna]}
"""


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "policies:\n  std:\n    critical:\n      steps:\n        - {after: 0, page: [{rotation: nope}]}\n",
            "<t>:11:30: policies.std.critical.steps[0].page[0].rotation: unknown rotation 'nope'",
        ),
        (
            "overrides:\n  - {rotation: primary, person: zoe, start: 2026-03-01, end: 2026-03-02}\n",
            "<t>:8:25: overrides[0].person: unknown person 'zoe'",
        ),
        (
            "overrides:\n  - {rotation: primary, person: anna, start: 2026-03-02, end: 2026-03-01}\n",
            "<t>:8:58: overrides[0].end: must be after start",
        ),
        (
            "policies:\n  std:\n    critical:\n      steps:\n        - {after: 10m, page: [{person: anna}]}\n        - {after: 0, page: [{person: anna}]}\n",
            "<t>:9:5: policies.std.critical: steps must be in order of their 'after'",
        ),
    ],
)
def test_problems_name_file_line_column(extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(BASE + extra, "<t>")
    assert caught.value.problems == [problem]


def test_unknown_key_bad_time_zone_and_handover(tmp_path) -> None:
    path = tmp_path / "ops.yaml"
    path.write_text(
        "people:\n"
        "  anna: {timezone: Mars/Olympus, contacts: []}\n"
        "rotations:\n"
        "  primary:\n"
        "    start: 2026-01-05\n"
        "    people: [anna]\n"
        "    handover: {every: fortnight, at: '25:00'}\n"
        "    colour: red\n"
    )
    with pytest.raises(ConfigError) as caught:
        load([tmp_path])
    problems = caught.value.problems
    assert any(
        p.startswith(f"{path}:2:10: people.anna.timezone: unknown time zone") for p in problems
    ), problems
    assert (
        f"{path}:7:16: rotations.primary.handover.every: Input should be 'day' or 'week'"
        in problems
    )
    assert any(
        p.startswith(f"{path}:7:34: rotations.primary.handover.at: '25:00' is not a time of day")
        for p in problems
    )
    assert f"{path}:8:5: rotations.primary.colour: unknown key" in problems


def test_a_broken_channel_and_a_person_defined_twice(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text(BASE)
    (tmp_path / "b.yaml").write_text(
        "channels:\n  tg: {type: telegram}\npeople:\n  anna: {contacts: [{channel: tg}]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load([tmp_path])
    assert caught.value.problems == [
        f"{tmp_path / 'b.yaml'}:2:3: channels.tg: bot_token is required (or bot_token_file / bot_token_env)",
        f"{tmp_path / 'b.yaml'}:4:3: people.anna: defined twice (first at {tmp_path / 'a.yaml'}:4:3)",
    ]


def test_yaml_syntax_error_has_line_and_column(tmp_path) -> None:
    (tmp_path / "x.yaml").write_text("people:\n  anna: {name: 'Anna}\n")
    with pytest.raises(ConfigError) as caught:
        load([tmp_path])
    assert caught.value.problems[0].startswith(f"{tmp_path / 'x.yaml'}:2:")
