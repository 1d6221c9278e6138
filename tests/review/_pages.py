"""What the browser tests of the review app share: starting a request, reading its gates as its owner
(links, tokens, callback URLs), waiting on the page for a gate, and screenshots once images loaded."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from mangaflow.stores.objects import object_store


def start(stack, owner, text: str, pages: int = 2, timeout_s: int = 900, **extra: Any) -> str:
    response = requests.post(f"{stack['gateway']}/start_generation", headers=owner, timeout=60, json={
        "text": text, "pages": pages, "hitl": {"mode": "review", "timeout_seconds": timeout_s}, **extra})
    assert response.status_code == 202, response.text
    return response.json()["request_id"]


def gate_opened(stack, owner, request_id: str, phase: int | None = None, after: str = "0",
                timeout_s: float = 180) -> dict:
    """The owner's `gate_open` event (with its token, callback URL and link) of `phase` (any: the first)."""
    cursor, deadline = after, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = requests.post(f"{stack['gateway']}/get_progress", headers=owner, timeout=60,
                             json={"request_id": request_id, "after": cursor, "wait_s": 5}).json()
        for event in page["events"]:
            if event.get("type") == "gate_open" and (phase is None or event["phase"] == phase):
                return {**event, "cursor": page["cursor"]}
        cursor = page["cursor"]
    raise AssertionError(f"no gate opened for phase {phase} in {timeout_s} s")


def first_link(stack, owner, request_id: str) -> str:
    return gate_opened(stack, owner, request_id)["approval_url"]


def answer(stack, gate: dict, decision: str = "approve", **more: Any) -> None:
    """Answer a gate as an API client does (through review_gate, with the gate's token)."""
    response = requests.post(f"{stack['gateway']}/review_gate", timeout=60, json={
        "request_id": gate["request_id"], "phase": gate["phase"], "gate_id": gate["gate_id"],
        "token": gate["token"], "decision": decision, **more})
    assert response.status_code == 200, response.text


def at_gate(browser, phase: int, timeout_ms: int = 120000) -> None:
    browser.wait_for(f'#steps li.waiting[data-phase="{phase}"]', timeout_ms)


def shot(browser, path: Path) -> None:
    """A full-page screenshot once every image on the page has loaded (lazy ones too)."""
    loaded = browser.do("images_loaded")["value"]
    assert all(image["ok"] for image in loaded), loaded
    browser.screenshot(path)


def status(stack, owner, request_id: str) -> dict:
    return requests.post(f"{stack['gateway']}/get_status", headers=owner, timeout=60,
                         json={"request_id": request_id}).json()


def finished(stack, owner, request_id: str, timeout_s: float = 120) -> dict:
    """The request's status once it completed. The PDF button is already on the phase 7 gate's page, so
    seeing it does not mean the run has finished."""
    deadline, state = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        state = status(stack, owner, request_id)
        if state.get("status") == "completed":
            return state
        time.sleep(0.5)
    raise AssertionError(f"{request_id} did not finish in {timeout_s} s: {state.get('status')}")


def output(state: dict, phase: int, attempt: int) -> dict:
    record = next(p for p in state["phases"] if p["phase"] == phase)
    run = next(a for a in record["attempts"] if a["attempt"] == attempt and a.get("panel_id") is None)
    return json.loads(object_store().get_bytes(run["output_uri"]))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
