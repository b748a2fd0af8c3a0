"""process: config validation, what it asks psutil for, and a real process."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from recorded import RecordedHost

from agent.checks.process import ProcessCheck, ProcessConfig
from agent.host import Host


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([], "at least 1 item"),
        ([{"name": "x", "process_name": "x", "cmdline": "x"}], "either process_name or cmdline"),
        ([{"name": "x", "cmdline": "(unclosed"}], "not a valid regular expression"),
        ([{"name": "web"}, {"name": "web", "process_name": "httpd"}], "duplicate name"),
        ([{"name": "web", "regex": "x"}], "Extra inputs"),
    ],
)
def test_config_errors(names: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProcessConfig.model_validate({"names": names})


def test_names_are_required() -> None:
    with pytest.raises(ValidationError, match="names"):
        ProcessConfig.model_validate({})


class AttrSpy(RecordedHost):
    def __init__(self, recording: dict[str, Any]) -> None:
        super().__init__(recording)
        self.attrs: list[list[str]] = []

    def process_iter(self, attrs: list[str]) -> Iterator[dict[str, Any]]:
        self.attrs.append(list(attrs))
        return super().process_iter(attrs)


def test_command_lines_are_read_only_when_an_entry_needs_them() -> None:
    recording = {"process_iter": [{"name": "nginx", "cmdline": ["nginx: worker"]}]}
    by_name = AttrSpy(recording)
    ProcessCheck(ProcessConfig.model_validate({"names": [{"name": "nginx"}]}), by_name).run(
        now=1.8e9
    )
    assert by_name.attrs == [["name"]]
    by_cmdline = AttrSpy(recording)
    ProcessCheck(
        ProcessConfig.model_validate({"names": [{"name": "w", "cmdline": "worker"}]}), by_cmdline
    ).run(now=1.8e9)
    assert by_cmdline.attrs == [["name", "cmdline"]]


def test_linux_names_are_case_sensitive() -> None:
    host = RecordedHost({"process_iter": [{"name": "Nginx"}]})
    result = ProcessCheck(ProcessConfig.model_validate({"names": [{"name": "nginx"}]}), host).run(
        now=1.8e9
    )
    assert {s.metric: s.value for s in result.samples}["process_up"] == 0.0


def test_real_host_finds_a_process_by_command_line_and_sees_it_go() -> None:
    token = f"upkeep-probe-{uuid.uuid4().hex}"
    config = ProcessConfig.model_validate(
        {"names": [{"name": "probe", "cmdline": f"sleep.*{token}"}]}
    )
    check = ProcessCheck(config, Host("test"))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; time.sleep(60)  # sleep", token]
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # until the child has exec'd (before that it shows pytest's command line)
            counts = {s.metric: s.value for s in check.run().samples}
            if counts["processes"] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert counts["processes"] == 1 and counts["process_up"] == 1
    finally:
        proc.kill()
        proc.wait()
    counts = {s.metric: s.value for s in check.run().samples}
    assert counts["processes"] == 0 and counts["process_up"] == 0
