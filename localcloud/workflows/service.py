"""Deployed workflows and their executions, kept in the journal so a restart loses nothing.

On start (`restore`) every workflow comes back, finished executions stay listable with their results, and each
unfinished one is replayed from its journal to where it stopped and goes on; its callbacks (same URLs) are
registered again at once, with the payloads that arrived but were not yet awaited.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Execution, Program, ReplayDivergence, deploy, divergence_error, error_context, error_payload
from .engine import internal_error
from .errors import DeploymentError, WorkflowError
from .journal import Journal
from .runtime import Services
from .values import from_json_text, to_json_text

ACTIVE, SUCCEEDED, FAILED, CANCELLED = "ACTIVE", "SUCCEEDED", "FAILED", "CANCELLED"
ARGUMENT_LIMIT = 32 * 1024
# Execution.CallLogLevel values of the REST reference.
CALL_LOG_LEVELS = ("CALL_LOG_LEVEL_UNSPECIFIED", "LOG_ALL_CALLS", "LOG_ERRORS_ONLY", "LOG_NONE")

log = logging.getLogger("localcloud.workflows")


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    """An API failure: HTTP code, Google status name and a message (REST and gRPC render it)."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


@dataclass
class WorkflowRecord:
    workflow_id: str
    source: str
    program: Program
    env_vars: dict[str, str]
    revision: int
    revision_id: str
    created: float
    updated: float
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def resource(self, project: str, location: str) -> dict[str, Any]:
        return {
            "name": f"projects/{project}/locations/{location}/workflows/{self.workflow_id}",
            "description": self.description,
            "state": "ACTIVE",
            "revisionId": self.revision_id,
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.updated),
            "revisionCreateTime": rfc3339(self.updated),
            "labels": self.labels,
            "sourceContents": self.source,
            "userEnvVars": self.env_vars,
            "callLogLevel": "CALL_LOG_LEVEL_UNSPECIFIED",
        }


@dataclass
class ExecutionRecord:
    execution_id: str
    name: str
    workflow_id: str
    revision_id: str
    argument: str
    execution: Execution | None  # None for an execution that finished before this engine started
    start: float
    state: str = ACTIVE
    end: float | None = None
    result: str | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    call_log_level: str = "CALL_LOG_LEVEL_UNSPECIFIED"
    labels: dict[str, str] | None = None
    error_exc: WorkflowError | None = None
    saved_steps: list[dict[str, str]] | None = None

    def current_steps(self) -> list[dict[str, str]]:
        # REST reference, Execution.status.currentSteps: the currently executing step or, once the execution
        # has succeeded or failed, "the last attempted or executed step"; a failure names the failing step.
        if self.saved_steps is not None:
            return self.saved_steps
        loc = getattr(self.error_exc, "wf_location", None) if self.error_exc is not None else None
        if loc is not None:
            return [{"routine": loc[0], "step": loc[1]}]
        current = self.execution.current_step if self.execution is not None else None
        return [{"routine": current[0], "step": current[1]}] if current else []

    def resource(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "createTime": rfc3339(self.start),
            "startTime": rfc3339(self.start),
            "state": self.state,
            "argument": self.argument,
            "workflowRevisionId": self.revision_id,
            "callLogLevel": self.call_log_level,
            "status": {"currentSteps": self.current_steps()},
        }
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.end is not None:
            out["endTime"] = rfc3339(self.end)
            out["duration"] = f"{self.end - self.start:.6f}s"
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


def parse_argument(text: Any) -> Any:
    """The execution argument: a JSON string of at most 32 KB (ApiError otherwise)."""
    if text in (None, ""):
        return None
    if not isinstance(text, str):
        raise ApiError(400, "INVALID_ARGUMENT", "argument must be a JSON-encoded string")
    size = len(text.encode("utf-8"))
    if size > ARGUMENT_LIMIT:
        raise ApiError(400, "INVALID_ARGUMENT", f"argument is {size} bytes; the limit is {ARGUMENT_LIMIT} bytes")
    try:
        return from_json_text(text)
    except WorkflowError as exc:
        raise ApiError(400, "INVALID_ARGUMENT", f"argument is not valid JSON: {exc}") from None


