"""The engine through Google's own client library: workflows_v1 (REST) deploys, executions_v1 (gRPC) runs.

Every conformance example also runs this way (deploy, execute, compare), so the engine's conformance holds
through the official client exactly as a product would call it.
"""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from google.api_core import exceptions
from google.cloud.workflows import executions_v1

from localcloud.workflows.client import EngineClient
from localcloud.workflows.server import WorkflowsServer

HERE = Path(__file__).parent / "conformance"
CASES = sorted(p.name[: -len(".workflows.yaml")] for p in HERE.glob("*.workflows.yaml"))
View = executions_v1.ExecutionView


class ThreadServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = WorkflowsServer("127.0.0.1", 0, grpc_port=0)
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
def client() -> Iterator[EngineClient]:
    with ThreadServer() as srv:
        yield EngineClient.local(f"127.0.0.1:{srv.server.port}", f"127.0.0.1:{srv.server.grpc_port}",
                                 "proj", "us-central1")


ECHO = "main:\n  params: [args]\n  steps:\n    - r:\n        return: ${args}\n"
SLEEPER = "main:\n  steps:\n    - nap:\n        call: sys.sleep\n        args:\n          seconds: 30\n"


def test_deploy_update_get_list_delete_through_workflows_v1(client: EngineClient) -> None:
    first = client.deploy_workflow("lib_echo", ECHO, {"STYLE": "shojo"})
    assert first.name == "projects/proj/locations/us-central1/workflows/lib_echo"
    assert first.revision_id.startswith("000001-") and dict(first.user_env_vars) == {"STYLE": "shojo"}
    second = client.deploy_workflow("lib_echo", ECHO.replace("${args}", "${args.n}"), {"STYLE": "seinen"})
    assert second.revision_id.startswith("000002-")
    got = client.workflows.get_workflow(name=first.name)
    assert "${args.n}" in got.source_contents and got.user_env_vars["STYLE"] == "seinen"
    names = [w.name for w in client.workflows.list_workflows(parent="projects/proj/locations/us-central1")]
    assert first.name in names
    client.workflows.delete_workflow(name=first.name).result(timeout=10)
    with pytest.raises(exceptions.NotFound):
        client.workflows.get_workflow(name=first.name)


def test_deploy_error_names_the_step(client: EngineClient) -> None:
    with pytest.raises(exceptions.BadRequest) as info:
        client.deploy_workflow("lib_bad", "- s:\n    asign: []\n")
    assert "step 's'" in info.value.message and "line 1" in info.value.message


def test_execution_round_trip_over_grpc(client: EngineClient) -> None:
    client.deploy_workflow("lib_round", ECHO)
    ex = client.create_execution("lib_round", {"story": "momotaro", "pages": [1, 2]})
    assert ex.name.startswith("projects/proj/locations/us-central1/workflows/lib_round/executions/")
    assert json.loads(ex.argument) == {"story": "momotaro", "pages": [1, 2]}
    done = client.wait_for(ex)
    assert done.state == executions_v1.Execution.State.SUCCEEDED
    assert json.loads(done.result) == {"story": "momotaro", "pages": [1, 2]}
    assert done.end_time >= done.start_time and done.duration.total_seconds() >= 0
    assert done.workflow_revision_id.startswith("000001-")
    assert [(s.routine, s.step) for s in done.status.current_steps] == [("main", "r")]


def test_failed_execution_error_and_stack_trace(client: EngineClient) -> None:
    client.deploy_workflow("lib_fail", "main:\n  steps:\n    - boom:\n        raise: {code: 7}\n")
    done = client.wait_for(client.create_execution("lib_fail"))
    assert done.state.name == "FAILED"
    assert json.loads(done.error.payload) == {"code": 7}
    assert done.error.context.startswith("RuntimeError: ")
    element = done.error.stack_trace.elements[0]
    assert (element.step, element.routine, element.position.line) == ("boom", "main", 3)


def test_labels_call_log_level_and_views(client: EngineClient) -> None:
    client.deploy_workflow("lib_views", ECHO)
    execution = executions_v1.Execution(argument='{"a": 1}', labels={"team": "manga"},
                                        call_log_level=executions_v1.Execution.CallLogLevel.LOG_ERRORS_ONLY)
    made = client.executions.create_execution(parent=client.workflow_name("lib_views"), execution=execution)
    assert dict(made.labels) == {"team": "manga"} and made.call_log_level.name == "LOG_ERRORS_ONLY"
    client.wait_for(made)
    basic = client.executions.get_execution(request={"name": made.name, "view": View.BASIC})
    assert basic.state.name == "SUCCEEDED" and basic.result == "" and basic.argument == ""
    full = client.executions.get_execution(name=made.name)
    assert json.loads(full.result) == {"a": 1}


