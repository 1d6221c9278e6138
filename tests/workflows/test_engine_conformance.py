"""Runs every conformance example: tests/workflows/conformance/NAME.workflows.yaml against NAME.expected.json.

Expected files hold {"args", "result"} for a success, {"args", "error": {"tags", "message", "value"}} for a
runtime failure, or {"deploy_error": "substring"} for a definition the service would refuse; "env" is optional.
A success may also pin "result_json", the exact JSON text the REST `result` field carries (ints vs doubles, key
order); a failure may pin "payload" (the exact REST `error.payload` string) and "context_head" (the first line of
`error.context`).
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from localcloud.workflows.engine import Execution, deploy, error_context, error_payload
from localcloud.workflows.errors import DeploymentError, WorkflowError
from localcloud.workflows.values import to_json_text

HERE = Path(__file__).parent / "conformance"
CASES = sorted(p.name[: -len(".workflows.yaml")] for p in HERE.glob("*.workflows.yaml"))


def test_there_are_enough_examples() -> None:
    assert len(CASES) >= 40
    for name in CASES:
        assert (HERE / f"{name}.expected.json").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_conformance(name: str) -> None:
    source = (HERE / f"{name}.workflows.yaml").read_text(encoding="utf-8")
    expected = json.loads((HERE / f"{name}.expected.json").read_text(encoding="utf-8"))
    if "deploy_error" in expected:
        with pytest.raises(DeploymentError) as info:
            deploy(source)
        assert expected["deploy_error"] in str(info.value)
        return
    program = deploy(source)
    execution = Execution(program, env=expected.get("env"), workflow_name=name)
    if "error" in expected:
        with pytest.raises(WorkflowError) as info:
            asyncio.run(execution.run(expected.get("args")))
        want = expected["error"]
        value = info.value.value
        if "value" in want:
            assert value == want["value"]
        for tag in want.get("tags", []):
            assert tag in value["tags"], value
        if "message" in want:
            assert want["message"] in value["message"], value
        if "payload" in want:
            assert error_payload(value) == want["payload"]
        if "context_head" in want:
            assert error_context(info.value).split("\n")[0] == want["context_head"]
        return
    result = asyncio.run(execution.run(expected.get("args")))
    assert result == expected["result"]
    if "result_json" in expected:
        assert to_json_text(result) == expected["result_json"]
