"""The functions a client follows its own request with (get_progress, get_artifact,
cancel_generation), through the real gateway: who may call them, what they answer, hostile input."""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from localcloud import supervisor
from mangaflow.auth import issue_local_token
from mangaflow_cli.api import ApiClient, local_client
from mangaflow_cli.follow import auto_approver, follow

REPO = Path(__file__).resolve().parents[2]
STORY = "Kai planted a seed by the river. \"Grow,\" said Kai. By spring it was a tree."


def post(stack: dict, function: str, body: dict, user: str | None = None, token: str | None = None) -> requests.Response:
    headers = {}
    if user or token:
        headers["Authorization"] = f"Bearer {token or issue_local_token(user, supervisor.signing_key())}"
    return requests.post(f"{stack['gateway']}/{function}", json=body, headers=headers, timeout=60)


def artifact(stack: dict, request_id: str, uri: str, user: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {issue_local_token(user, supervisor.signing_key())}"} if user else {}
    return requests.get(f"{stack['gateway']}/get_artifact", params={"request_id": request_id, "uri": uri},
                        headers=headers, timeout=60, allow_redirects=False)


@pytest.fixture(scope="module")
def owner() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def finished(stack, owner) -> dict:
    """A completed one-page request of `owner`, with its whole state."""
    api = local_client(owner)
    accepted = api.start_generation({"text": STORY, "pages": 1, "hitl": {"mode": "review"}})
    assert follow(api, accepted["request_id"], auto_approver, execution=accepted["execution"])["status"] == "completed"
    return {**accepted, "state": api.get_status(accepted["request_id"])}


def test_progress_replays_every_event_then_continues_from_the_cursor(stack, owner, finished):
    first = post(stack, "get_progress", {"request_id": finished["request_id"], "after": "0"}, owner).json()
    kinds = [event["type"] for event in first["events"]]
    assert kinds[0] == "phase_started" and "completed" in kinds and kinds.count("gate_open") == 7
    assert first["status"] == "completed" and first["cursor"] != "0"
    rest = post(stack, "get_progress", {"request_id": finished["request_id"], "after": first["cursor"], "wait_s": 20,
                                        "execution": finished["execution"]}, owner).json()
    # A finished request does not hold the caller for the long poll.
    assert rest["events"] == [] and rest["cursor"] == first["cursor"] and rest["execution_state"] == "SUCCEEDED"


def test_a_long_poll_waits_for_the_next_event(stack):
    user = f"poll-{uuid.uuid4().hex[:8]}"
    api = local_client(user)
    accepted = api.start_generation({"text": STORY, "pages": 1, "hitl": {"mode": "review", "timeout_seconds": 600}})
    request_id, cursor, gate = accepted["request_id"], "0", None
    try:
        while gate is None:
            page = api.get_progress(request_id, cursor, wait_s=5)
            cursor = page["cursor"]
            gate = next((e for e in page["events"] if e["type"] == "gate_open"), None)
        quiet = api.get_progress(request_id, cursor, wait_s=1, execution=accepted["execution"])
        assert quiet["events"] == [] and quiet["status"] not in ("completed", "failed")
        assert quiet["execution_state"] == "ACTIVE"

        answered: dict = {}
        waiting = threading.Thread(target=lambda: answered.update(api.get_progress(request_id, cursor, wait_s=20)))
        started = time.monotonic()
        waiting.start()
        time.sleep(0.5)
        api.answer_gate(gate, {"decision": "skip", "token": gate["token"], "decided_by": "test"})
        waiting.join(30)
        assert time.monotonic() - started < 15  # it returned with the event, not at the end of the wait
        assert "gate_decided" in [event["type"] for event in answered["events"]]
    finally:
        api.cancel_generation(request_id, accepted["execution"])


@pytest.mark.parametrize("function", ["get_progress", "cancel_generation"])
def test_the_caller_must_prove_who_they_are_and_own_the_request(stack, owner, finished, function):
    body = {"request_id": finished["request_id"], "execution": finished["execution"]}
    anonymous = post(stack, function, body)
    assert anonymous.status_code == 401 and anonymous.json()["field"] == "Authorization"
    forged = issue_local_token(owner, "not-the-local-key")
    assert post(stack, function, body, token=forged).status_code == 401
    garbage = post(stack, function, body, token="mfid1.e30.x" + "A" * 5000)
    assert garbage.status_code == 401 and "4096" in garbage.json()["error"]
    stranger = post(stack, function, body, user="someone-else")
    assert stranger.status_code == 403 and "someone else" in stranger.json()["error"]
    unknown = post(stack, function, {**body, "request_id": "r-00000000000000ff"}, owner)
    assert unknown.status_code == 404 and unknown.json()["field"] == "request_id"


def test_an_execution_of_another_request_is_refused(stack, owner, finished):
    api = local_client(owner)
    other = api.start_generation({"text": STORY, "pages": 1, "hitl": {"mode": "review", "timeout_seconds": 600}})
    try:
        for function in ("get_progress", "cancel_generation"):
            wrong = post(stack, function, {"request_id": finished["request_id"], "execution": other["execution"]}, owner)
            assert wrong.status_code == 403 and wrong.json()["field"] == "execution"
        assert api.get_status(other["request_id"])["status"] != "cancelled"
    finally:
        api.cancel_generation(other["request_id"], other["execution"])


@pytest.mark.parametrize(("body", "field"), [
    ({"request_id": "r-1", "after": "0"}, "request_id"),
    ({"after": "0"}, "request_id"),
    ({"request_id": "OWN", "after": "$; FLUSHALL"}, "after"),
    ({"request_id": "OWN", "wait_s": 21}, "wait_s"),
    ({"request_id": "OWN", "wait_s": -1}, "wait_s"),
    ({"request_id": "OWN", "execution": "../../v1/projects/x:cancel"}, "execution"),
    ({"request_id": "OWN", "extra": 1}, "extra"),
])
def test_hostile_progress_bodies_name_the_field(stack, owner, finished, body, field):
    if body.get("request_id") == "OWN":
        body = {**body, "request_id": finished["request_id"]}
    answer = post(stack, "get_progress", body, owner)
    assert answer.status_code in (400, 422)
    assert field in answer.json()["error"] or answer.json().get("field") == field


def test_artifacts_are_served_to_their_owner_only(stack, owner, finished):
    state = finished["state"]
    page = artifact(stack, state["request_id"], state["final_pages"][0]["uri"], owner)
    assert page.status_code == 200 and page.headers["Content-Type"] == "image/png"
    assert page.content[:8] == b"\x89PNG\r\n\x1a\n" and page.headers["X-Content-Type-Options"] == "nosniff"
    manifest = artifact(stack, state["request_id"], state["exports"]["manifest"], owner)
    assert manifest.headers["Content-Type"] == "application/json"
    assert json.loads(manifest.content)["request"]["request_id"] == state["request_id"]
    cbz = artifact(stack, state["request_id"], state["exports"]["cbz"], owner)
    assert cbz.content[:2] == b"PK" and cbz.headers["Content-Disposition"].startswith("attachment")

    assert artifact(stack, state["request_id"], state["final_pages"][0]["uri"], None).status_code == 401
    assert artifact(stack, state["request_id"], state["final_pages"][0]["uri"], "someone-else").status_code == 403


def test_objects_outside_the_requests_own_prefix_are_not_found(stack, owner, finished):
    state = finished["state"]
    page = state["final_pages"][0]["uri"]
    bucket = page[5:].split("/", 1)[0]
    other_user_run = local_client("local-user").start_generation({"text": STORY, "pages": 1, "hitl": {"mode": "auto"}})
    for uri in (
        page.replace(state["request_id"], other_user_run["request_id"]),  # someone else's request
        f"gs://{bucket}/requests/{state['request_id']}/../{other_user_run['request_id']}/input.json",
        f"gs://{bucket}/requests/{state['request_id']}/no-such-page.png",
        f"gs://other-project-bucket/requests/{state['request_id']}/attempt-1/manga.pdf",
        f"gs://{bucket}/requests/{state['request_id']}",
    ):
        answer = artifact(stack, state["request_id"], uri, owner)
        assert answer.status_code == 404, uri
        assert answer.json()["field"] == "uri"
    bad = artifact(stack, state["request_id"], "https://example.com/x.png", owner)
    assert bad.status_code in (400, 422) and "uri" in bad.json()["error"]


def test_signed_urls_redirect_when_asked_for(stack, owner, finished, tmp_path, monkeypatch):
    """MANGAFLOW_SIGNED_URLS=1 (the cloud): a V4 signed URL valid 15 minutes instead of the bytes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from functions_framework import create_app

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = tmp_path / "service-account.json"
    account.write_text(json.dumps({
        "type": "service_account", "project_id": supervisor.project(), "private_key_id": "k1",
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "client_email": "mangaflow-functions@example.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(account))
    monkeypatch.setenv("MANGAFLOW_SIGNED_URLS", "1")
    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", supervisor.signing_key())
    client = create_app("get_artifact", str(REPO / "functions" / "main.py")).test_client()
    uri = finished["state"]["final_pages"][0]["uri"]
    answer = client.get("/", query_string={"request_id": finished["request_id"], "uri": uri},
                        headers={"Authorization": f"Bearer {issue_local_token(owner, supervisor.signing_key())}"})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert location.path.endswith(uri[5:])
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"] and query["X-Goog-Expires"] == ["900"]
    assert query["X-Goog-Credential"][0].startswith("mangaflow-functions@example.iam.gserviceaccount.com/")
    assert len(query["X-Goog-Signature"][0]) == 512  # hex of a 2048-bit RSA signature


def test_the_cli_client_names_what_is_unavailable(stack):
    dead = ApiClient("http://127.0.0.1:9", "token", "nobody")
    with pytest.raises(Exception, match="get_status cannot be reached"):
        dead.get_status("r-0000000000000000")
