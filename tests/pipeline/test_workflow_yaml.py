"""The pipeline YAML's own logic on the real engine: the quality loop, retries of 429/5xx, the
panel fan-out's concurrency limit and which attempt later phases receive.

The functions here are scripted HTTP endpoints (a real server on loopback), so each test can make
a phase score low, fail or stall on purpose; the real functions are covered by the end-to-end tests.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest


YAML = Path(__file__).resolve().parents[2] / "workflows" / "manga_pipeline.workflows.yaml"
REQUEST_ID = "r-0123456789abcdef"

Script = Callable[[str, dict[str, Any], int], "tuple[int, dict[str, Any]]"]


class Functions:
    """Answers every function URL the workflow calls; `script` decides what a phase answers."""

    def __init__(self, script: Script | None = None) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.script = script or (lambda name, body, n: (200, {}))
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        functions = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = self.path.strip("/")
                status, payload = functions.answer(name, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def env(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self.server.server_port}"
        env = {f"PHASE{n}_URL": f"{base}/phase{n}" for n in range(1, 8)}
        env.update(OPEN_GATE_URL=f"{base}/open_gate", RECORD_DECISION_URL=f"{base}/record_decision",
                   GET_STATUS_URL=f"{base}/get_status", RECORD_FAILURE_URL=f"{base}/record_failure")
        return env

    def answer(self, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls[name].append(body)
            count = len(self.calls[name])
            self.in_flight += 1 if body.get("panel_id") else 0
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            status, payload = self.script(name, body, count)
            if status != 200 or payload:
                return status, payload
            return 200, self.default(name, body)
        finally:
            if body.get("panel_id"):
                time.sleep(0.2)  # a panel takes a moment, so concurrent ones surely overlap
                with self.lock:
                    self.in_flight -= 1

    @staticmethod
    def default(name: str, body: dict[str, Any]) -> dict[str, Any]:
        if name == "open_gate":
            return {"gate_id": f"g-{body['phase']}", "decision": body.get("auto_decision"), "timeout_seconds": 30}
        if name == "record_decision":
            return {"decision": "approve", "feedback": None, "remaining_seconds": 0}
        if name == "get_status":
            return {"exports": {"pdf": "gs://b/manga.pdf"}, "page_count": 2}
        if name == "phase5" and body.get("operation") == "plan":
            return {"panel_ids": [f"p01-{i}" for i in range(1, 8)]}
        if name == "phase7" and body.get("operation") == "plan":
            return {"pages": [1, 2, 3]}
        if name == "phase7" and body.get("operation") == "page":
            return {"page": body["page"], "composed": True}
        return {"score": 0.9, "attempt": body["attempt"], "decision": "pass", "hints": []}

    def close(self) -> None:
        self.server.shutdown()


class RunFailed(Exception):
    def __init__(self, output: str):
        super().__init__(output)
        self.output = output


def run(functions: Functions, **arguments: Any) -> Any:
    """`python -m localcloud.workflows run` (the documented command, callbacks included)."""
    argument = {"request_id": REQUEST_ID, "hitl_mode": "auto", "quality_delay_scale": 0.001, **arguments}
    command = [sys.executable, "-m", "localcloud.workflows", "run", str(YAML), "--data", json.dumps(argument)]
    for key, value in functions.env.items():
        command += ["--env", f"{key}={value}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=YAML.parents[1])
    if done.returncode != 0:
        raise RunFailed(done.stdout + done.stderr)
    return json.loads(done.stdout)


@pytest.fixture
def functions_with():
    made: list[Functions] = []

    def make(script: Script | None = None) -> Functions:
        made.append(Functions(script))
        return made[-1]

    yield make
    for functions in made:
        functions.close()


def test_every_phase_runs_once_and_every_gate_is_recorded(functions_with):
    functions = functions_with()
    result = run(functions)
    assert result["request_id"] == REQUEST_ID
    assert result["selected"] == {str(n): 1 for n in range(1, 8)}
    assert [len(functions.calls[f"phase{n}"]) for n in (1, 2, 3, 4, 6)] == [1] * 5
    assert [c.get("operation") for c in functions.calls["phase7"]][::4] == ["plan", "collect"]
    assert [c["phase"] for c in functions.calls["open_gate"]] == list(range(1, 8))
    assert all(c["auto_decision"] == "skip" for c in functions.calls["open_gate"])


def test_a_poor_phase_is_retried_with_hints_at_most_three_times_then_the_best_is_kept(functions_with):
    scores = [0.30, 0.55, 0.40, 0.50]

    def poor_characters(name, body, n):
        if name == "phase2":
            return 200, {"score": scores[n - 1], "attempt": body["attempt"], "decision": "retry",
                         "hints": [f"hint from attempt {body['attempt']}"]}
        return 200, {}

    functions = functions_with(poor_characters)
    result = run(functions)
    calls = functions.calls["phase2"]
    assert [c["attempt"] for c in calls] == [1, 2, 3, 4]
    assert [c["retry"] for c in calls] == [0, 1, 2, 3]
    assert calls[1]["hints"] == ["hint from attempt 1"] and calls[3]["hints"] == ["hint from attempt 3"]
    assert result["selected"]["2"] == 2  # 0.55, the best of the four
    assert functions.calls["phase3"][0]["selected"] == {"1": 1, "2": 2}


def test_a_warning_score_is_not_retried(functions_with):
    functions = functions_with(lambda name, body, n: (200, {"score": 0.65, "attempt": body["attempt"],
                                                            "decision": "warn", "hints": []})
                               if name == "phase3" else (200, {}))
    run(functions)
    assert len(functions.calls["phase3"]) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_failures_are_retried_with_backoff(functions_with, status):
    functions = functions_with(lambda name, body, n: (status, {"error": "busy"}) if name == "phase1" and n <= 2
                               else (200, {}))
    result = run(functions)
    assert len(functions.calls["phase1"]) == 3
    assert result["selected"]["1"] == 1


def test_a_bad_request_is_not_retried_and_fails_the_run(functions_with):
    functions = functions_with(lambda name, body, n: (422, {"error": "'pages' must be between 1 and 32"})
                               if name == "phase1" else (200, {}))
    with pytest.raises(RunFailed) as caught:
        run(functions)
    assert "422" in caught.value.output and "HttpError" in caught.value.output
    assert len(functions.calls["phase1"]) == 1
    reported = functions.calls["record_failure"]
    assert len(reported) == 1 and reported[0]["request_id"] == REQUEST_ID
    assert reported[0]["error"]["code"] == 422


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_panels_fan_out_within_the_concurrency_limit(functions_with, limit):
    functions = functions_with()
    run(functions, concurrency_limit=limit)
    panel_calls = [c for c in functions.calls["phase5"] if c.get("panel_id")]
    assert sorted(c["panel_id"] for c in panel_calls) == [f"p01-{i}" for i in range(1, 8)]
    assert functions.max_in_flight == limit
    aggregate = [c for c in functions.calls["phase5"] if c.get("operation") == "collect"]
    assert len(aggregate) == 1


@pytest.mark.parametrize("planned", [[1, 2, 3, 4, 5], []])
def test_pages_are_composed_side_by_side_then_collected(functions_with, planned):
    """Phase 7: `plan`, one `page` call per planned page (within `panel_calls_at_once`), then `collect`, whose
    answer is the attempt the quality gate judges; a plan of no pages goes straight to `collect`."""
    def pages(name, body, n):
        if name == "phase7" and body.get("operation") == "plan":
            return 200, {"pages": planned}
        if name == "phase7" and body.get("operation") == "collect":
            return 200, {"score": 0.8, "attempt": body["attempt"], "decision": "pass", "hints": []}
        return 200, {}

    functions = functions_with(pages)
    result = run(functions, panel_calls_at_once=2)
    calls = functions.calls["phase7"]
    assert [c.get("operation") for c in calls] == ["plan"] + ["page"] * len(planned) + ["collect"]
    assert sorted(c["page"] for c in calls if c.get("operation") == "page") == planned
    assert {(c["attempt"], c["retry"]) for c in calls} == {(1, 0)}
    assert result["selected"]["7"] == 1


@pytest.mark.parametrize("at_once", [2, 4])
def test_panel_calls_at_once_may_exceed_the_model_concurrency(functions_with, at_once):
    """The model slots (in the functions) hold the model to `concurrency_limit`; the workflow runs
    `panel_calls_at_once` panel calls."""
    functions = functions_with()
    run(functions, concurrency_limit=1, panel_calls_at_once=at_once)
    assert functions.max_in_flight == at_once


def test_review_mode_waits_on_the_callback_and_a_timeout_continues(functions_with):
    def decisions(name, body, n):
        if name == "open_gate":
            return 200, {"gate_id": f"g-{body['phase']}", "decision": None, "timeout_seconds": 1}
        if name == "record_decision":
            assert body["timed_out"] is True and body["callback"] is None
            return 200, {"decision": "timeout", "feedback": None, "remaining_seconds": 0}
        return 200, {}

    functions = functions_with(decisions)
    result = run(functions, hitl_mode="review")
    assert len(functions.calls["record_decision"]) == 7
    assert result["selected"] == {str(n): 1 for n in range(1, 8)}
