"""Durable executions: the journal, and replay after the engine's process is killed (SIGKILL) or stopped.

Each test runs `python -m localcloud.workflows serve --data-dir DIR` as its own process, kills it at a chosen
point, starts it again on the same ports with the same folder, and checks the execution goes on from where it
was: calls that left the engine are not made again, sys.now and uuid.generate give the same values, callback
URLs keep working, sleeps end when they would have, finished executions stay listed.
"""
from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from aiohttp import web

from engine_process import EngineProcess, free_port
from localcloud.workflows.client import EngineClient
from localcloud.workflows.journal import DataDirInUse, Journal

PROJECT, LOCATION = "p", "l"


class Recorder:
    """A small HTTP service in a thread: counts every request by path, answers after `delay` seconds."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: Counter[str] = Counter()
        self.bodies: list[Any] = []
        self.delay: dict[str, float] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.calls[path] += 1
        body = await request.json() if request.can_read_body else None
        self.bodies.append(body)
        await asyncio.sleep(self.delay.get(path, 0))
        return web.json_response({"path": path, "n": self.calls[path], "body": body})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> "Recorder":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(tmp_path / "journal").start()
    yield proc
    proc.stop()


def client(engine: EngineProcess) -> EngineClient:
    return EngineClient.local(engine.rest, engine.grpc, PROJECT, LOCATION)


def until(predicate: Any, timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def waiting_callback(engine: EngineProcess, name: str) -> dict[str, Any]:
    def waiting() -> dict[str, Any] | None:
        answer = requests.get(f"http://{engine.rest}/v1/{name}/callbacks", timeout=5).json().get("callbacks", [])
        return answer[0] if answer and answer[0]["waiters"] == "1" else None

    return until(waiting, what="the execution to wait on its callback")


CALLS_THEN_CALLBACK = """
main:
  params: [args]
  steps:
    - facts:
        assign:
          - started: ${sys.now()}
          - ticket: ${uuid.generate()}
    - first:
        call: http.post
        args:
          url: ${args.url + "/first"}
          body: {started: "${started}", ticket: "${ticket}"}
        result: one
    - open:
        call: events.create_callback_endpoint
        result: cb
    - tell:
        call: http.post
        args:
          url: ${args.url + "/tell"}
          body: {callback: "${cb.url}"}
    - wait:
        call: events.await_callback
        args:
          callback: ${cb}
          timeout: 60
        result: answer
    - second:
        call: http.post
        args:
          url: ${args.url + "/second"}
          body: ${answer.http_request.body}
        result: two
    - done:
        return:
          started: ${started}
          ticket: ${ticket}
          first: ${one.body.n}
          second: ${two.body.body}
          callback: ${cb.url}
"""


def test_killed_while_waiting_on_a_callback_resumes_with_the_same_url_and_no_repeated_calls(
        engine: EngineProcess, recorder: Recorder) -> None:
    c = client(engine)
    c.deploy_workflow("calls", CALLS_THEN_CALLBACK)
    ex = c.create_execution("calls", {"url": recorder.url})
    callback = waiting_callback(engine, ex.name)
    sent = recorder.bodies[0]
    told = recorder.bodies[1]["callback"]
    engine.kill()
    engine.start()
    # The same URL answers after the restart; the execution goes on from the wait.
    response = requests.post(told, json={"decision": "approve"}, timeout=10)
    assert response.status_code == 200, response.text
    done = client(engine).wait_for(ex.name, timeout=30)
    assert done.state.name == "SUCCEEDED", done.error
    result = json.loads(done.result)
    assert result["callback"] == told and told.endswith(callback["name"])
    assert result["second"] == {"decision": "approve"}
    # sys.now and uuid.generate came back from the journal, not anew.
    assert result["started"] == sent["started"] and result["ticket"] == sent["ticket"]
    # Every call that had answered before the kill was not made again.
    assert recorder.calls == Counter({"/first": 1, "/tell": 1, "/second": 1})
    assert result["first"] == 1


def test_a_payload_that_arrived_before_the_kill_is_not_lost(engine: EngineProcess, recorder: Recorder) -> None:
    source = CALLS_THEN_CALLBACK.replace("    - wait:\n", "    - nap:\n        call: sys.sleep\n        args:\n"
                                                          "          seconds: 1.5\n    - wait:\n")
    c = client(engine)
    c.deploy_workflow("early", source)
    ex = c.create_execution("early", {"url": recorder.url})
    told = until(lambda: len(recorder.bodies) >= 2 and recorder.bodies[1]["callback"], what="the callback URL")
    # Answered while the execution sleeps: the payload waits in the journal, not in memory only.
    assert requests.post(told, json={"early": True}, timeout=10).status_code == 200
    engine.kill()
    engine.start()
    done = client(engine).wait_for(ex.name, timeout=30)
    assert done.state.name == "SUCCEEDED", done.error
    assert json.loads(done.result)["second"] == {"early": True}
    assert recorder.calls["/first"] == 1 and recorder.calls["/tell"] == 1


SLEEPER = """
main:
  steps:
    - before:
        assign:
          - t0: ${sys.now()}
    - nap:
        call: sys.sleep
        args:
          seconds: 3
    - after:
        return: ${sys.now() - t0}
