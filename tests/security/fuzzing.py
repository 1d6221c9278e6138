"""Hostile and odd requests for every HTTP function, generated from its JSON Schema.

Shared by the fuzz tests (a few hundred cases per function, inside `make test`) and
`bench/bench_fuzz.py` (20,000+ requests). A case is one HTTP request: valid bodies drawn from the
function's schema, the same bodies with one field made hostile (wrong type, odd Unicode, NUL, lone
surrogates, huge numbers and strings, deep nesting), raw bodies that are not JSON at all, wrong
content types and methods, and broken credentials.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import requests
from hypothesis import find, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "functions" / "main.py"

# Strings people and attackers send: control characters, NUL, lone surrogates, bidi overrides,
# combining marks, emoji, CJK, very long text, things that look like markup or SQL.
ODD_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\ud83d", "\u202e\u202d", "e\u0301\u0301\u0301",
    "\U0001F600" * 3, "山田太郎「俺は」", "\ufeff", "\u2028\u2029", "\x7f\x1b[31m", "' OR 1=1; --",
    "<script>alert(1)</script>", "../../etc/passwd", "%00%ff", "null", "1e400", "\\", '"', "x" * 5000,
]
HUGE_NUMBERS = [10 ** 30, -(10 ** 30), 2 ** 63, 1e308, -1e308, 0.1, -0, 1.5]


@dataclass(frozen=True)
class Case:
    """One request: method, raw body, content type, extra headers, query string."""

    category: str
    method: str = "POST"
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


def _dumps(value: Any) -> bytes:
    # ASCII escapes, so lone surrogates travel as \\udXXX exactly as a hostile client would send them.
    return json.dumps(value).encode("ascii")


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _hostile_value() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.sampled_from(ODD_STRINGS), st.sampled_from(HUGE_NUMBERS), st.none(), st.booleans(),
                        st.text(max_size=40), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
    return st.one_of(scalars, st.lists(scalars, max_size=5), st.dictionaries(st.text(max_size=8), scalars, max_size=4))


def _mutated(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
    """A valid body with one field (or a new one) replaced by a hostile value."""

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        body = draw(valid)
        if not isinstance(body, dict):
            body = {}
        keys = list(body) + ["__extra__"]
        key = draw(st.sampled_from(keys))
        body = dict(body)
        body[draw(st.sampled_from(ODD_STRINGS[:12])) if key == "__extra__" else key] = draw(_hostile_value())
        return Case("hostile_field", body=_dumps(body))

    return build()


RAW_BODIES = [
    b"", b"null", b"[]", b"1", b'"text"', b"{", b'{"a": }', b"\xff\xfe\x00", b"\xef\xbb\xbf{}", b"{}" * 3,
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"request_id": 1' + b"0" * 5000 + b"}",
    b'{"a": 1e999999}', b'{"a":"\\ud800"}', b'{"\\u0000": 1}', deep(990), deep(40), b'{"a":' * 500 + b"1" + b"}" * 500,
    b" " * 2000 + b"{}", b"{" + b'"k":1,' * 20000 + b'"k":1}',
]


def _raw() -> st.SearchStrategy[Case]:
    return st.sampled_from([Case("not_json", body=raw) for raw in RAW_BODIES])


def _content_types(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
    types = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
             "application/xml", None, "application/json; charset=latin-1"]
    return st.builds(lambda body, ctype: Case("content_type", body=_dumps(body), content_type=ctype),
                     valid, st.sampled_from(types))


def _methods(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
    return st.builds(lambda body, method: Case("method", method=method, body=_dumps(body)),
                     valid, st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))


def _query(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
    """GET with the body's fields (and hostile ones) as the query string."""

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        body = draw(valid)
        query = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (body or {}).items()}
        if draw(st.booleans()) and query:
            key = draw(st.sampled_from(sorted(query)))
            query[key] = draw(st.sampled_from(ODD_STRINGS)).replace("\x00", "%00")
        return Case("query", method="GET", body=b"", content_type=None, query=query)

    return build()


