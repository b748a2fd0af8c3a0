"""The agent's task channel (agent/tasks.py) with real Ed25519 keys and a real journal:
signatures, replays, expiry, the allow-list, restarts. HTTP is replaced by a recorder
here; the whole channel against a real collector is tests/e2e/test_remediation.py."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agent.tasks import TaskChannel, TaskVerifier
from collector.remediation.keys import TaskSigner, generate_key


class RecordingChannel(TaskChannel):
    """A channel whose collector is a list: what it was sent, and tasks to hand out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[tuple[str, str, dict | None]] = []
        self.offer: list[dict] = []
        self.down = False
        super().__init__(*args, **kwargs)

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        import urllib3

        if self.down:
            raise urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
        self.sent.append((method, path, body))
        if path.endswith("/poll"):
            return 200, {"tasks": self.offer}
        return 200, {}

    def results(self) -> dict[str, dict]:
        return {p.split("/")[-2]: b for m, p, b in self.sent if p.endswith("/result") and b}


@pytest.fixture
def signer() -> TaskSigner:
    return TaskSigner(generate_key())


def envelope(signer: TaskSigner, **overrides: Any) -> dict:
    task = {
        "id": str(uuid.uuid4()),
        "asset": "srv1",
        "action": "run-script",
        "kind": "run-script",
        "params": {"script": "count.sh"},
        "issued_at": time.time(),
        "expires_at": time.time() + 600,
        "timeout": 30,
        **overrides,
    }
    payload, signature = signer.sign(task)
    return {"id": task["id"], "payload": payload, "signature": signature}


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    folder = tmp_path / "scripts"
    folder.mkdir()
    script = folder / "count.sh"
    script.write_text(f'#!/bin/sh\necho run >> "{tmp_path / "runs"}"\necho done\n')
    script.chmod(0o755)
    return folder


def channel(
    tmp_path: Path, signer: TaskSigner, scripts: Path, allow=("run-script",)
) -> RecordingChannel:
    return RecordingChannel(
        "http://127.0.0.1:1",
        "token",
        "srv1",
        tmp_path / "state",
        list(allow),
        public_key=signer.public_key(),
        scripts_dir=scripts,
    )


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs"
    return path.read_text().count("run") if path.exists() else 0


def test_a_signed_allowed_task_runs_once_even_when_delivered_again(tmp_path, signer, scripts):
    ch = channel(tmp_path, signer, scripts)
    task = envelope(signer)
    ch.offer = [task]
    ch.poll_once()
    ch.poll_once()  # the collector re-delivers (our answer was lost, or a replay)
    assert runs(tmp_path) == 1
    result = ch.results()[task["id"]]
    assert result["status"] == "succeeded" and result["output"] == "done\n"
    # a new process with the same journal: still not run again
    again = channel(tmp_path, signer, scripts)
    again.offer = [task]
    again.poll_once()
    assert runs(tmp_path) == 1


def test_refusals_run_nothing(tmp_path, signer, scripts):
    ch = channel(tmp_path, signer, scripts)
    other = TaskSigner(generate_key())
    forged = envelope(other)
    tampered = envelope(signer)
    tampered["payload"] = tampered["payload"].replace("count.sh", "other.sh")
    expired = envelope(signer, expires_at=time.time() - 1)
    not_ours = envelope(signer, asset="srv2")
    not_allowed = envelope(signer, action="clean-temp", kind="clean-temp", params={"path": "/tmp"})
    swapped = envelope(signer)
    swapped["id"] = str(uuid.uuid4())
    ch.offer = [forged, tampered, expired, not_ours, not_allowed, swapped]
    ch.poll_once()
    assert runs(tmp_path) == 0
    got = ch.results()
    assert got[forged["id"]] == {"status": "refused", "output": "bad signature", "duration": 0.0}
    assert got[tampered["id"]]["output"] == "bad signature"
    assert got[expired["id"]]["status"] == "expired"
    assert "not this one" in got[not_ours["id"]]["output"]
    assert "not in this agent's actions.allow" in got[not_allowed["id"]]["output"]
    assert got[swapped["id"]]["output"] == "the envelope's id is not the signed one"