class WorkflowService:
    """Deployed workflows and their executions; one asyncio task per running execution."""

    def __init__(self, base_url: str | None = None, journal: Journal | None = None):
        self.journal = journal or Journal.memory()
        self.services = Services(base_url, self.journal)
        self.workflows: dict[str, WorkflowRecord] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self._programs: dict[tuple[str, str], Program] = {}
        self.closing = False

    # ------------------------------------------------------------------ workflows
    def deploy(self, workflow_id: str, source: str, env_vars: dict[str, str] | None = None,
               description: str = "", labels: dict[str, str] | None = None) -> WorkflowRecord:
        """Deploy (or redeploy as a new revision); DeploymentError if the source is invalid."""
        program = deploy(source)
        now = time.time()
        old = self.workflows.get(workflow_id)
        revision = old.revision + 1 if old else 1
        record = WorkflowRecord(
            workflow_id=workflow_id, source=source, program=program, env_vars=dict(env_vars or {}),
            revision=revision, revision_id=f"{revision:06d}-{secrets.token_hex(2)}",
            created=old.created if old else now, updated=now, description=description or "",
            labels=dict(labels or {}),
        )
        self.journal.save_revision(workflow_id, record.revision_id, source, record.env_vars, now)
        self.journal.save_workflow(workflow_id, revision, record.revision_id, record.created, now, record.description,
                                   record.labels)
        self.workflows[workflow_id] = record
        self._programs[(workflow_id, record.revision_id)] = program
        return record

    def delete(self, workflow_id: str) -> None:
        self.workflows.pop(workflow_id, None)
        self.journal.delete_workflow(workflow_id)

    def deploy_directory(self, directory: str | Path) -> list[str]:
        """Deploy every NAME.workflows.yaml in a folder under NAME (unchanged sources keep their revision)."""
        names = []
        for path in sorted(Path(directory).glob("*.workflows.yaml")):
            name = path.name[: -len(".workflows.yaml")]
            source = path.read_text(encoding="utf-8")
            current = self.workflows.get(name)
            if current is None or current.source != source:
                try:
                    self.deploy(name, source)
                except DeploymentError as exc:
                    raise DeploymentError(f"{path.name}: {exc}") from None
            names.append(name)
        return names

    # ------------------------------------------------------------------ executions
    def start(self, workflow_id: str, argument: Any = None, project: str = "local", location: str = "local",
              argument_text: str | None = None, call_log_level: str = "CALL_LOG_LEVEL_UNSPECIFIED",
              labels: dict[str, str] | None = None) -> ExecutionRecord:
        wf = self.workflows.get(workflow_id)
        if wf is None:
            raise ApiError(404, "NOT_FOUND", f"Resource 'projects/{project}/locations/{location}/workflows/"
                                             f"{workflow_id}' was not found")
        execution_id = str(uuid.uuid4())
        name = f"projects/{project}/locations/{location}/workflows/{workflow_id}/executions/{execution_id}"
        env = dict(wf.env_vars)
        env.update({
            "GOOGLE_CLOUD_PROJECT_ID": project,
            "GOOGLE_CLOUD_LOCATION": location,
            "GOOGLE_CLOUD_WORKFLOW_ID": workflow_id,
            "GOOGLE_CLOUD_WORKFLOW_REVISION_ID": wf.revision_id,
            "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": execution_id,
        })
        text = argument_text if argument_text is not None else (
            to_json_text(argument) if argument is not None else "")
        started = time.time()
        # Journalled before it runs: from here on a restart finds it and replays it.
        self.journal.start(execution_id, name, workflow_id, wf.revision_id, text, env, started, call_log_level, labels)
        ex = self._execution(wf.program, env, execution_id, workflow_id, name)
        record = ExecutionRecord(execution_id, name, workflow_id, wf.revision_id, text, ex, started,
                                 call_log_level=call_log_level, labels=labels)
        self.executions[execution_id] = record
        record.task = asyncio.get_running_loop().create_task(self._run(record, argument))
        return record

    def _execution(self, program: Program, env: dict[str, str], execution_id: str, workflow_id: str,
                   name: str) -> Execution:
        ex = Execution(program, env=env, execution_id=execution_id, services=self.services,
                       workflow_name=workflow_id, journal=self.journal)
        ex.resource_name = name  # type: ignore[attr-defined]
        return ex

    async def _run(self, record: ExecutionRecord, argument: Any) -> None:
        assert record.execution is not None
        try:
            result = await record.execution.run(argument)
            record.result = to_json_text(result)
            record.state = SUCCEEDED
        except asyncio.CancelledError:
            if self.closing and record.state == ACTIVE:
                return  # the engine is stopping: the journal keeps it ACTIVE and the next start resumes it
            record.state = CANCELLED
        except WorkflowError as exc:
            self._fail(record, exc)
        except ReplayDivergence as exc:
            log.error("execution %s: %s", record.execution_id, exc.message)
            self._fail(record, divergence_error(exc))
        except Exception as exc:  # a bug must fail the execution, not the server
            self._fail(record, internal_error(exc))
        finally:
            if record.end is None:
                record.end = time.time()
            record.done.set()
            self._drop_callbacks(record)
        self.journal.finish(record.execution_id, record.state, record.end, record.result, record.error,
                            record.current_steps())

    @staticmethod
    def _fail(record: ExecutionRecord, exc: WorkflowError) -> None:
        record.state = FAILED
        record.error = _error_resource(exc)
        record.error_exc = exc

    def _drop_callbacks(self, record: ExecutionRecord) -> None:
        if record.execution is None:
            return
        for cb in record.execution.callbacks.values():
            for fut in cb.waiters:
                if not fut.done():
                    fut.cancel()

    def cancel(self, execution_id: str) -> ExecutionRecord:
        record = self.get_execution(execution_id)
        if record.state != ACTIVE:
            raise ApiError(400, "FAILED_PRECONDITION", f"Execution {execution_id} is not ACTIVE (state {record.state})")
        record.state = CANCELLED
        record.end = time.time()
        # Journalled at once: a restart right after the answer must not revive it.
        self.journal.finish(execution_id, CANCELLED, record.end, None, None, record.current_steps())
        if record.task is not None:
            record.task.cancel()
        return record

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        record = self.executions.get(execution_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", f"Execution '{execution_id}' was not found")
        return record

    # ------------------------------------------------------------------ restart
    def restore(self) -> int:
        """Load workflows and executions from the journal; replay the unfinished ones. Returns how many."""
        for row in self.journal.workflows():
            try:
                program = deploy(row["source"])
            except DeploymentError as exc:  # the engine now refuses what it once accepted: say so, keep going
                log.error("workflow %s (revision %s) no longer deploys: %s", row["workflow_id"], row["revision_id"], exc)
                continue
            self.workflows[row["workflow_id"]] = WorkflowRecord(
                row["workflow_id"], row["source"], program, row["env"], row["revision"], row["revision_id"],
                row["created"], row["updated"], row["description"], row["labels"])
            self._programs[(row["workflow_id"], row["revision_id"])] = program
        resumed = 0
        for row in self.journal.executions():
            record = ExecutionRecord(row["execution_id"], row["name"], row["workflow_id"], row["revision_id"],
                                     row["argument"], None, row["start"], state=row["state"], end=row["end_time"],
                                     result=row["result"], error=row["error"], call_log_level=row["call_log_level"],
                                     labels=row["labels"], saved_steps=row["current_steps"])
            self.executions[record.execution_id] = record
            if record.state != ACTIVE:
                record.done.set()
                continue
            self._resume(record, row["env"])
            resumed += 1
        return resumed

    def _resume(self, record: ExecutionRecord, env: dict[str, str]) -> None:
        program = self._program(record.workflow_id, record.revision_id)
        if program is None:
            message = f"the revision {record.revision_id} of workflow {record.workflow_id} cannot be loaded to resume"
            self._fail(record, WorkflowError.tagged("SystemError", message))
            record.end = time.time()
            record.done.set()
            self.journal.finish(record.execution_id, FAILED, record.end, None, record.error, [])
            return
        ex = self._execution(program, env, record.execution_id, record.workflow_id, record.name)
        record.execution = ex
        record.saved_steps = None
        self._restore_callbacks(ex)
        argument = from_json_text(record.argument) if record.argument else None
        record.task = asyncio.get_running_loop().create_task(self._run(record, argument))

    def _program(self, workflow_id: str, revision_id: str) -> Program | None:
        program = self._programs.get((workflow_id, revision_id))
        if program is None:
            stored = self.journal.revision(workflow_id, revision_id)
            if stored is None:
                return None
            try:
                program = deploy(stored[0])
            except DeploymentError:
                return None
            self._programs[(workflow_id, revision_id)] = program
        return program

    def _restore_callbacks(self, ex: Execution) -> None:
        """The execution's callback URLs answer again at once, before its replay reaches them."""
        consumed = set()
        for effect in ex.replay.values():
            if effect.kind == "events.await_callback" and effect.outcome and "payload_id" in effect.outcome:
                consumed.add(effect.outcome["payload_id"])
        for effect in ex.replay.values():
            if effect.kind == "events.create_callback_endpoint" and effect.outcome and "value" in effect.outcome:
                made = effect.outcome["value"]
                self.services.attach(ex, made["id"], effect.key, made["url"], made["name"])
        for payload_id, callback_id, payload in self.journal.payloads(ex.id):
            cb = ex.callbacks.get(callback_id)
            if cb is not None and payload_id not in consumed:
                cb.payloads.append((payload_id, payload))

    async def close(self) -> None:
        self.closing = True
        tasks = [r.task for r in self.executions.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.services.close()


def _error_resource(exc: WorkflowError) -> dict[str, Any]:
    out: dict[str, Any] = {"payload": error_payload(exc.value), "context": error_context(exc)}
    loc = getattr(exc, "wf_location", None)
    if loc:
        routine, step, line = loc
        element: dict[str, Any] = {"step": step, "routine": routine}
        if line is not None:
            element["position"] = {"line": str(line), "column": "1", "length": "0"}
        out["stackTrace"] = {"elements": [element]}
    return out
