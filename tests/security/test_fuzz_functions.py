"""Every HTTP function against generated hostile input: never a 5xx, never a trace, and the
process's store connections never poisoned (a canary request answers correctly after each case).

The functions run in this process through functions-framework's own apps, on the real local stores
and engine, so a driver left half-way through a message by one request would answer the canary
with another query's rows. `bench/bench_fuzz.py` runs the same generator at 20,000+ requests.
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
import requests
from functions_framework import create_app
from hypothesis import HealthCheck, given, seed, settings

import fuzzing

EXAMPLES_PER_FUNCTION = int(os.environ.get("MANGAFLOW_FUZZ_EXAMPLES", "60"))


ENTRY_POINTS = fuzzing.entry_points()
FUNCTIONS = list(ENTRY_POINTS)


@pytest.fixture(scope="module")
def harness(stack, tmp_path_factory) -> Iterator[fuzzing.Harness]:
    with fuzzing.in_process_functions(stack, tmp_path_factory.mktemp("fuzz")):
        made = fuzzing.Harness(stack, FUNCTIONS)
        try:
            yield made
        finally:
            made.close()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_field_meets_every_kind_of_hostile_value(harness: fuzzing.Harness, name: str) -> None:
    entry = ENTRY_POINTS[name]
    schema = fuzzing.schema_of(entry)
    failures = []
    for case in fuzzing.field_cases(schema, fuzzing.base_body(schema, harness.canary["request_id"])):
        outcome = harness.run(name, case)
        if outcome.problem:
            failures.append(f"{case.category}: {outcome.problem}")
        harness.canary_is_intact()
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_generated_requests_never_answer_5xx_or_poison_connections(harness: fuzzing.Harness, name: str) -> None:
    entry = ENTRY_POINTS[name]
    assert getattr(entry, "schema", None), f"{name} validates against no JSON Schema"
    schema = fuzzing.schema_of(entry)
    token = harness.fuzzer["Authorization"].split(" ", 1)[1]

    @seed(20261129)
    @settings(max_examples=EXAMPLES_PER_FUNCTION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=fuzzing.request_strategy(schema, entry.methods, token))
    def one_case(case: fuzzing.Case) -> None:
        outcome = harness.run(name, case)
        assert outcome.problem is None, f"{case.category} {case.method} {case.body[:200]!r}: {outcome.problem}"
        harness.canary_is_intact()

    one_case()


def test_a_lone_surrogate_in_a_gate_id_no_longer_poisons_the_connection(harness: fuzzing.Harness) -> None:
    """The reproduction from the report: reachable without credentials."""
    client = harness.clients["review_gate"]
    for _ in range(3):
        answer = client.post("/", data=b'{"request_id":"r-0000000000000000","phase":"1","gate_id":"\\ud800",'
                                       b'"token":"1.a"}', content_type="application/json")
        assert answer.status_code == 400 and answer.get_json()["field"] == "gate_id"
        harness.canary_is_intact()


def test_a_driver_error_discards_the_connection(harness: fuzzing.Harness, monkeypatch) -> None:
    """The second line of defence: with the edge's and the repository's text checks taken away, a
    value pg8000 fails to encode half-way through a message still never leaves the connection in use."""
    from mangaflow.stores import postgres

    with pytest.raises(postgres.InvalidRecord):
        postgres.database().run("SELECT :v AS v", v="\ud800")  # the repository's check
    monkeypatch.setattr(postgres, "_refuse_unstorable", lambda params: None)
    db = postgres.database()
    reconnects = db.reconnects
    for _ in range(3):
        with pytest.raises(Exception):
            db.run("SELECT :v AS v, :w AS w", v="x" * 100, w="\ud800")
    assert db.run("SELECT 41 + 1 AS answer") == [{"answer": 42}]
    assert db.reconnects >= reconnects + 3
    harness.canary_is_intact()


@pytest.mark.parametrize("raw", [fuzzing.deep(990), b'{"pages": 1' + b"0" * 4400 + b"}", b'{"text": "a", "pages": 1e400}'],
                         ids=["990-deep", "4400-digit-integer", "1e400"])
def test_deep_nesting_and_huge_numbers_are_400_naming_the_body(harness: fuzzing.Harness, raw: bytes) -> None:
    answer = harness.clients["start_generation"].post("/", data=raw, content_type="application/json",
                                                      headers=harness.fuzzer)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["field"] == "(body)"


def test_a_chunked_body_is_cut_at_the_limit_while_it_streams(stack, harness: fuzzing.Harness) -> None:
    """Through the real gateway: a chunked body with no length is answered 413 as soon as it passes
    1 MB, while the client is still sending, and the connection is closed rather than drained."""
    import select
    import socket
    from urllib.parse import urlsplit

    gateway = urlsplit(stack["gateway"])
    sock = socket.create_connection((gateway.hostname, gateway.port), timeout=30)
    head = (f"POST /start_generation HTTP/1.1\r\nHost: {gateway.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: {harness.fuzzer['Authorization']}\r\nTransfer-Encoding: chunked\r\n\r\n")
    sock.sendall(head.encode("ascii"))
    chunk = b"a" * 65536
    sent = 0
    answer = b""
    try:
        for _ in range(4000):  # 256 MB if the server wanted it all
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            if select.select([sock], [], [], 0.002)[0]:
                answer = sock.recv(65536)
                break
    except (BrokenPipeError, ConnectionResetError):
        answer = answer or sock.recv(65536)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 16 * 1024 * 1024, f"the answer came only after {sent} bytes"


def test_spoofed_forwarded_for_does_not_escape_the_rate_limit(stack, harness: fuzzing.Harness, monkeypatch) -> None:
    """The limiter keys on the address the platform reports: eight starts under eight made-up
    X-Forwarded-For addresses count as one client."""
    from localcloud.services.pytest_plugin import reset_client_caches

    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "5")
    reset_client_caches()
    try:
        client = create_app("start_generation", str(fuzzing.SOURCE)).test_client()
        statuses = []
        for n in range(8):
            answer = client.post("/", json={"text": "A spoof.", "pages": 1, "hitl": {"mode": "auto"}},
                                 headers={**harness.fuzzer, "X-Forwarded-For": f"10.0.0.{n}"},
                                 environ_base={"REMOTE_ADDR": "198.51.100.7"})
            statuses.append(answer.status_code)
            harness.cancel_fuzzer_runs()
        assert statuses.count(429) >= 3, statuses
    finally:
        monkeypatch.delenv("RATE_LIMIT_PER_MINUTE")
        reset_client_caches()
        from mangaflow.stores.sessions import session_store

        session_store().call(lambda c: c.delete("ratelimit:198.51.100.7"))