def _credentials(valid: st.SearchStrategy[Any], good_token: str) -> st.SearchStrategy[Case]:
    broken = ["", "Bearer", "Bearer ", "Basic abc", "Bearer " + "A" * 10000, "Bearer mfid1.x.y",
              "Bearer mfid1." + good_token.split(".", 1)[-1][::-1], "Bearer é", "bearer \t ",
              "Bearer " + good_token[:-2] + "AA"]
    return st.builds(lambda body, auth, xff: Case("credentials", body=_dumps(body),
                                                   headers={"Authorization": auth, "X-Forwarded-For": xff}),
                     valid, st.sampled_from(broken), st.sampled_from(["1.2.3.4", "evil, 127.0.0.1", "", "x" * 300]))


def request_strategy(schema: dict[str, Any], methods: tuple[str, ...], good_token: str) -> st.SearchStrategy[Case]:
    """Every kind of request for one function: valid bodies more often than not, then the rest."""
    valid = from_schema(schema)
    kinds = [st.builds(lambda body: Case("valid", body=_dumps(body)), valid), _mutated(valid), _raw(),
             _content_types(valid), _methods(valid), _credentials(valid, good_token)]
    if "GET" in methods:
        kinds.append(_query(valid))
    return st.one_of(*kinds)


# One hostile value of each kind, put into every field in turn (table-driven, so every function and
# field meets every kind, whatever the random generator happens to draw).
FIELD_VALUES: dict[str, Any] = {
    "lone surrogate": "ok\ud800", "NUL": "a\x00b", "bidi and emoji": "\u202e\U0001F600\u0301", "empty": "",
    "huge integer": 10 ** 30, "huge float": 1e308, "negative": -1, "null": None, "list": ["x"], "object": {"a": 1},
    "deep": json.loads(deep(60).decode()), "long text": "x" * 30_000, "markup": "<script>alert(1)</script>",
}


