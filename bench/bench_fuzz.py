"""The hostile-input suite at scale: 20,000+ generated requests over every HTTP function, on the
real local stores and engine, counting 5xx answers and poisoned connections (the goal is 0 and 0).

Usage: .venv/bin/python bench/bench_fuzz.py [--requests 20000] [--seed 20261129]
The same generator as tests/security (table-driven hostile fields, then Hypothesis-generated
requests from each function's JSON Schema: wrong types, odd Unicode, huge and deep bodies,
non-JSON, wrong content types and methods, broken credentials).
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "security"), str(REPO / "functions"), str(REPO)]

import fuzzing  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402


def _recorder(record, name: str):  # type: ignore[no-untyped-def]
    def one_case(case: fuzzing.Case) -> None:
        record(name, case)

    return one_case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()

    import os

    from localcloud import supervisor

    state = supervisor.up()
    os.environ.update(supervisor.env())
    info = {"gateway": state["gateway"]["endpoint"], "workflows": state["workflows"]["endpoint"],
            "local_dir": str(supervisor.local_dir())}
    entries = fuzzing.entry_points()
    statuses: collections.Counter[int] = collections.Counter()
    by_category: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    canary_failures = 0
    seconds: list[float] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, fuzzing.in_process_functions(info, Path(scratch)):
        harness = fuzzing.Harness(info, list(entries))

        def record(name: str, case: fuzzing.Case) -> None:
            nonlocal canary_failures
            outcome = harness.run(name, case)
            statuses[outcome.status] += 1
            by_category[case.category.split(":")[0].split(" ")[0]] += 1
            seconds.append(outcome.seconds)
            if outcome.problem:
                problems.append(f"{name} {case.category}: {outcome.problem[:160]}")
            try:
                harness.canary_is_intact()
            except AssertionError:
                canary_failures += 1

        try:
            for name, entry in entries.items():
                schema = fuzzing.schema_of(entry)
                for case in fuzzing.field_cases(schema, fuzzing.base_body(schema, harness.canary["request_id"])):
                    record(name, case)
            table = sum(statuses.values())
            per_function = max(1, (args.requests - table) // len(entries) + 1)
            token = harness.fuzzer["Authorization"].split(" ", 1)[1]
            for name, entry in entries.items():
                schema = fuzzing.schema_of(entry)
                one = seed(args.seed)(settings(max_examples=per_function, deadline=None, database=None,
                                               suppress_health_check=list(HealthCheck))(
                    given(case=fuzzing.request_strategy(schema, entry.methods, token))(_recorder(record, name))))
                one()
                print(f"  {name}: {sum(statuses.values())} requests so far", file=sys.stderr, flush=True)
        finally:
            harness.close()
    total = sum(statuses.values())
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    print(f"requests: {total}  5xx: {server_errors}  other problems: {len(problems) - server_errors}  "
          f"poisoned-connection canary failures: {canary_failures}")
    print(f"wall {time.perf_counter() - started:.0f} s; median request {statistics.median(seconds) * 1000:.1f} ms")
    print("statuses:", dict(sorted(statuses.items())))
    print("categories:", dict(by_category.most_common()))
    for line in problems[:20]:
        print("  ", line)
    return 0 if not problems and not canary_failures else 1


if __name__ == "__main__":
    sys.exit(main())
