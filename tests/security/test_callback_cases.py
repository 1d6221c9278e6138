"""Every way to answer a gate wrongly, posted to the real callback URL of a real run: each one is
refused, the gate keeps waiting, and the run completes when the right answer comes."""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import pytest
import requests

from mangaflow.bootstrap import stores
from mangaflow.service import live
from mangaflow.stores import postgres

Body = "bytes | dict[str, Any] | list[Any] | None"


def _forge(token: str) -> str:
    expires, _, mac = token.partition(".")
    return f"{expires}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def _signed(request_id: str, phase: int, gate_id: str, expires: int) -> str:
    from localcloud.supervisor import signing_key
    from mangaflow.hitl import tokens

    previous = os.environ.get("MANGAFLOW_SIGNING_KEY")
    os.environ["MANGAFLOW_SIGNING_KEY"] = signing_key()
    try:
        return tokens.sign(request_id, phase, gate_id, expires)
    finally:
        if previous is None:
            os.environ.pop("MANGAFLOW_SIGNING_KEY")
        else:
            os.environ["MANGAFLOW_SIGNING_KEY"] = previous


# (name, how to build the body from the open gate) -> refused by record_decision: the gate waits on.
ANSWERED_BUT_INVALID: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("no token", lambda g: {"decision": "approve"}),
    ("empty token", lambda g: {"decision": "approve", "token": ""}),
    ("forged token", lambda g: {"decision": "approve", "token": _forge(g["token"])}),
    ("another request's token", lambda g: {"decision": "approve", "token": _signed(
        "r-0123456789abcdef", g["phase"], g["gate_id"].replace(g["request_id"], "r-0123456789abcdef"),
        g["deadline"])}),
    ("another phase's token", lambda g: {"decision": "approve", "token": _signed(
        g["request_id"], g["phase"] + 1, g["gate_id"][:-3] + f"{g['phase'] + 1}-0", g["deadline"])}),
    ("another round's token", lambda g: {"decision": "approve", "token": _signed(
        g["request_id"], g["phase"], g["gate_id"][:-1] + "3", g["deadline"])}),
    ("expired token", lambda g: {"decision": "approve", "token": _signed(
        g["request_id"], g["phase"], g["gate_id"], int(time.time()) - 5)}),
    ("malformed token", lambda g: {"decision": "approve", "token": "not-a-token"}),
    ("unknown decision", lambda g: {"decision": "maybe", "token": g["token"]}),
    ("non-ASCII token é", lambda g: {"decision": "approve", "token": "1.é"}),
    ("non-ASCII digits", lambda g: {"decision": "approve", "token": "²³.x"}),
    ("empty body", lambda g: b""),
    ("JSON null", lambda g: None),
    ("a list", lambda g: [g["token"]]),
    ("plain text", lambda g: b"approve please"),
    ("lone surrogate in the token", lambda g: b'{"decision": "approve", "token": "\\ud800"}'),
    ("lone surrogate in feedback", lambda g: b'{"decision": "modify", "feedback": "x\\udfff", "token": "%s"}'
                                            % g["token"].encode()),
    ("NUL in modify feedback", lambda g: {"decision": "modify", "feedback": "brighter\u0000", "token": g["token"]}),
    ("timeout claimed in the answer", lambda g: {"decision": "approve", "token": "1.a", "timed_out": True}),
]


def _post(url: str, body: Any, method: str = "POST") -> requests.Response:
    if isinstance(body, (bytes, bytearray)):
        return requests.request(method, url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    return requests.request(method, url, data=json.dumps(body), headers={"Content-Type": "application/json"},
                            timeout=30)


def _rejections(request_id: str, gate_id: str) -> int:
    _, events = live.read(stores(), request_id, "0")
    return sum(1 for e in events if e.get("type") == "gate_rejected_answer" and e.get("gate_id") == gate_id)


def _still_waiting(gate_id: str) -> bool:
    return postgres.get_gate(gate_id)["decided_at"] is None


def _wait_for_rejection(request_id: str, gate_id: str, before: int, name: str = "") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _rejections(request_id, gate_id) > before:
            return
        time.sleep(0.05)
    raise AssertionError(f"the workflow never judged the answer '{name}' at {gate_id}")


@pytest.mark.slow
def test_every_wrong_answer_is_refused_and_the_gate_keeps_waiting(run_pipeline) -> None:
    results: dict[str, str] = {}
    seen: dict[str, Any] = {}

    def at_gate(gate: dict[str, Any]) -> dict[str, Any] | None:
        url = gate["callback_url"]
        if gate["phase"] == 1 and gate["gate_id"].endswith("-0"):
            for name, build in ANSWERED_BUT_INVALID:
                before = _rejections(gate["request_id"], gate["gate_id"])
                sent = _post(url, build(gate))
                assert sent.status_code == 200, f"{name}: the engine refused it ({sent.status_code})"
                _wait_for_rejection(gate["request_id"], gate["gate_id"], before, name)
                assert _still_waiting(gate["gate_id"]), f"{name} decided the gate"
                results[name] = "refused"
            # Refused by the engine itself: never reaches the workflow.
            huge = _post(url, {"decision": "approve", "token": gate["token"], "feedback": "x" * 3_000_000})
            assert huge.status_code == 413, huge.status_code
            for method in ("GET", "PUT", "DELETE"):
                wrong = _post(url, {"decision": "approve", "token": gate["token"]}, method=method)
                assert 400 <= wrong.status_code < 500, (method, wrong.status_code)
            assert _still_waiting(gate["gate_id"])
            results["huge body"] = results["wrong method"] = "refused"
            seen["round0"] = dict(gate)
            return {"decision": "modify", "feedback": "make it brighter", "token": gate["token"]}
        if gate["phase"] == 1:
            first = seen["round0"]
            # The same answer again, at the old callback and at the new one: a replay decides nothing.
            replay = {"decision": "approve", "token": first["token"]}
            old = _post(first["callback_url"], replay)
            assert old.status_code < 500
            before = _rejections(gate["request_id"], gate["gate_id"])
            assert _post(url, replay).status_code == 200
            _wait_for_rejection(gate["request_id"], gate["gate_id"], before)
            assert _still_waiting(gate["gate_id"])
            results["replayed token"] = "refused"
        return {"decision": "approve", "token": gate["token"], "decided_by": "test"}

    outcome = run_pipeline("Lena fed the cat. \"You are spoiled,\" Lena said.", pages=1, answer=at_gate)
    phase1 = next(p for p in outcome["state"]["phases"] if p["phase"] == 1)
    assert [g["decision"] for g in phase1["gates"]] == ["modify", "approve"]
    assert all(g["decision"] == "approve" for p in outcome["state"]["phases"][1:] for g in p["gates"])
    assert outcome["state"]["status"] == "completed"
    expected = {name for name, _ in ANSWERED_BUT_INVALID} | {"huge body", "wrong method", "replayed token"}
    assert set(results) == expected