def field_paths(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Every property path of a schema, nested objects included (a.b)."""
    paths = []
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        paths.append(path)
        if isinstance(sub, dict) and sub.get("type") == "object":
            paths += field_paths(sub, f"{path}.")
    return paths


def with_value(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = json.loads(json.dumps(body))
    target = result
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[parts[-1]] = value
    return result


def field_cases(schema: dict[str, Any], base: dict[str, Any]) -> list[Case]:
    """Every field of `base` (a valid body) replaced in turn by every kind of hostile value."""
    return [Case(f"field {path}: {kind}", body=_dumps(with_value(base, path, value)))
            for path in field_paths(schema) for kind, value in FIELD_VALUES.items()]


def schema_of(function: Any) -> dict[str, Any]:
    """The JSON Schema an entry point validates against (its `schema` attribute names the file)."""
    return json.loads((REPO / "schemas" / f"{function.schema}.json").read_text(encoding="utf-8"))


@dataclass
class Outcome:
    status: int
    problem: str | None
    seconds: float


def send(client: Any, case: Case, auth: dict[str, str]) -> Outcome:
    """Send one case through a functions-framework test client; judge the answer."""
    headers = {**auth, **case.headers}
    headers = {k: v for k, v in headers.items() if v is not None}
    started = time.perf_counter()
    try:
        response = client.open("/", method=case.method, data=case.body or None, query_string=case.query or None,
                               content_type=case.content_type, headers=headers)
    except UnicodeEncodeError:  # a header no HTTP client could send (not latin-1)
        return Outcome(400, None, 0.0)
    seconds = time.perf_counter() - started
    text = response.get_data(as_text=True) if response.status_code != 204 else ""
    problem = None
    if response.status_code >= 500:
        problem = f"{response.status_code}: {text[:300]}"
    elif "Traceback" in text:
        problem = "a stack trace reached the caller"
    elif response.status_code >= 400 and response.mimetype == "application/json" and case.method != "HEAD":
        payload = response.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
            problem = f"error without a JSON error body: {text[:200]}"
    return Outcome(response.status_code, problem, seconds)


class Harness:
    """The functions in this process, a canary request, and the identities the cases use."""

    def __init__(self, stack: dict[str, Any], functions: list[str]) -> None:
        from functions_framework import create_app

        from mangaflow_cli import api as cli

        self.stack = stack
        self.clients = {name: create_app(name, str(SOURCE)).test_client() for name in functions}
        from mangaflow.stores.sessions import session_store

        self.owner = cli.auth_headers("canary-owner")
        self.fuzzer = cli.auth_headers("fuzzer")
        for user in ("canary-owner", "fuzzer"):  # runs an earlier, interrupted session left behind
            session_store().call(lambda c, user=user: c.delete(f"concurrency:{user}"))
        started = self.clients["start_generation"].post("/", headers=self.owner, json={
            "text": "Kai watched the harbour lights. \"They never go out,\" Kai said.", "pages": 1,
            "hitl": {"mode": "review", "timeout_seconds": 3600}})
        assert started.status_code == 202, started.get_data(as_text=True)
        self.canary = started.get_json()
        self.started: list[dict[str, Any]] = []

    def canary_is_intact(self) -> None:
        """The canary request reads back as itself, through the function and the shared connection."""
        answer = self.clients["get_status"].post("/", headers=self.owner, json={"request_id": self.canary["request_id"]})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        state = answer.get_json()
        assert state["request_id"] == self.canary["request_id"] and state["user_id"] == "canary-owner"
        from mangaflow.stores import postgres

        assert postgres.get_request(self.canary["request_id"])["pages"] == 1

    def run(self, name: str, case: Case) -> Outcome:
        outcome = send(self.clients[name], case, self.fuzzer)
        if name == "start_generation" and outcome.status == 202:
            self.started.append({"case": case})
            self.cancel_fuzzer_runs()
        return outcome

    def cancel_fuzzer_runs(self) -> None:
        """A run the fuzzer started is cancelled at once, as its owner would: the suite stays light."""
        from mangaflow.stores import postgres
        from mangaflow.stores.sessions import session_store

        base = f"http://{self.stack['workflows']}/v1"
        rows = postgres.database().run("SELECT request_id FROM generation_requests WHERE user_id = 'fuzzer'"
                                       " AND status NOT IN ('completed', 'failed', 'cancelled')")
        for row in rows:
            executions = requests.get(f"{base}/{os.environ['MANGAFLOW_WORKFLOW']}/executions", timeout=10).json()
            for execution in executions.get("executions", []):
                if row["request_id"] in execution.get("argument", "") and execution.get("state") == "ACTIVE":
                    requests.post(f"{base}/{execution['name']}:cancel", json={}, timeout=10)
            postgres.update_request(row["request_id"], status="cancelled")
            session_store().release("fuzzer", row["request_id"])

    def close(self) -> None:
        self.cancel_fuzzer_runs()
        requests.post(f"http://{self.stack['workflows']}/v1/{self.canary['execution']}:cancel", json={}, timeout=10)


@contextlib.contextmanager
def in_process_functions(stack: dict[str, Any], scratch: Path) -> Iterator[None]:
    """This process set up as the gateway's workers are (same stores, engine and signing key), with an
    analytics file of its own."""
    from localcloud import supervisor
    from localcloud.services.pytest_plugin import reset_client_caches

    env = supervisor.function_environment(supervisor.env(), stack["gateway"], supervisor.local_dir())
    keys = ("MANGAFLOW_SIGNING_KEY", "WORKFLOWS_EMULATOR_HOST", "WORKFLOWS_GRPC_EMULATOR_HOST", "MANGAFLOW_WORKFLOW",
            "MANGAFLOW_PUBLIC_URL")
    saved = {key: os.environ.get(key) for key in keys + ("MANGAFLOW_ANALYTICS_DB",)}
    os.environ.update({key: env[key] for key in keys})
    os.environ["MANGAFLOW_ANALYTICS_DB"] = str(scratch / "analytics.duckdb")
    reset_client_caches()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_client_caches()


def entry_points() -> dict[str, Any]:
    """Every function main.py exports, by name (the deploy source is the one list)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_fuzz_main_probe", SOURCE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return {name: getattr(module, name) for name in module.__all__}


def base_body(schema: dict[str, Any], canary_id: str) -> dict[str, Any]:
    """A valid body for the schema that points at a real request, so the hostile values travel as
    deep into the function as a well-formed request would."""
    body = find(from_schema(schema), lambda _: True, settings=settings(database=None, max_examples=50))
    known = {"request_id": canary_id, "gate_id": f"g-{canary_id}-1-0", "phase": 1, "text": "Kai waved.",
             "token": "9999999999.AAAA", "attempt": 1, "pages": 1, "panel_id": "p01-1"}
    for key, value in known.items():
        if key in (schema.get("properties") or {}):
            body[key] = value
    return body if isinstance(body, dict) else {}