"""


def test_a_sleep_cut_by_a_kill_ends_when_it_would_have(engine: EngineProcess) -> None:
    c = client(engine)
    c.deploy_workflow("sleeper", SLEEPER)
    ex = c.create_execution("sleeper")
    time.sleep(1.0)
    engine.kill()
    engine.start()
    done = client(engine).wait_for(ex.name, timeout=30)
    assert done.state.name == "SUCCEEDED", done.error
    slept = json.loads(done.result)
    # The deadline was journalled: the sleep neither starts over (>= 4 s) nor ends early (< 3 s).
    assert 3.0 <= slept < 4.5


PARALLEL_CALLS = """
main:
  params: [args]
  steps:
    - fan_out:
        parallel:
          concurrency_limit: 4
          for:
            value: i
            in: [0, 1, 2, 3, 4, 5, 6, 7]
            steps:
              - call:
                  call: http.post
                  args:
                    url: ${args.url + "/panel/" + string(i)}
                    body: {i: "${i}"}
    - done:
        return: ok
"""


def test_parallel_branches_replay_by_their_own_thread(engine: EngineProcess, recorder: Recorder) -> None:
    for i in range(8):
        recorder.delay[f"/panel/{i}"] = 0.1 if i < 4 else 3.0
    c = client(engine)
    c.deploy_workflow("fan", PARALLEL_CALLS)
    ex = c.create_execution("fan", {"url": recorder.url})
    # The first four answer quickly, the last four hang: kill while they are in flight.
    until(lambda: sum(recorder.calls.values()) >= 8, what="all eight calls to be in flight")
    engine.kill()
    for i in range(8):
        recorder.delay[f"/panel/{i}"] = 0
    engine.start()
    done = client(engine).wait_for(ex.name, timeout=30)
    assert done.state.name == "SUCCEEDED", done.error
    # Answered calls were not repeated; calls cut short by the kill were made again (at least once).
    assert [recorder.calls[f"/panel/{i}"] for i in range(4)] == [1, 1, 1, 1]
    assert [recorder.calls[f"/panel/{i}"] for i in range(4, 8)] == [2, 2, 2, 2]


def test_finished_and_cancelled_executions_stay_listed_after_a_restart(engine: EngineProcess) -> None:
    c = client(engine)
    c.deploy_workflow("echo", "main:\n  params: [a]\n  steps:\n    - r:\n        return: ${a.page}\n")
    c.deploy_workflow("sleeper", SLEEPER)
    ok = c.wait_for(c.create_execution("echo", {"page": 7}))
    bad = c.wait_for(c.create_execution("echo", {}))
    stopped = c.create_execution("sleeper")
    c.cancel_execution(stopped.name)
    engine.kill()
    engine.start()
    c = client(engine)
    listed = {e.name: e for e in c.executions.list_executions(parent=c.workflow_name("echo"))}
    assert set(listed) == {ok.name, bad.name}
    again = c.get_execution(ok.name)
    assert again.state.name == "SUCCEEDED" and json.loads(again.result) == 7
    assert again.end_time == ok.end_time and again.status.current_steps[0].step == "r"
    assert c.get_execution(bad.name).state.name == "FAILED"
    assert "KeyError" in c.get_execution(bad.name).error.payload
    assert c.get_execution(stopped.name).state.name == "CANCELLED"
    assert [w.name.rsplit("/", 1)[-1] for w in c.workflows.list_workflows(parent=f"projects/{PROJECT}/locations/{LOCATION}")] \
        == ["echo", "sleeper"]


def test_a_replay_that_does_not_match_the_journal_fails_naming_the_step(engine: EngineProcess,
                                                                        recorder: Recorder) -> None:
    c = client(engine)
    c.deploy_workflow("calls", CALLS_THEN_CALLBACK)
    ex = c.create_execution("calls", {"url": recorder.url})
    waiting_callback(engine, ex.name)
    engine.kill()
    # Someone (or another engine version) changed what the journal says the first call was.
    db = sqlite3.connect(engine.data_dir / "workflows.sqlite3")
    db.execute("UPDATE effects SET key = 'POST http://elsewhere/first 000000000000' WHERE kind = 'http' AND seq = 3")
    db.commit()
    db.close()
    engine.start()
    done = client(engine).wait_for(ex.name, timeout=30)
    assert done.state.name == "FAILED"
    assert "ReplayError" in done.error.payload and "step 'first'" in done.error.payload
    assert "http://elsewhere/first" in done.error.payload
    assert done.error.stack_trace.elements[0].step == "first"
    assert recorder.calls["/first"] == 1  # nothing was sent again on a journal it cannot trust


def test_two_engines_cannot_share_a_data_dir(engine: EngineProcess) -> None:
    with pytest.raises(DataDirInUse, match="used by another engine"):
        Journal(engine.data_dir)
    second = EngineProcess(engine.data_dir)
    with pytest.raises(AssertionError, match="used by another engine"):
        second.start(timeout=10)


def test_without_a_data_dir_nothing_is_written(tmp_path: Path) -> None:
    journal = Journal.memory()
    journal.start("x", "n", "w", "r", "", {}, 0.0, "CALL_LOG_LEVEL_UNSPECIFIED", None)
    assert journal.executions() == [] and not journal.durable
    assert list(tmp_path.iterdir()) == []


def test_serve_refuses_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "file"
    path.write_text("x")
    out = subprocess.run([sys.executable, "-m", "localcloud.workflows", "serve", "--port", str(free_port()),
                          "--data-dir", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--data-dir is not a folder" in out.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "localcloud.workflows", "serve", "--port", str(free_port()),
                              "--grpc-port", str(port)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "gRPC port" in out.stderr and "Traceback" not in out.stderr
