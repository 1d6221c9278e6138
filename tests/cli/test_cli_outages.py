"""`mangaflow generate` when parts of the stack go away mid-run, when the user is busy, and when it is
interrupted: the run is never lost or orphaned, and the exit code says what happened."""
from __future__ import annotations

import pytest

import json
import signal
import time
import uuid

import requests

from _cli_runs import STORY, Background, mangaflow
from localcloud import supervisor
from mangaflow_cli.api import local_client

# Stops, kills or restarts servers the rest of the suite shares: run apart (make test).
pytestmark = pytest.mark.serial


def summary_of(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def wait_for_event(user: str, request_id: str, kind: str, timeout: float = 120) -> None:
    api, cursor = local_client(user), "0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = api.get_progress(request_id, cursor, wait_s=2)
        if any(event.get("type") == kind for event in page["events"]):
            return
        cursor = page["cursor"]
    raise AssertionError(f"no {kind} event for {request_id} within {timeout} s")


def execution_of(request_id: str) -> str:
    """The engine's execution running a request (the test reads the engine directly)."""
    host = supervisor.env(["workflows"])["WORKFLOWS_EMULATOR_HOST"]
    listed = requests.get(f"http://{host}/v1/{supervisor.workflow_name()}/executions", timeout=10).json()
    return next(e["name"] for e in listed["executions"] if json.loads(e["argument"])["request_id"] == request_id)


def test_a_valkey_outage_of_25_s_is_ridden_out_with_one_line(stack, tmp_path):
    user = f"outage-{uuid.uuid4().hex[:8]}"
    run = Background("generate", STORY, "--pages", "2", "--out", tmp_path / "out", "--auto-approve", "--json",
                     MANGAFLOW_USER=user)
    run.wait_for(r"request r-[0-9a-f]+ started")
    supervisor.kill("redis")
    time.sleep(25)
    supervisor.up(["redis"])
    code, stdout, stderr = run.finish(timeout=400)
    assert code == 0, stderr[-3000:]
    assert summary_of(stdout)["pages"] == 2
    assert sorted(p.name for p in (tmp_path / "out" / "pages").iterdir()) == ["001.png", "002.png"]
    assert len([line for line in stderr.splitlines() if "reconnecting" in line]) == 1, stderr
    assert "reconnected" in stderr
    assert "Traceback" not in stderr


def test_a_gateway_restart_in_the_middle_of_a_run_does_not_kill_it(stack, tmp_path):
    user = f"gw-{uuid.uuid4().hex[:8]}"
    before = supervisor.up()["gateway"]
    run = Background("generate", STORY, "--pages", "2", "--out", tmp_path / "out", "--auto-approve", "--json",
                     MANGAFLOW_USER=user)
    request_id = run.wait_for(r"request (r-[0-9a-f]+) started").group(1)
    wait_for_event(user, request_id, "panels_planned")  # the panel fan-out is under way
    after = supervisor.restart("gateway")
    assert after["pid"] != before["pid"] and after["port"] == before["port"]
    code, stdout, stderr = run.finish()
    assert code == 0, stderr[-3000:]
    summary = summary_of(stdout)
    assert summary["request_id"] == request_id and summary["pages"] == 2
    assert local_client(user).get_status(request_id)["status"] == "completed"
    assert "Traceback" not in stderr


def test_after_an_engine_restart_a_new_generate_works(stack, tmp_path):
    before = supervisor.up()
    engine = supervisor.restart("workflows")
    assert engine["port"] == before["workflows"]["port"]
    assert supervisor.up()["gateway"]["pid"] == before["gateway"]["pid"]  # the gateway kept running
    assert all(row["healthy"] for row in supervisor.status())
    result = mangaflow("generate", STORY, "--pages", "1", "--out", tmp_path / "out", "--auto-approve", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary_of(result.stdout)["pages"] == 1


def test_a_user_with_three_runs_going_gets_exit_75_and_cancelling_frees_the_slots(stack, tmp_path):
    user = f"busy-{uuid.uuid4().hex[:8]}"
    api = local_client(user)
    waiting = [api.start_generation({"text": "Mina waited for the tram.", "pages": 1,
                                     "hitl": {"mode": "review", "timeout_seconds": 600}}) for _ in range(3)]
    result = mangaflow("generate", STORY, "--pages", "1", "--out", tmp_path / "out", "--auto-approve", "--json",
                       MANGAFLOW_USER=user)
    assert result.returncode == 75, result.stderr
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(body) == {"error", "retry_after_s"} and body["retry_after_s"] > 0
    assert "3" in body["error"] and "wait for one to finish" in body["error"]
    assert f"retry in about {body['retry_after_s']} s" in " ".join(result.stderr.split())
    assert not (tmp_path / "out" / "pages").exists()

    for accepted in waiting:
        cancelled = api.cancel_generation(accepted["request_id"], accepted["execution"])
        assert cancelled == {"request_id": accepted["request_id"], "status": "cancelled", "cancelled": True}
        assert api.get_status(accepted["request_id"])["status"] == "cancelled"
        assert api.cancel_generation(accepted["request_id"], accepted["execution"])["cancelled"] is False
    host = supervisor.env(["workflows"])["WORKFLOWS_EMULATOR_HOST"]
    states = {requests.get(f"http://{host}/v1/{a['execution']}", timeout=10).json()["state"] for a in waiting}
    assert states == {"CANCELLED"}
    again = api.start_generation({"text": "Mina took the tram.", "pages": 1, "hitl": {"mode": "review"}})
    api.cancel_generation(again["request_id"], again["execution"])


def test_ctrl_c_leaves_the_run_going_and_says_how_to_resume(stack, tmp_path):
    user = f"ctrl-c-{uuid.uuid4().hex[:8]}"
    run = Background("generate", STORY, "--pages", "1", "--out", tmp_path / "out", "--review", MANGAFLOW_USER=user)
    request_id = run.wait_for(r"request (r-[0-9a-f]+) started").group(1)
    run.wait_for(r"approval gate after phase 1")  # the prompt waits for an answer
    run.proc.send_signal(signal.SIGINT)
    code, _, stderr = run.finish(timeout=60)
    assert code == 130, stderr
    assert f"mangaflow status {request_id}" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    api = local_client(user)
    assert api.get_status(request_id)["status"] not in ("cancelled", "failed")  # it goes on, waiting at the gate
    api.cancel_generation(request_id, execution_of(request_id))