def test_list_pages_newest_first(client: EngineClient) -> None:
    client.deploy_workflow("lib_list", ECHO)
    made = [client.wait_for(client.create_execution("lib_list", {"n": n})).name for n in range(5)]
    pager = client.executions.list_executions(request={"parent": client.workflow_name("lib_list"), "page_size": 2})
    assert [e.name for e in pager] == list(reversed(made))  # the pager follows next_page_token
    first_page = client.executions.list_executions(
        request={"parent": client.workflow_name("lib_list"), "page_size": 2, "view": View.FULL})
    page = next(iter(first_page.pages))
    assert len(page.executions) == 2 and page.next_page_token and page.executions[0].result


def test_cancel_over_grpc(client: EngineClient) -> None:
    client.deploy_workflow("lib_sleep", SLEEPER)
    ex = client.create_execution("lib_sleep")
    cancelled = client.cancel_execution(ex)
    assert cancelled.state.name == "CANCELLED"
    with pytest.raises(exceptions.FailedPrecondition):
        client.cancel_execution(ex)


@pytest.mark.parametrize(("call", "error"), [
    (lambda c: c.create_execution("nobody"), exceptions.NotFound),
    (lambda c: c.executions.create_execution(parent="workflows/x", execution=executions_v1.Execution()),
     exceptions.InvalidArgument),
    (lambda c: c.executions.create_execution(parent=c.workflow_name("lib_bad_arg"),
                                             execution=executions_v1.Execution(argument="{nope")),
     exceptions.InvalidArgument),
    (lambda c: c.executions.create_execution(parent=c.workflow_name("lib_bad_arg"),
                                             execution=executions_v1.Execution(argument=json.dumps("x" * 40000))),
     exceptions.InvalidArgument),
    (lambda c: c.get_execution(c.workflow_name("lib_bad_arg") + "/executions/nope"), exceptions.NotFound),
    (lambda c: c.get_execution("executions/nope"), exceptions.InvalidArgument),
    (lambda c: list(c.executions.list_executions(request={"parent": c.workflow_name("lib_bad_arg"),
                                                          "page_token": "abc"})), exceptions.InvalidArgument),
    (lambda c: list(c.executions.list_executions(request={"parent": c.workflow_name("lib_bad_arg"),
                                                          "filter": 'state="ACTIVE"'})), exceptions.InvalidArgument),
    (lambda c: list(c.executions.list_executions(request={"parent": c.workflow_name("lib_bad_arg"),
                                                          "page_size": 101, "view": View.FULL})),
     exceptions.InvalidArgument),
])
def test_bad_requests_get_clear_grpc_errors(client: EngineClient, call: Any, error: type) -> None:
    client.deploy_workflow("lib_bad_arg", ECHO)
    with pytest.raises(error) as info:
        call(client)
    assert info.value.message and "Traceback" not in info.value.message


@pytest.mark.parametrize("name", CASES)
def test_conformance_through_the_client_library(client: EngineClient, name: str) -> None:
    source = (HERE / f"{name}.workflows.yaml").read_text(encoding="utf-8")
    expected = json.loads((HERE / f"{name}.expected.json").read_text(encoding="utf-8"))
    workflow_id = name
    if "deploy_error" in expected:
        with pytest.raises(exceptions.BadRequest) as info:
            client.deploy_workflow(workflow_id, source, expected.get("env"))
        assert expected["deploy_error"] in info.value.message
        return
    client.deploy_workflow(workflow_id, source, expected.get("env"))
    done = client.wait_for(client.create_execution(workflow_id, expected.get("args")), timeout=60)
    if "error" in expected:
        assert done.state.name == "FAILED", done.result
        want = expected["error"]
        if "payload" in want:
            assert done.error.payload == want["payload"]
        value = json.loads(done.error.payload)
        for tag in want.get("tags", []):
            assert tag in value["tags"]
        if "context_head" in want:
            assert done.error.context.split("\n")[0] == want["context_head"]
        return
    assert done.state.name == "SUCCEEDED", done.error.context
    assert json.loads(done.result) == expected["result"]
    if "result_json" in expected:
        assert done.result == expected["result_json"]
