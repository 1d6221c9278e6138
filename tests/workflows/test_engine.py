"""Executor behaviour beyond the conformance examples: error locations, yielding, concurrency limits, scoping."""
from __future__ import annotations

import json

import asyncio

import pytest

from localcloud.workflows.engine import (
    STEP_LIMIT,
    Execution,
    deploy,
    error_context,
    error_payload,
    run_source,
)
from localcloud.workflows.errors import WorkflowError


def run(source: str, argument: object = None, env: dict[str, str] | None = None) -> object:
    return run_source(source, argument, env)


def failure(source: str, argument: object = None) -> WorkflowError:
    with pytest.raises(WorkflowError) as info:
        run(source, argument)
    return info.value


def test_error_knows_step_routine_and_line() -> None:
    err = failure("""
main:
  steps:
    - first:
        call: helper
helper:
  steps:
    - ok:
        assign:
          - m: {}
    - broken:
        assign:
          - v: ${m.nope}
""")
    assert err.wf_location == ("helper", "broken", 11)  # type: ignore[attr-defined]
    context = error_context(err)
    assert 'in step "broken", routine "helper", line: 11' in context
    assert "KeyError" in error_payload(err.value)


def test_error_payload_of_raised_string_is_json_encoded() -> None:
    # REST reference, Execution.Error.payload: "Error message and data returned represented as a JSON string."
    err = failure("- r:\n    raise: plain words\n")
    assert error_payload(err.value) == '"plain words"'
    assert json.loads(error_payload(err.value)) == "plain words"


def test_cpu_bound_loop_yields_to_other_executions() -> None:
    program = deploy("""
main:
  steps:
    - init:
        assign:
          - s: 0
    - loop:
        for:
          value: i
          range: [1, 20000]
          steps:
            - add:
                assign:
                  - s: ${s + i}
    - r:
        return: ${s}
""")

    async def scenario() -> tuple[object, list[str]]:
        events: list[str] = []

        async def other() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
                events.append("other ran")

        async def long_run() -> object:
            result = await Execution(program).run()
            events.append("loop done")
            return result

        result, _ = await asyncio.gather(long_run(), other())
        return result, events

    result, events = asyncio.run(scenario())
    assert result == 20000 * 20001 // 2
    # The loop handed the event loop over while it ran: the other task finished first.
    assert events.index("loop done") == len(events) - 1


CONCURRENCY = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - running: 0
          - peak: 0
    - par:
        parallel:
          shared: [running, peak]
          concurrency_limit: ${args.limit}
          for:
            value: v
            range: [1, 6]
            steps:
              - enter:
                  assign:
                    - running: ${running + 1}
                    - peak: ${if(running > peak, running, peak)}
              - work:
                  call: sys.sleep
                  args:
                    seconds: 0.01
              - leave:
                  assign:
                    - running: ${running - 1}
    - r:
        return: ${peak}
"""


def test_concurrency_limit_is_real() -> None:
    assert run(CONCURRENCY, {"limit": 2}) == 2
    assert run(CONCURRENCY, {"limit": 1}) == 1
    assert run(CONCURRENCY, {"limit": 10}) == 6


def test_concurrency_limit_must_be_positive() -> None:
    err = failure(CONCURRENCY, {"limit": 0})
    assert "ValueError" in err.value["tags"]


def test_parallel_iteration_locals_do_not_leak() -> None:
    result = run("""
main:
  steps:
    - init:
        assign:
          - seen: []
    - par:
        parallel:
          shared: [seen]
          for:
            value: v
            index: i
            in: ["a", "b"]
            steps:
              - local:
                  assign:
                    - mine: ${v + string(i)}
                    - seen: ${list.concat(seen, mine)}
    - r:
        return: [ "${len(seen)}", '${default(mine, "none")}', '${default(v, "none")}' ]
""")
    assert result == [2, "none", "none"]


def test_shared_variable_must_exist() -> None:
    err = failure("""
