"""The function gateway: each entry point at `/<name>`, exactly as functions-framework serves it."""
from __future__ import annotations

from werkzeug.test import Client

from localcloud.gateway import build_app, targets


def test_every_exported_entry_point_is_mounted_at_its_name_without_redirects():
    client = Client(build_app(["start_generation", "get_status"]))
    response = client.post("/start_generation", json={"text": ""})
    assert response.status_code == 400  # the function itself answered: no 308 to a trailing slash
    assert response.json["field"] == "text"
    assert client.post("/get_status/", json={}).status_code == 400


def test_unknown_paths_get_a_json_404():
    client = Client(build_app(["get_status"]))
    response = client.post("/nope", json={})
    assert response.status_code == 404 and "no function" in response.json["error"]


def test_health():
    assert Client(build_app(["get_status"])).get("/_health").json == {"healthy": True}


def test_targets_are_main_py_exports():
    names = targets()
    assert {"start_generation", "phase1_concept", "phase7_finalize", "record_decision", "review_gate"} <= set(names)
