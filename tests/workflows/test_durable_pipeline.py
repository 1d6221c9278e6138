"""The acceptance test of durable executions: the real 2-page pipeline survives SIGKILLs of its engine.

The test runs its own engine (durable, fixed ports, its own data dir) and its own function gateway on the real
local stores (`services`), deploys the pipeline YAML through the official client, and starts runs through the
gateway's start_generation. An undisturbed run gives the reference book. Then 5 runs are each killed at 4
seeded random points (20 in all): during a phase's calls, during phase 5's parallel fan-out, while waiting at
an approval gate, and during a retry back-off sleep (the gateway is down, so calls fail and the workflow
sleeps before retrying). After each kill the engine restarts on the same ports with the same data dir; every
run must finish with the same book (page PNGs byte for byte), gates answered on the URLs they announced.
"""
from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from engine_process import ROOT, EngineProcess, free_port
from localcloud import supervisor
from localcloud.supervisor import parts as stack_parts
from localcloud.workflows.client import EngineClient

pytestmark = pytest.mark.slow

STORY = ('Mika found a lantern by the river. "Is anyone there?" she asked. The old ferryman smiled. '
         '"Only the festival," he said, and pushed off into the dark water. The lanterns rose over the town.')
RUNS, KILLS_PER_RUN, SEED = 5, 4, 14
WORKFLOW_ID = stack_parts.WORKFLOW_ID