- par:
    parallel:
      shared: [ghost]
      branches:
        - a:
            steps:
              - s:
                  assign:
                    - ghost: 1
        - b:
            steps:
              - s2:
                  assign:
                    - ghost: 2
""")
    assert "ghost" in err.value["message"]


def test_subworkflow_arguments_are_copies() -> None:
    result = run("""
main:
  steps:
    - init:
        assign:
          - data: {"n": 1}
    - c:
        call: mutate
        args:
          d: ${data}
        result: changed
    - r:
        return: [ "${data.n}", "${changed.n}" ]
mutate:
  params: [d]
  steps:
    - m:
        assign:
          - d.n: 99
    - r:
        return: ${d}
""")
    assert result == [1, 99]


def test_blocking_subworkflow_cannot_run_inside_expression() -> None:
    err = failure("""
main:
  steps:
    - a:
        assign:
          - x: ${napper()}
napper:
  steps:
    - z:
        call: sys.sleep
        args:
          seconds: 0
""")
    assert "blocking" in err.value["message"]


def test_step_limit_message() -> None:
    err = failure("- a:\n    assign:\n      - i: 0\n- b:\n    next: a\n")
    assert err.value["tags"] == ["ResourceLimitError"]
    assert str(STEP_LIMIT) in err.value["message"]


def test_main_default_param_and_missing_argument() -> None:
    assert run("main:\n  params: [args: {\"x\": 5}]\n  steps:\n    - r:\n        return: ${args.x}\n") == 5
    assert run("main:\n  params: [args]\n  steps:\n    - r:\n        return: ${args}\n") is None


def test_for_loop_restores_shadowed_variable() -> None:
    result = run("""
- init:
    assign:
      - v: original
- loop:
    for:
      value: v
      in: [1, 2]
      steps:
        - noop:
            assign:
              - w: ${v}
- r:
    return: ${v}
""")
    assert result == "original"


def test_except_binding_inside_loop_and_error_in_except() -> None:
    err = failure("""
- t:
    try:
      raise: first
    except:
      as: e
      steps:
        - again:
            raise: ${"second after " + e}
""")
    assert err.value == "second after first"


def test_sys_log_call_step_records_entry() -> None:
    program = deploy("""
- log:
    call: sys.log
    args:
      text: panel drawn
      severity: INFO
- r:
    return: ok
""")
    ex = Execution(program)
    assert asyncio.run(ex.run()) == "ok"
    assert any("panel drawn" in str(entry.payload) for entry in ex.logs)


def test_callbacks_need_a_server() -> None:
    err = failure("- c:\n    call: events.create_callback_endpoint\n")
    assert err.value["tags"] == ["SystemError"]


def test_next_loop_yields_to_other_executions() -> None:
    program = deploy("""
- init:
    assign:
      - i: 0
- spin:
    assign:
      - i: ${i + 1}
- again:
    switch:
      - condition: ${i < 20000}
        next: spin
- r:
    return: ${i}
""")

    async def scenario() -> list[str]:
        events: list[str] = []

        async def other() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
                events.append("other ran")

        async def long_run() -> None:
            assert await Execution(program).run() == 20000
            events.append("loop done")

        await asyncio.gather(long_run(), other())
        return events

    events = asyncio.run(scenario())
    assert events[-1] == "loop done"


def test_parallel_for_over_huge_range_stops_at_step_limit() -> None:
    err = failure("""
- par:
    parallel:
      for:
        value: v
        range: [1, 1000000000000]
        steps:
          - s:
              assign:
                - x: ${v}
""")
    assert err.value["tags"] == ["ResourceLimitError"]


def test_float_range_is_lazy_and_bounded_by_step_limit() -> None:
    err = failure("""
- loop:
    for:
      value: v
      range: [0.5, 1000000000000.5]
      steps:
        - s:
            assign:
              - x: ${v}
""")
    assert err.value["tags"] == ["ResourceLimitError"]
