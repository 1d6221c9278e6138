"""Bad input at the front door: a JSON error naming the field and the limit, never a trace.

These run through functions-framework's own `create_app(...).test_client()`; validation happens
before anything is stored, so they need no servers.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from functions_framework import create_app

SOURCE = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")


KEY = "test-signing-key"


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", KEY)


@pytest.fixture(scope="module")
def client():
    return create_app("start_generation", SOURCE).test_client()


def post(client, body) -> tuple[int, dict]:
    from mangaflow.auth import issue_local_token

    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = client.post("/", data=data, content_type="application/json",
                           headers={"Authorization": f"Bearer {issue_local_token('tester', KEY)}"})
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"text": ""}, 400, "text", ["empty"]),
        ({"text": "   \n\t  "}, 400, "text", ["empty"]),
        ({"text": "a" * 50_001}, 413, "text", ["50001", "50000"]),
        ({"text": "A story.", "pages": 0}, 422, "pages", ["1", "32"]),
        ({"text": "A story.", "pages": 33}, 422, "pages", ["1", "32"]),
        ({"text": "A story.", "pages": "eight"}, 422, "pages", ["integer"]),
        ({"text": "A story.", "style": "noir"}, 422, "style", ["shonen"]),
        ({"text": "A story.", "language": "fr"}, 422, "language", ["ja", "en"]),
        ({"text": "A story.\x01 with control bytes"}, 422, "text", ["control"]),
        ({"text": "A story.\x00 with a NUL"}, 400, "text", ["NUL"]),
        ({"text": "A story with a lone \ud800 surrogate"}, 400, "text", ["surrogate"]),
        ({"pages": 8}, 400, "text", ["required"]),
        ({"text": "A story.", "surprise": 1}, 422, "surprise", ["known"]),
    ],
)
def test_bad_request_names_field_and_limit(client, body, status, field, words):
    code, payload = post(client, body)
    assert code == status, payload
    assert payload["field"] == field
    for word in words:
        assert word in payload["error"], payload["error"]


def test_body_that_is_not_json_is_a_400(client):
    code, payload = post(client, b"\xff\xfe not json")
    assert code == 400
    assert payload["field"] == "(body)"


def test_body_that_is_a_list_is_a_400(client):
    code, payload = post(client, [1, 2])
    assert code == 400
    assert "JSON object" in payload["error"]


def test_get_is_refused_with_405(client):
    response = client.get("/")
    assert response.status_code == 405
    assert "POST" in response.get_json()["error"]


def test_phase_function_validates_its_body():
    phase = create_app("phase1_concept", SOURCE).test_client()
    response = phase.post("/", json={"request_id": "not-an-id", "attempt": 0})
    assert response.status_code == 422
    body = response.get_json()
    assert body["field"] in ("attempt", "request_id")
