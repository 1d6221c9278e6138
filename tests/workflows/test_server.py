"""The REST API on the wire (what the CLI and callbacks use): an in-process server on its own event-loop thread,
plus a few tests against `python -m localcloud.workflows serve` as a subprocess through the official client
library. The gRPC Executions API and the client library's deploy path are in test_client_library.py."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from localcloud.workflows.server import WorkflowsServer

ROOT = Path(__file__).resolve().parents[2]

ECHO = """
main:
  params: [args]
  steps:
    - r:
        return: ${args}
"""

ENV = """
main:
  steps:
    - r:
        return:
          style: ${sys.get_env("STYLE")}
          workflow: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")}
          execution: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}
          project: ${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
          location: ${sys.get_env("GOOGLE_CLOUD_LOCATION")}
          revision: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_REVISION_ID")}
"""

CALLBACK = """
main:
  params: [args]
  steps:
    - create:
        call: events.create_callback_endpoint
        args:
          http_callback_method: ${args.method}
        result: cb
    - wait:
        call: events.await_callback
        args:
          callback: ${cb}
          timeout: ${args.timeout}
        result: req
    - done:
        return: ${req}
"""

FAILING = """
main:
  steps:
    - ok:
        assign:
          - m: {}
    - boom:
        return: ${m.nope}
"""

SLEEPER = """
main:
  steps:
    - nap:
        call: sys.sleep
        args:
          seconds: 30
"""


class WorkflowsApiError(Exception):
    """A non-2xx REST answer, with Google's error fields."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(f"{code} {status}: {message}")
        self.code, self.status, self.message = code, status, message


class WorkflowsClient:
    """Raw REST calls to the engine: these tests are about the REST wire format itself."""

    def __init__(self, project: str, location: str, endpoint: str):
        self.project, self.location, self.endpoint = project, location, endpoint

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        status, answer = raw(method, f"{self.endpoint}/v1/{path.lstrip('/')}", data,
                             {"Content-Type": "application/json"})
        if status >= 300:
            err = answer["error"]
            raise WorkflowsApiError(err["code"], err["status"], err["message"])
        return answer

    def deploy_workflow(self, workflow_id: str, source: str, env_vars: dict[str, str] | None = None) -> dict:
        body = {"sourceContents": source, "userEnvVars": env_vars or {}}
        parent = f"projects/{self.project}/locations/{self.location}/workflows"
        try:
            return self.request("POST", f"{parent}?workflowId={workflow_id}", body)
        except WorkflowsApiError as exc:
            if exc.code != 409:
                raise
            return self.request("PATCH", f"{parent}/{workflow_id}", body)

    def create_execution(self, workflow: str, argument: Any = None) -> dict[str, Any]:
        body = {"argument": json.dumps(argument)} if argument is not None else {}
        return self.request("POST", f"projects/{self.project}/locations/{self.location}/workflows/{workflow}/executions",
                            body)

    def cancel_execution(self, execution: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"{execution['name']}:cancel", {})

    def list_callbacks(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        return self.request("GET", f"{execution['name']}/callbacks").get("callbacks", [])

    def wait_for(self, execution: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            current = self.request("GET", execution["name"])
            if current["state"] != "ACTIVE":
                return current
            assert time.monotonic() < deadline, f"{execution['name']} still ACTIVE"
            time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_port_pair() -> int:
    """A port P with P + 1 free as well (another process may hold the port after a free one)."""
    for _ in range(50):
        port = _free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two adjacent free ports on 127.0.0.1")


class ThreadServer:
    """WorkflowsServer running on an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = WorkflowsServer("127.0.0.1", 0)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    with ThreadServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ThreadServer) -> WorkflowsClient:
    c = WorkflowsClient(project="proj", location="us-central1", endpoint=server.server.base_url)
    for name, source in (("echo", ECHO), ("callback", CALLBACK), ("failing", FAILING), ("sleeper", SLEEPER)):
        c.deploy_workflow(name, source)
    c.deploy_workflow("env", ENV, {"STYLE": "seinen"})
    return c


def raw(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_create_workflow_answers_a_done_operation(client: WorkflowsClient) -> None:
    op = client.request("POST", "projects/proj/locations/us-central1/workflows?workflowId=fresh",
                        {"sourceContents": ECHO})
    assert op["done"] is True
    assert op["name"].startswith("projects/proj/locations/us-central1/operations/")
    assert op["metadata"]["verb"] == "create"
    wf = op["response"]
    assert wf["name"] == "projects/proj/locations/us-central1/workflows/fresh"
    assert wf["state"] == "ACTIVE"
    assert wf["revisionId"].startswith("000001-")
    got = client.request("GET", "projects/proj/locations/us-central1/workflows/fresh")
    assert got["sourceContents"] == ECHO
    listed = client.request("GET", "projects/proj/locations/us-central1/workflows")["workflows"]
    assert "projects/proj/locations/us-central1/workflows/fresh" in [w["name"] for w in listed]
    with pytest.raises(WorkflowsApiError) as info:
        client.request("POST", "projects/proj/locations/us-central1/workflows?workflowId=fresh",
                       {"sourceContents": ECHO})
    assert info.value.code == 409 and info.value.status == "ALREADY_EXISTS"


def test_patch_makes_new_revision_and_delete(client: WorkflowsClient) -> None:
    client.deploy_workflow("patched", ECHO)
    op = client.request("PATCH", "projects/proj/locations/us-central1/workflows/patched",
                        {"sourceContents": "- r:\n    return: 2\n"})
    assert op["response"]["revisionId"].startswith("000002-")
    ex = client.wait_for(client.create_execution("patched"))
    assert ex["result"] == "2"
    assert ex["workflowRevisionId"] == op["response"]["revisionId"]
    client.request("DELETE", "projects/proj/locations/us-central1/workflows/patched")
    with pytest.raises(WorkflowsApiError) as info:
        client.request("GET", "projects/proj/locations/us-central1/workflows/patched")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


def test_invalid_source_is_invalid_argument_naming_the_step(client: WorkflowsClient) -> None:
    with pytest.raises(WorkflowsApiError) as info:
        client.request("POST", "projects/proj/locations/us-central1/workflows?workflowId=bad",
                       {"sourceContents": "- s:\n    asign: []\n"})
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    assert "step 's'" in info.value.message and "line 1" in info.value.message


def test_execution_round_trip(client: WorkflowsClient) -> None:
    ex = client.create_execution("echo", {"story": "momotaro", "pages": [1, 2]})
    assert ex["name"].startswith("projects/proj/locations/us-central1/workflows/echo/executions/")
    assert ex["argument"] == json.dumps({"story": "momotaro", "pages": [1, 2]})
    done = client.wait_for(ex)
    assert done["state"] == "SUCCEEDED"
    assert json.loads(done["result"]) == {"story": "momotaro", "pages": [1, 2]}
    assert done["startTime"].endswith("Z") and done["endTime"].endswith("Z")
    listed = client.request("GET", "projects/proj/locations/us-central1/workflows/echo/executions")["executions"]
    assert ex["name"] in [e["name"] for e in listed]


def test_failed_execution_has_payload_and_context(client: WorkflowsClient) -> None:
    done = client.wait_for(client.create_execution("failing"))
    assert done["state"] == "FAILED"
    payload = json.loads(done["error"]["payload"])
    assert payload["tags"] == ["KeyError", "LookupError"]
    assert 'in step "boom", routine "main", line: 7' in done["error"]["context"]
    assert done["error"]["stackTrace"]["elements"][0]["step"] == "boom"


def test_execution_resource_fields_follow_the_rest_reference(client: WorkflowsClient) -> None:
    # Execution resource: callLogLevel and labels echo the request, createTime is set, status.currentSteps
    # names "the last attempted or executed step" once finished, and error.payload is a JSON string.
    ex = client.request("POST", "projects/proj/locations/us-central1/workflows/failing/executions",
                        {"callLogLevel": "LOG_ERRORS_ONLY", "labels": {"team": "manga"}})
    assert ex["callLogLevel"] == "LOG_ERRORS_ONLY" and ex["labels"] == {"team": "manga"}
    assert ex["createTime"].endswith("Z")
    done = client.wait_for(ex)
    assert done["state"] == "FAILED"
    assert done["status"]["currentSteps"] == [{"routine": "main", "step": "boom"}]
    assert done["error"]["context"].startswith("KeyError: ")
    ok = client.wait_for(client.create_execution("echo", {"n": 1}))
    assert ok["callLogLevel"] == "CALL_LOG_LEVEL_UNSPECIFIED"
    assert ok["status"]["currentSteps"] and ok["status"]["currentSteps"][0]["routine"] == "main"
    with pytest.raises(WorkflowsApiError) as info:
        client.request("POST", "projects/proj/locations/us-central1/workflows/echo/executions",
                       {"callLogLevel": "LOUD"})
    assert info.value.code == 400 and "callLogLevel" in info.value.message


def test_env_vars_user_and_builtin(client: WorkflowsClient) -> None:
    done = client.wait_for(client.create_execution("env"))
    result = json.loads(done["result"])
    assert result["style"] == "seinen"
    assert result["workflow"] == "env"
    assert result["project"] == "proj" and result["location"] == "us-central1"
    assert done["name"].endswith("/" + result["execution"])
    assert result["revision"] == done["workflowRevisionId"]


def test_bad_argument_and_unknown_workflow(client: WorkflowsClient) -> None:
    base = f"{client.endpoint}/v1/projects/proj/locations/us-central1/workflows"
    status, body = raw("POST", f"{base}/echo/executions", json.dumps({"argument": "{nope"}).encode(),
                       {"Content-Type": "application/json"})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    status, body = raw("POST", f"{base}/echo/executions",
                       json.dumps({"argument": json.dumps("x" * 40000)}).encode(), {"Content-Type": "application/json"})
    assert status == 400 and "limit" in body["error"]["message"]
    status, body = raw("POST", f"{base}/nobody/executions", b"{}", {"Content-Type": "application/json"})
    assert status == 404 and body["error"] == {
        "code": 404, "status": "NOT_FOUND",
        "message": "Resource 'projects/proj/locations/us-central1/workflows/nobody' was not found"}


def test_cancel_execution(client: WorkflowsClient) -> None:
    ex = client.create_execution("sleeper")
    cancelled = client.cancel_execution(ex)
    assert cancelled["state"] == "CANCELLED"
    assert client.wait_for(ex)["state"] == "CANCELLED"
    with pytest.raises(WorkflowsApiError) as info:
        client.cancel_execution(ex)
    assert info.value.status == "FAILED_PRECONDITION"


def _waiting_callback(client: WorkflowsClient, ex: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        callbacks = client.list_callbacks(ex)
        if callbacks and callbacks[0]["waiters"] == "1":
            return callbacks[0]
        time.sleep(0.01)
    raise AssertionError("the execution never started waiting on its callback")


UNREAD = """
main:
  steps:
    - create:
        call: events.create_callback_endpoint
        result: cb
    - hold:
        call: sys.sleep
        args:
          seconds: 30
    - done:
        return: ${cb.url}
"""


def test_answers_to_a_callback_nobody_awaits_are_bounded(client: WorkflowsClient) -> None:
    """A sender cannot grow the engine's memory: 16 unread answers are kept, more are refused (429)."""
    client.deploy_workflow("unread", UNREAD)
    ex = client.create_execution("unread", None)
    deadline = time.monotonic() + 10
    while not client.list_callbacks(ex) and time.monotonic() < deadline:
        time.sleep(0.01)
    [cb] = client.list_callbacks(ex)
    url = f"{client.endpoint}/v1/{cb['name']}"
    statuses = [raw("POST", url, b'{"n": %d}' % n, {"Content-Type": "application/json"})[0] for n in range(20)]
    assert statuses == [200] * 16 + [429] * 4
    assert client.list_callbacks(ex)[0]["availablePayloads"] == "16"


def test_a_callback_body_over_a_megabyte_is_refused_and_the_execution_keeps_waiting(client: WorkflowsClient) -> None:
    ex = client.create_execution("callback", {"method": "POST", "timeout": 30})
    cb = _waiting_callback(client, ex)
    url = f"{client.endpoint}/v1/{cb['name']}"
    status, body = raw("POST", url, b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}', {"Content-Type": "application/json"})
    assert status == 413 and "1048576" in body["error"]["message"]
    status, _ = raw("POST", url, b'{"token": "\\ud800"}', {"Content-Type": "application/json"})
    assert status == 200  # a lone surrogate is carried, never a failure of the execution
    done = client.wait_for(ex)
    assert done["state"] == "SUCCEEDED", done


def test_callback_resumes_execution(client: WorkflowsClient) -> None:
    ex = client.create_execution("callback", {"method": "POST", "timeout": 30})
    cb = _waiting_callback(client, ex)
    assert cb["method"] == "POST" and cb["name"].startswith(ex["name"] + "/callbacks/")
    url = f"{client.endpoint}/v1/{cb['name']}?page=4"
    status, _ = raw("POST", url, json.dumps({"approved": True}).encode(),
                    {"Content-Type": "application/json", "X-Editor": "yuki"})
    assert status == 200
    done = client.wait_for(ex)
    assert done["state"] == "SUCCEEDED"
    req = json.loads(done["result"])
    assert req["type"] == "HTTP"
    assert req["http_request"]["body"] == {"approved": True}
    assert req["http_request"]["method"] == "POST"
    assert req["http_request"]["query"] == {"page": ["4"]}
    assert req["http_request"]["headers"]["X-Editor"] == "yuki"
    assert req["http_request"]["url"].endswith("?page=4")
    assert req["received_time"].endswith("+0000 UTC")
    # Once the execution is over the endpoint is no longer awaited.
    status, body = raw("POST", url, b"{}", {"Content-Type": "application/json"})
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"


def test_callback_method_and_unknown_callback(client: WorkflowsClient) -> None:
    ex = client.create_execution("callback", {"method": "GET", "timeout": 30})
    cb = _waiting_callback(client, ex)
    url = f"{client.endpoint}/v1/{cb['name']}"
    status, body = raw("POST", url, b"{}", {"Content-Type": "application/json"})
    assert status == 400 and "GET" in body["error"]["message"]
    status, body = raw("GET", url[:-4] + "beef")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, _ = raw("GET", url)
    assert status == 200
    assert json.loads(client.wait_for(ex)["result"])["http_request"]["method"] == "GET"


def test_callback_timeout_fails_with_timeout_error(client: WorkflowsClient) -> None:
    done = client.wait_for(client.create_execution("callback", {"method": "POST", "timeout": 0.05}))
    assert done["state"] == "FAILED"
    assert json.loads(done["error"]["payload"])["tags"] == ["TimeoutError"]


def test_fifty_executions_wait_on_callbacks_and_all_resume(client: WorkflowsClient) -> None:
    executions = [client.create_execution("callback", {"method": "POST", "timeout": 60}) for _ in range(50)]
    for i, ex in enumerate(executions):
        cb = _waiting_callback(client, ex)
        status, _ = raw("POST", f"{client.endpoint}/v1/{cb['name']}", json.dumps({"n": i}).encode(),
                        {"Content-Type": "application/json"})
        assert status == 200
    for i, ex in enumerate(executions):
        done = client.wait_for(ex)
        assert json.loads(done["result"])["http_request"]["body"] == {"n": i}


# ------------------------------------------------------------------------------------ real subprocess


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    source = tmp_path_factory.mktemp("wf")
    (source / "echo.workflows.yaml").write_text(ECHO)
    (source / "callback.workflows.yaml").write_text(CALLBACK)
    (source / "notes.txt").write_text("not a workflow")
    port = _free_port_pair()  # the engine's gRPC port is the REST port + 1, where the clients look for it
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud.workflows", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--source", str(source)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{base}/v1/projects/p/locations/l/workflows", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_subprocess_serves_source_folder_via_emulator_host(served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud.workflows import client as client_module

    # Only the REST host is given: the official gRPC client finds the engine on its default port (REST + 1).
    monkeypatch.setenv("WORKFLOWS_EMULATOR_HOST", served)
    monkeypatch.delenv("WORKFLOWS_GRPC_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "any-project")
    ex = client_module.create_execution("echo", {"chapter": 1})
    done = client_module.wait_for(ex)
    assert done.state.name == "SUCCEEDED" and json.loads(done.result) == {"chapter": 1}
    listed = client_module.EngineClient.from_env().workflows.list_workflows(parent="projects/x/locations/y")
    assert sorted(w.name.rsplit("/", 1)[-1] for w in listed) == ["callback", "echo"]


def test_subprocess_callback_round_trip(served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud.workflows import client as client_module

    monkeypatch.setenv("WORKFLOWS_EMULATOR_HOST", served)
    monkeypatch.delenv("WORKFLOWS_GRPC_EMULATOR_HOST", raising=False)
    ex = client_module.create_execution("callback", {"method": "PUT", "timeout": 30})
    deadline = time.monotonic() + 10
    while True:
        callbacks = client_module.list_callbacks(ex)
        if callbacks and callbacks[0]["waiters"] == "1":
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    status, _ = raw("PUT", f"http://{served}/v1/{callbacks[0]['name']}", b"plain text",
                    {"Content-Type": "text/plain"})
    assert status == 200
    done = client_module.wait_for(ex)
    assert json.loads(done.result)["http_request"]["body"] == "plain text"


def test_run_command_prints_result_and_fails_with_exit_1(tmp_path: Path) -> None:
    good = tmp_path / "double.workflows.yaml"
    good.write_text("main:\n  params: [args]\n  steps:\n    - r:\n        return: ${args.n * 2 + "
                    "int(sys.get_env(\"BONUS\"))}\n")
    out = subprocess.run([sys.executable, "-m", "localcloud.workflows", "run", str(good), "--data", '{"n": 20}',
                          "--env", "BONUS=2"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == 42
    bad = tmp_path / "bad.workflows.yaml"
    bad.write_text("- r:\n    raise: {\"code\": 3}\n")
    out = subprocess.run([sys.executable, "-m", "localcloud.workflows", "run", str(bad)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert '\\"code\\":3' in out.stderr or '"code": 3' in out.stderr
    assert "Traceback" not in out.stderr
    broken = tmp_path / "broken.workflows.yaml"
    broken.write_text("- r:\n    retrun: 1\n")
    out = subprocess.run([sys.executable, "-m", "localcloud.workflows", "run", str(broken)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env={**os.environ})
    assert out.returncode == 1 and "unknown step key" in out.stderr and "Traceback" not in out.stderr
