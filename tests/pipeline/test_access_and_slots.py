"""Who may act on a request (its owner, or the holder of one of its gates' links), and run slots
that belong to live executions: freed when a start fails, reclaimed when an execution is gone."""
from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from functions_framework import create_app

from mangaflow.stores import postgres
from mangaflow.stores.sessions import session_store

REPO_MAIN = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "functions" / "main.py")


def _link(gate: dict[str, Any]) -> dict[str, str]:
    parts = urlsplit(gate["approval_url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return {"gate_id": query["gate_id"], "token": parse_qs(parts.fragment)["token"][0]}


def test_only_the_owner_or_a_link_holder_reads_or_steers_a_request(run_pipeline, stack, owner, owner_id, stranger):
    gateway = stack["gateway"]
    seen: dict[str, Any] = {}

    def probe_at_concept(gate: dict[str, Any]) -> dict[str, Any]:
        if gate["phase"] == 1:
            rid = gate["request_id"]
            body = {"request_id": rid}
            seen["anonymous"] = requests.post(f"{gateway}/get_status", json=body, timeout=30)
            seen["stranger"] = requests.post(f"{gateway}/get_status", json=body, headers=stranger, timeout=30)
            seen["owner"] = requests.post(f"{gateway}/get_status", json=body, headers=owner, timeout=30)
            seen["link"] = requests.post(f"{gateway}/get_status", json={**body, **_link(gate)}, timeout=30)
            seen["versions_stranger"] = requests.post(f"{gateway}/preview_versions", headers=stranger, timeout=30,
                                                      json={"request_id": rid, "phase": 1})
            seen["versions_link"] = requests.post(f"{gateway}/preview_versions", timeout=30,
                                                  json={"request_id": rid, "phase": 1, **_link(gate)})
            seen["chat_stranger"] = requests.post(f"{gateway}/chat_message", headers=stranger, timeout=30, json={
                "request_id": rid, "phase": 1, "text": "make it much darker and more serious"})
            seen["chat_anonymous"] = requests.post(f"{gateway}/chat_message", timeout=30, json={
                "request_id": rid, "phase": 1, "text": "make it much darker and more serious"})
            seen["chat_wrong_phase_link"] = requests.post(f"{gateway}/chat_message", timeout=30, json={
                "request_id": rid, "phase": 2, "text": "add a character", **_link(gate)})
            time.sleep(0.5)
            seen["gate_after"] = postgres.get_gate(gate["gate_id"])
        return {"decision": "approve", "token": gate["token"], "decided_by": "test"}

    run_pipeline("Ivo painted the fence. \"Done,\" Ivo said.", pages=1, answer=probe_at_concept, as_user=owner_id)
    assert seen["anonymous"].status_code == 401 and seen["anonymous"].json()["field"] == "Authorization"
    assert seen["stranger"].status_code == 403
    assert seen["owner"].status_code == 200 and "client_address" in seen["owner"].json()
    link_view = seen["link"].json()
    assert seen["link"].status_code == 200 and "client_address" not in link_view
    assert all("callback_url" not in g for p in link_view["phases"] for g in p["gates"])
    assert seen["versions_stranger"].status_code == 403 and seen["versions_link"].status_code == 200
    assert seen["chat_stranger"].status_code == 403 and seen["chat_anonymous"].status_code == 401
    assert seen["chat_wrong_phase_link"].status_code == 403
    assert seen["gate_after"]["decided_at"] is None, "a stranger's chat must not decide the gate"


def test_the_request_belongs_to_the_principal_not_to_a_user_id_in_the_body(stack, owner):
    answer = requests.post(f"{stack['gateway']}/start_generation", headers=owner, timeout=30,
                           json={"text": "A story.", "user_id": "someone-else"})
    assert answer.status_code == 422 and answer.json()["field"] == "user_id"


def test_a_start_that_fails_after_admission_frees_the_slot_and_the_key(stack, owner, monkeypatch):
    """The Workflows service unreachable: the start fails with 503, the slot and the idempotency key
    are free at once, and the same key then starts normally."""
    from localcloud import supervisor
    from localcloud.services.pytest_plugin import reset_client_caches
    from mangaflow_cli import api as cli

    user = f"slot-{uuid.uuid4().hex[:8]}"
    headers = cli.auth_headers(user)
    env = supervisor.function_environment(supervisor.env(), stack["gateway"], supervisor.local_dir())
    for key in ("MANGAFLOW_SIGNING_KEY", "MANGAFLOW_WORKFLOW", "MANGAFLOW_PUBLIC_URL"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("WORKFLOWS_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("WORKFLOWS_GRPC_EMULATOR_HOST", "127.0.0.1:9")
    reset_client_caches()
    client = create_app("start_generation", REPO_MAIN).test_client()
    body = {"text": "Pia lost her key.", "pages": 1, "idempotency_key": f"k-{uuid.uuid4().hex}",
            "hitl": {"mode": "auto"}}
    failed = client.post("/", json=body, headers=headers)
    assert failed.status_code == 503, failed.get_data(as_text=True)
    assert session_store().active_requests(user) == []
    assert session_store().claim(f"start:{user}:{body['idempotency_key']}").claimed  # the key is free
    session_store().call(lambda c: c.delete(f"idem:start:{user}:{body['idempotency_key']}"))
    monkeypatch.setenv("WORKFLOWS_EMULATOR_HOST", env["WORKFLOWS_EMULATOR_HOST"])
    monkeypatch.setenv("WORKFLOWS_GRPC_EMULATOR_HOST", env["WORKFLOWS_GRPC_EMULATOR_HOST"])
    reset_client_caches()
    started = create_app("start_generation", REPO_MAIN).test_client().post("/", json=body, headers=headers)
    assert started.status_code == 202, started.get_data(as_text=True)
    requests.post(f"http://{stack['workflows']}/v1/{started.get_json()['execution']}:cancel", json={}, timeout=10)
    reset_client_caches()


def _start(stack: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{stack['gateway']}/start_generation", headers=headers, timeout=30, json={
        "text": "Oda counted the boats.", "pages": 1, "hitl": {"mode": "review", "timeout_seconds": 600}})


def _age_slots(user: str, seconds: float) -> None:
    """Make the user's slots look `seconds` old (the grace for starts in progress is 60 s)."""
    key = f"concurrency:{user}"
    store = session_store()
    for member, score in store.call(lambda c: c.zrange(key, 0, -1, withscores=True)):
        store.call(lambda c, m=member, s=score: c.zadd(key, {m: s - seconds * 1000}))


@pytest.mark.slow
def test_a_slot_is_reclaimed_when_its_execution_ended_or_is_gone(stack):
    from mangaflow_cli import api as cli

    user = f"slots-{uuid.uuid4().hex[:8]}"
    headers = cli.auth_headers(user)
    first, third = (_start(stack, headers) for _ in range(2))
    assert first.status_code == 202 and third.status_code == 202
    # A run whose execution the engine no longer knows (lost in a crash before anything was recorded).
    ghost = postgres.create_request(user, request_id=postgres.new_request_id(), language="en", pages=1)
    postgres.update_request(ghost["request_id"], status="waiting",
                            execution_name=first.json()["execution"].rsplit("/", 1)[0] + "/vanished-0001")
    assert session_store().admit("127.0.0.2", user_id=user, request_id=ghost["request_id"]).allowed
    busy = _start(stack, headers)
    assert busy.status_code == 429 and busy.json()["field"] == "(user)"
    # One execution is cancelled behind the service's back.
    requests.post(f"http://{stack['workflows']}/v1/{first.json()['execution']}:cancel", json={}, timeout=10)
    _age_slots(user, 120)
    fourth = _start(stack, headers)
    assert fourth.status_code == 202, fourth.text
    assert postgres.get_request(first.json()["request_id"])["status"] == "cancelled"
    assert postgres.get_request(ghost["request_id"])["status"] == "failed"
    assert set(session_store().active_requests(user)) == {third.json()["request_id"], fourth.json()["request_id"]}
    for run in (third.json(), fourth.json()):
        requests.post(f"http://{stack['workflows']}/v1/{run['execution']}:cancel", json={}, timeout=10)
