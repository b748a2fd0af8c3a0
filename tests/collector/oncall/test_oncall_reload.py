"""The on-call files are read again on SIGHUP (``Oncall.reload``): a good change is taken at
once, a broken file changes nothing and its problems are logged with their position."""

from __future__ import annotations

import logging

from collector.incidents.service import IncidentService
from collector.oncall.service import Oncall
from collector.settings import Settings
from tests.collector.oncall.test_oncall_store import ONCALL


def test_reload_takes_a_good_change_and_keeps_the_old_files_on_an_error(
    store, tmp_path, caplog
) -> None:
    folder = tmp_path / "oncall"
    folder.mkdir()
    path = folder / "team.yaml"
    path.write_text(ONCALL, encoding="utf-8")
    settings = Settings.for_data_dir(tmp_path, oncall_paths=[folder])
    oncall = Oncall(store, settings, IncidentService(store))
    assert set(oncall.config.people) == {"anna", "boris", "lead"}

    # Dana joins the team: taken at the next reload, with the channels the files name.
    path.write_text(
        ONCALL.replace(
            "  lead: {name: Lea,",
            "  dana: {name: Dana, contacts: [{channel: chat, to: U4}]}\n  lead: {name: Lea,",
        ),
        encoding="utf-8",
    )
    assert oncall.reload() is True
    assert set(oncall.config.people) == {"anna", "boris", "dana", "lead"}
    assert set(oncall.channels) == {"page:chat", "page:mail"}

    # A broken edit (a rotation naming nobody known) is refused; Dana's files stay in use.
    path.write_text(
        ONCALL.replace("people: [anna, boris]", "people: [anna, zoe]"), encoding="utf-8"
    )
    with caplog.at_level(logging.ERROR, logger="collector.oncall.service"):
        assert oncall.reload() is False
    assert set(oncall.config.people) == {"anna", "boris", "dana", "lead"}
    problems = [r.getMessage() for r in caplog.records]
    assert problems and all("the previous ones stay" in m for m in problems)
    assert any(f"{path}:" in m and "zoe" in m for m in problems)


def test_reload_without_files_changes_nothing(store, tmp_path) -> None:
    oncall = Oncall(store, Settings.for_data_dir(tmp_path), IncidentService(store))
    assert oncall.reload() is False
    assert oncall.config.empty