class Gateway:
    """`python -m localcloud.gateway` on a fixed port, pointed at our engine."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud.gateway", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/_health", timeout=1).status_code < 500:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gateway did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(20)
        self.proc = None


class DurableStack:
    def __init__(self, engine: EngineProcess, gateway: Gateway):
        self.engine = engine
        self.gateway = gateway
        self.kills: list[str] = []

    def client(self) -> EngineClient:
        return EngineClient.local(self.engine.rest, self.engine.grpc, supervisor.project(), stack_parts.WORKFLOW_LOCATION)

    def restart_engine(self, why: str) -> None:
        self.engine.kill()
        self.kills.append(why)
        self.engine.start()


@pytest.fixture(scope="module")
def durable(services: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableStack]:
    folder = tmp_path_factory.mktemp("durable")
    engine = EngineProcess(folder / "journal").start()
    env = {**os.environ, **supervisor.function_environment(
        {**services["env"], "WORKFLOWS_EMULATOR_HOST": engine.rest, "WORKFLOWS_GRPC_EMULATOR_HOST": engine.grpc},
        "http://127.0.0.1:0", supervisor.local_dir())}
    env.update({"WORKFLOWS_GRPC_EMULATOR_HOST": engine.grpc, "MANGAFLOW_QUALITY_DELAY_SCALE": "0.05",
                "MAX_CONCURRENT_REQUESTS_PER_USER": "50", "RATE_LIMIT_PER_MINUTE": "10000"})
    gateway = Gateway(env, folder / "gateway.log")
    env["MANGAFLOW_PUBLIC_URL"] = gateway.url
    gateway.start()
    client = EngineClient.local(engine.rest, engine.grpc, supervisor.project(), stack_parts.WORKFLOW_LOCATION)
    client.deploy_workflow(WORKFLOW_ID, stack_parts.WORKFLOW_FILE.read_text(encoding="utf-8"),
                           {var: f"{gateway.url}/{fn}" for var, fn in stack_parts.WORKFLOW_ENV_FUNCTIONS.items()})
    stack = DurableStack(engine, gateway)
    try:
        yield stack
    finally:
        gateway.stop()
        engine.stop()


def _book(request_id: str, gateway: Gateway, user: str) -> list[str]:
    from mangaflow_cli import api as cli
    from mangaflow.stores import objects

    status = requests.post(f"{gateway.url}/get_status", json={"request_id": request_id},
                           headers=cli.auth_headers(user), timeout=60)
    assert status.status_code == 200, status.text
    pages = status.json()["final_pages"]
    return [hashlib.sha256(objects.get_bytes(page["uri"])).hexdigest() for page in pages]


def _run(stack: DurableStack, plan: list[tuple[str, int]], user: str) -> tuple[list[str], list[str]]:
    """One 2-page run; `plan` lists (kind, phase) kill points in order. Returns the book and the gate URLs."""
    from mangaflow_cli import api as cli
    from mangaflow.bootstrap import stores
    from mangaflow.service import live

    body = {"text": STORY, "pages": 2, "language": "en", "hitl": {"mode": "review", "timeout_seconds": 600}}
    started = requests.post(f"{stack.gateway.url}/start_generation", json=body, headers=cli.auth_headers(user),
                            timeout=60)
    assert started.status_code == 202, started.text
    request_id, execution = started.json()["request_id"], started.json()["execution"]
    pending = list(plan)
    cursor, answered, urls = "0", set(), []
    deadline = time.monotonic() + 240
    while True:
        assert time.monotonic() < deadline, f"run {request_id} did not finish; kills so far {stack.kills}"
        cursor, events = live.read(stores(), request_id, cursor, block_ms=100)
        for event in events:
            kind, phase = event.get("type"), int(event.get("phase") or 0)
            if pending and pending[0][1] == phase:
                point = pending[0][0]
                if point == "call" and kind == "phase_started":
                    time.sleep(random.uniform(0.0, 0.3))
                    stack.restart_engine(f"call phase {phase}")
                    pending.pop(0)
                elif point == "fanout" and kind == "panel_done":
                    stack.restart_engine("phase 5 fan-out")
                    pending.pop(0)
                elif point == "sleep" and kind == "phase_started":
                    # Calls now fail: the workflow retries after a journalled back-off sleep; kill during it.
                    stack.gateway.stop()
                    time.sleep(1.0)
                    stack.restart_engine(f"back-off sleep phase {phase}")
                    stack.gateway.start()
                    pending.pop(0)
                elif point == "gate" and kind == "gate_open":
                    stack.restart_engine(f"gate phase {phase}")
                    pending.pop(0)
            if kind == "gate_open" and event["gate_id"] not in answered:
                answered.add(event["gate_id"])
                urls.append(event["callback_url"])
                reply = {"decision": "approve", "token": event["token"], "decided_by": "kill-test"}
                sent = requests.post(event["callback_url"], json=reply, timeout=30)
                assert sent.status_code == 200, sent.text
        state = stack.client().get_execution(execution).state.name
        if state != "ACTIVE":
            done = stack.client().get_execution(execution)
            assert state == "SUCCEEDED", (stack.kills, done.error.payload, done.error.context)
            assert not pending, f"kill points never reached: {pending}"
            return _book(request_id, stack.gateway, user), urls


def _plans(rng: random.Random) -> list[list[tuple[str, int]]]:
    """Per run: one kill during a phase's calls, one in phase 5's fan-out, one at a gate, one in a back-off;
    each in its own phase, in the order the run reaches them."""
    plans = []
    for _ in range(RUNS):
        call, gate, sleep = rng.sample([1, 2, 3, 4, 6, 7], 3)
        points = [("call", call), ("fanout", 5), ("gate", gate), ("sleep", sleep)]
        plans.append(sorted(points, key=lambda p: p[1]))
    return plans


def test_twenty_sigkills_of_the_engine_leave_the_book_unchanged(durable: DurableStack) -> None:
    reference, _ = _run(durable, [], "reference")
    assert len(reference) == 2
    rng = random.Random(SEED)
    random.seed(SEED)
    recovered = 0
    for index, plan in enumerate(_plans(rng)):
        book, urls = _run(durable, plan, f"killed-{index}")
        assert book == reference, f"run {index} (kills {plan}) made another book"
        assert len(urls) == len(set(urls)) and urls  # each gate answered once, on the URL it announced
        recovered += len(plan)
    assert recovered == len(durable.kills) == RUNS * KILLS_PER_RUN, durable.kills