def test_results_wait_for_the_collector(tmp_path, signer, scripts):
    ch = channel(tmp_path, signer, scripts)
    task = envelope(signer)
    ch.offer = [task]
    ch.verifier()
    ch.down = True
    # the poll itself fails while down; handle the task as if it was fetched just before
    ch.handle(task, ch.verifier())
    assert runs(tmp_path) == 1 and ch.results() == {}
    ch.down = False
    ch.offer = []
    ch.poll_once()
    assert ch.results()[task["id"]]["status"] == "succeeded"
    assert runs(tmp_path) == 1


def test_a_task_interrupted_by_a_restart_is_reported_failed_not_run_again(
    tmp_path, signer, scripts
):
    ch = channel(tmp_path, signer, scripts)
    task = envelope(signer)
    assert ch.journal.start(task["id"], "run-script", time.time() + 600)  # then the agent died
    again = channel(tmp_path, signer, scripts)
    again.offer = [task]
    again.poll_once()
    assert runs(tmp_path) == 0
    result = again.results()[task["id"]]
    assert (
        result["status"] == "failed" and "restarted while this task was running" in result["output"]
    )


def test_trust_on_first_use_pins_the_key(tmp_path, signer, scripts):
    class FirstContact(RecordingChannel):
        key = signer.public_key()

        def _request(self, method, path, body=None):
            if path.endswith("/key"):
                return 200, {"public_key": self.key}
            return super()._request(method, path, body)

    ch = FirstContact(
        "http://127.0.0.1:1", "t", "srv1", tmp_path / "state", ["run-script"], scripts_dir=scripts
    )
    ch.verifier()
    assert (tmp_path / "state" / "collector-task-key").read_text().strip() == signer.public_key()
    # later the collector presents another key: the pinned one still decides
    FirstContact.key = TaskSigner(generate_key()).public_key()
    later = FirstContact(
        "http://127.0.0.1:1", "t", "srv1", tmp_path / "state", ["run-script"], scripts_dir=scripts
    )
    task = envelope(signer)
    later.offer = [task]
    later.poll_once()
    assert runs(tmp_path) == 1


def test_verifier_rejects_garbage(signer):
    verifier = TaskVerifier(__import__("base64").b64decode(signer.public_key()))
    for bad in ({}, {"payload": "x"}, {"payload": "{}", "signature": "!!!"}):
        with pytest.raises(Exception, match="signed|signature"):
            verifier.verify(bad)


