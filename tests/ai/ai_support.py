"""Helpers of the AI-art tests: the local stack's Vertex AI stand-in (all real HTTP, injections scoped to one
request by its labels, so tests running side by side never disturb each other), and runs started and
followed as the CLI does, for a user of the test's own (the image cache belongs to one user)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
GARDENER = (EXAMPLES / "the-last-robot-gardener.en.txt").read_text(encoding="utf-8")
LANTERN = (EXAMPLES / "lantern-festival.ja.txt").read_text(encoding="utf-8")


class StandIn:
    """The stack's `vertex` part: its test controls and what it received."""

    def __init__(self, host: str) -> None:
        self.url = f"http://{host}"

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def inject(self, request_id: str, count: int = 1, **what: Any) -> None:
        """E.g. inject(rid, fail=429, count=2, operation="panel-image", item="p01-1")."""
        match = {"mangaflow-request": request_id}
        for key in ("operation", "item", "phase"):
            if key in what:
                match[f"mangaflow-{key}"] = str(what.pop(key))
        status, body = self._call("POST", "/__stub__/inject", {"match": match, "count": count, **what})
        assert status == 200, body

    def received(self, request_id: str) -> list[dict]:
        status, body = self._call("GET", f"/__stub__/requests?label={request_id}")
        assert status == 200
        return body

    def images(self, request_id: str) -> list[dict]:
        return [r for r in self.received(request_id) if "image" in r["model"]]


def approve(gate: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "token": gate["token"], "decided_by": "test"}


class Runs:
    """Runs on a gateway (the stack's, or a private one) for one user of this test's own."""

    def __init__(self, gateway: str, user: str | None = None) -> None:
        from mangaflow_cli.api import ApiClient, auth_headers

        self.gateway = gateway
        self.user = user or f"ai-{uuid.uuid4().hex[:10]}"
        self.headers = auth_headers(self.user)
        self.api = ApiClient(gateway, self.headers["Authorization"].split(" ", 1)[1], self.user)

    def start(self, text: str, pages: int, **options: Any) -> dict[str, Any]:
        body = {"text": text, "pages": pages, "hitl": {"mode": "review", "timeout_seconds": 600}, **options}
        response = requests.post(f"{self.gateway}/start_generation", json=body, headers=self.headers, timeout=60)
        assert response.status_code == 202, response.text
        return response.json()

    def follow(self, accepted: dict[str, Any], answer: Callable[[dict], dict | None] = approve) -> dict[str, Any]:
        from rich.console import Console

        from mangaflow_cli.follow import follow

        return follow(self.api, accepted["request_id"], answer, execution=accepted["execution"],
                      console=Console(stderr=True, quiet=True))

    def state(self, request_id: str) -> dict[str, Any]:
        response = requests.post(f"{self.gateway}/get_status", json={"request_id": request_id}, headers=self.headers,
                                 timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def run(self, text: str, pages: int, answer: Callable[[dict], dict | None] = approve,
            **options: Any) -> dict[str, Any]:
        accepted = self.start(text, pages, **options)
        final = self.follow(accepted, answer)
        assert final["status"] == "completed", final
        return {"accepted": accepted, "state": self.state(accepted["request_id"])}

    def artifact(self, request_id: str, uri: str) -> bytes:
        return self.api.get_artifact(request_id, uri)


def chosen_output(state: dict[str, Any], phase: int, runs: Runs) -> dict[str, Any]:
    """The selected attempt's output of a phase, read through get_artifact as a client would."""
    entry = next(p for p in state["phases"] if p["phase"] == phase)
    chosen = next(a for a in entry["attempts"] if a.get("selected"))
    return json.loads(runs.artifact(state["request_id"], chosen["output_uri"]))


# -- fixtures shared by the AI and the incremental-work tests (each conftest imports them) ------------------

@pytest.fixture(scope="session")
def stand_in(stack) -> StandIn:
    from localcloud import supervisor

    return StandIn(supervisor.env(["vertex"])["VERTEX_AI_EMULATOR_HOST"])


@pytest.fixture(scope="session")
def real_stores(stack):
    from mangaflow import bootstrap

    return bootstrap.build()