def test_the_agent_without_actions_loads_no_cryptography(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from agent.config import load_config; from agent.runner import AgentService;"
        f"open({str(tmp_path / 'a.yaml')!r}, 'w').write('collector: {{url: http://127.0.0.1:1, token: x}}\\n"
        f"state_dir: {tmp_path / 's'}\\nchecks: {{memory: {{}}}}\\n');"
        f"s = AgentService(load_config({str(tmp_path / 'a.yaml')!r}));"
        "print(s.tasks is None, 'cryptography' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


class OldCollector(RecordingChannel):
    """A collector from before the long-poll: ``wait`` breaks its strict poll body (422)."""

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        if path.endswith("/poll") and body and "wait" in body:
            self.sent.append((method, path, body))
            return 422, {"error": "invalid_request", "detail": "body.wait: extra"}
        return super()._request(method, path, body)


def test_the_long_poll_asks_to_wait_and_falls_back_for_an_old_collector(tmp_path, signer, scripts):
    ch = channel(tmp_path, signer, scripts)
    ch.offer = [envelope(signer)]
    assert ch.poll_once(wait=25) == 1
    [poll] = [b for m, p, b in ch.sent if p.endswith("/poll")]
    assert poll == {"asset": "srv1", "wait": 25}
    assert ch.next_delay([True], 0) == 0.0  # answered: ask again at once

    old = OldCollector(
        "http://127.0.0.1:1",
        "token",
        "srv1",
        tmp_path / "old-state",
        ["run-script"],
        public_key=signer.public_key(),
        scripts_dir=scripts,
        poll_interval=30,
    )
    old.offer = [envelope(signer)]
    assert old.poll_once(wait=25) == 1  # asked again without wait, in the same round
    assert [b for m, p, b in old.sent if p.endswith("/poll")] == [
        {"asset": "srv1", "wait": 25},
        {"asset": "srv1"},
    ]
    assert old.long_poll_supported is False
    assert old.next_delay([], 0) == 30  # plain polling: every poll_interval
    old.poll_once(wait=25)
    assert old.sent[-1][2] == {"asset": "srv1"}  # not asked to wait again
    assert runs(tmp_path) == 2


def test_the_loop_backs_off_on_errors_and_pauses_on_nothing_new(tmp_path, signer, scripts):
    ch = channel(tmp_path, signer, scripts)
    ch.poll_interval = 30
    delays = [ch.next_delay(None, n) for n in range(1, 8)]
    assert 0.8 <= delays[0] <= 1 and 1.6 <= delays[1] <= 2 and 3.2 <= delays[2] <= 4
    assert all(a < b for a, b in zip(delays[:5], delays[1:5], strict=False))
    assert max(delays) <= 30 and delays[-1] >= 24  # capped at poll_interval
    assert ch.next_delay([False, False], 0) == 5.0  # only known tasks came back: no spin
    assert ch.next_delay([False, True], 0) == 0.0
    ch.long_poll = 25
    assert ch.next_delay([], 0, took=25.1) == 0.0  # the wait ended empty: ask again
    # Empty at once: the collector held nothing (its bound, shutdown): no spinning.
    assert ch.next_delay([], 0, took=0.01) == 30


@pytest.fixture
def silent_server():
    """A real listening socket that accepts and never answers: (its URL, the accepted)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for conn in accepted:
        conn.close()


def _long_polling(cls, url, tmp_path, signer, scripts) -> TaskChannel:
    return cls(
        url,
        "token",
        "srv1",
        tmp_path / "state",
        ["run-script"],
        public_key=signer.public_key(),
        scripts_dir=scripts,
        long_poll=60,
    )


def test_stopping_interrupts_a_held_poll(tmp_path, signer, scripts, silent_server):
    """A real socket held open by a server that never answers: stop ends the loop at once."""
    import threading

    url, accepted = silent_server
    ch = _long_polling(TaskChannel, url, tmp_path, signer, scripts)
    stop = threading.Event()
    loop = threading.Thread(target=ch.run_forever, args=(stop,), daemon=True)
    loop.start()
    deadline = time.monotonic() + 10
    while not accepted:
        assert time.monotonic() < deadline, "the agent did not connect"
        time.sleep(0.01)
    time.sleep(0.2)  # the poll is sent and waits for its answer (60 s + the timeout)
    started = time.monotonic()
    stop.set()
    loop.join(timeout=5)
    assert not loop.is_alive() and time.monotonic() - started < 2


def test_stopping_just_as_a_poll_is_sent_still_ends_the_loop(
    tmp_path, signer, scripts, silent_server
):
    """``stop`` set after the watcher's first interruption but before the poll's connection
    exists (the race that held an agent for its whole long-poll on a stop): the watcher keeps
    interrupting until the loop has returned."""
    import threading

    url, accepted = silent_server
    stop = threading.Event()

    class LateChannel(TaskChannel):
        def _request(self, method, path, body=None):
            # The stop comes now, and the watcher gets to run its first interruption
            # (nothing to shut down yet) before this poll connects.
            stop.set()
            time.sleep(0.3)
            return super()._request(method, path, body)

    ch = _long_polling(LateChannel, url, tmp_path, signer, scripts)
    loop = threading.Thread(target=ch.run_forever, args=(stop,), daemon=True)
    started = time.monotonic()
    loop.start()
    loop.join(timeout=8)
    assert not loop.is_alive() and time.monotonic() - started < 5
    assert accepted, "the poll did connect (the race was exercised)"
