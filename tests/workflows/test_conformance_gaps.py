"""The gaps issue 14 found against the official documentation, and copy-on-write value semantics.

Sources (Google Cloud Workflows docs):
- syntax/catching-errors: "A variable created inside an except block belongs to the local scope of that block,
  and is accessible only in that scope."
- syntax/parallel-steps: "continueAll is the only policy currently supported"; parallel steps nest at most two
  levels (ParallelNestingError).
- quotas ("Workflows quotas and limits"): call stack depth for subworkflows, 20; expression length, 400
  characters. The expressions reference (syntax/expressions) says "There is a limit to the expression length";
  an expression is part of the definition, which the service validates when it is deployed, so a longer one
  is refused at deploy time (DeploymentError), never at run time.
"""
from __future__ import annotations

import asyncio

import pytest

from localcloud.workflows.engine import CALL_DEPTH_LIMIT, Execution, deploy, run_source
from localcloud.workflows.errors import DeploymentError, WorkflowError
from localcloud.workflows.expr import MAX_EXPRESSION_LENGTH


def failure(source: str, argument: object = None) -> dict:
    with pytest.raises(WorkflowError) as info:
        run_source(source, argument)
    return info.value.value


# ---------------------------------------------------------------------------------------------- except scope

def test_except_variable_and_variables_created_in_the_block_end_with_it() -> None:
    source = """
main:
  steps:
    - known:
        assign:
          - kept: 0
    - t:
        try:
          raise: "boom"
        except:
          as: e
          steps:
            - note:
                assign:
                  - kept: ${e}
                  - inner: 1
    - probe_e:
        try:
          return: ${e}
        except:
          as: err
          steps:
            - e_gone:
                assign:
                  - kept: ${[kept, err.tags]}
    - probe_inner:
        try:
          return: ${inner}
        except:
          as: err
          steps:
            - inner_gone:
                return: ${[kept, err.tags]}
"""
    # `kept` existed before the block: its change stays. `e` and `inner` are gone after it.
    assert run_source(source) == [["boom", ["KeyError", "LookupError"]], ["KeyError", "LookupError"]]


def test_an_except_variable_shadowing_an_outer_one_restores_it() -> None:
    source = """
main:
  steps:
    - outer:
        assign:
          - e: "outer value"
    - t:
        try:
          raise: "boom"
        except:
          as: e
          steps:
            - seen:
                assign:
                  - seen: ${e}
    - r:
        return: ${e}
"""
    assert run_source(source) == "outer value"


def test_a_later_parallel_branch_may_use_its_own_except_as_of_the_same_name() -> None:
    # Before, `e` outlived the first except block and the branch was refused as writing a parent variable.
    source = """
main:
  steps:
    - t:
        try:
          raise: "first"
        except:
          as: e
          steps:
            - noted:
                assign:
                  - first: ${e}
    - par:
        parallel:
          branches:
            - a:
                steps:
                  - tb:
                      try:
                        raise: "in a branch"
                      except:
                        as: e
                        steps:
                          - ok:
                              assign:
                                - x: ${e}
            - b:
                steps:
                  - nothing:
                      assign:
                        - y: 1
    - r:
        return: done
"""
    assert run_source(source) == "done"


# ---------------------------------------------------------------------------------------------- parallel


NESTED_THROUGH_CALLS = """
main:
  steps:
    - outer:
        parallel:
          for:
            value: i
            in: [1]
            steps:
              - go:
                  call: middle
middle:
  steps:
    - second:
        parallel:
          for:
            value: j
            in: [1]
            steps:
              - go:
                  call: inner
inner:
  steps:
    - third:
        parallel:
          branches:
            - a:
                steps:
                  - s:
                      assign:
                        - x: 1
            - b:
                steps:
                  - s:
                      assign:
                        - x: 2
"""


def test_parallel_nesting_deeper_than_two_through_subworkflows_fails_at_run_time() -> None:
    program = deploy(NESTED_THROUGH_CALLS)  # each workflow alone nests one level: deploys fine
    with pytest.raises(WorkflowError) as info:
        asyncio.run(Execution(program).run())
    value = info.value.value
    assert value["tags"] == ["UnhandledBranchError"]
    inner = value["branches"][0]["error"]
    inner = inner["branches"][0]["error"]
    assert inner["tags"] == ["ParallelNestingError"] and "third" in inner["message"]


def test_two_levels_through_a_subworkflow_are_allowed() -> None:
    source = NESTED_THROUGH_CALLS.replace("                  call: inner", "                  call: leaf") + """
leaf:
  steps:
    - r:
        return: 1
"""
    assert run_source(source) is None


@pytest.mark.parametrize("policy", ["unhandled", "stopAll", "continueAll "])
def test_exception_policy_other_than_continue_all_is_refused(policy: str) -> None:
    source = f"""
- p:
    parallel:
      exception_policy: "{policy}"
      branches:
        - a:
            steps:
              - s:
                  assign:
                    - x: 1
        - b:
            steps:
              - s:
                  assign:
                    - x: 2
"""
    with pytest.raises(DeploymentError, match="continueAll is the only policy") as info:
        deploy(source)
    assert info.value.step == "p"


# ---------------------------------------------------------------------------------------------- limits


DOWN = """
main:
  params: [args]
  steps:
    - c:
        call: down
        args:
          n: ${args.calls}
        result: r
    - r:
        return: ${r}
down:
  params: [n]
  steps:
    - stop:
        switch:
          - condition: ${n == 1}
            return: "bottom"
    - rec:
        call: down
        args:
          n: ${n - 1}
        result: r
    - r:
        return: ${r}
"""


def test_twenty_nested_subworkflow_calls_fit_and_the_twenty_first_is_a_recursion_error() -> None:
    """quotas: call stack depth for subworkflows is 20; main is not a subworkflow call, so 20 calls nest below it."""
    assert CALL_DEPTH_LIMIT == 20
    assert run_source(DOWN, {"calls": 20}) == "bottom"
    error = failure(DOWN, {"calls": 21})
    assert error["tags"] == ["RecursionError"] and "20" in error["message"]


def test_expression_length_is_checked_at_deploy_time() -> None:
    """quotas: expression length 400 characters; syntax/expressions: checked with the definition, at deploy."""
    just = "1" + " + 1" * ((MAX_EXPRESSION_LENGTH - 1) // 4)
    assert len(just) <= MAX_EXPRESSION_LENGTH
    assert run_source(f"- r:\n    return: ${{{just}}}\n") == 1 + (MAX_EXPRESSION_LENGTH - 1) // 4
    too_long = just + " + 1" * 2
    with pytest.raises(DeploymentError, match="the limit is 400") as info:
        deploy(f"- r:\n    return: ${{{too_long}}}\n")
    assert info.value.step == "r"


# ---------------------------------------------------------------------------------------------- copy on write


def test_values_keep_copy_semantics_without_deep_copies() -> None:
    source = """
main:
  steps:
    - make:
        assign:
          - a: {"pages": [1, 2], "title": "t"}
          - b: ${a}
          - b.pages[0]: 9
          - c: ${a.pages}
          - c[1]: 8
    - call:
        call: scribble
        args:
          m: ${a}
        result: scribbled
    - r:
        return: [ "${a}", "${b}", "${c}", "${scribbled}" ]
scribble:
  params: [m]
  steps:
    - w:
        assign:
          - m.pages[1]: 0
          - m.title: "changed"
    - r:
        return: ${m}
"""
    a = {"pages": [1, 2], "title": "t"}
    assert run_source(source) == [a, {"pages": [9, 2], "title": "t"}, [1, 8], {"pages": [1, 0], "title": "changed"}]


def test_accumulating_with_list_concat_appends_in_place_only_when_unshared() -> None:
    source = """
main:
  steps:
    - init:
        assign:
          - items: []
          - seen: []
    - loop:
        for:
          value: x
          range: [1, 5]
          steps:
            - add:
                assign:
                  - items: ${list.concat(items, x)}
            - snap:
                switch:
                  - condition: ${x == 3}
                    assign:
                      - seen: ${items}
    - more:
        assign:
          - items: ${list.concat(items, 6)}
    - iterate_while_growing:
        for:
          value: v
          in: ${items}
          steps:
            - grow:
                assign:
                  - items: ${list.concat(items, v * 10)}
    - r:
        return: [ "${seen}", "${items}" ]
"""
    # `seen` shares the list at x == 3 and must not see later appends; a loop over a list being appended to
    # iterates over the list as it was.
    assert run_source(source) == [[1, 2, 3], [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]]


def test_parallel_branches_write_to_their_own_copies() -> None:
    source = """
main:
  steps:
    - init:
        assign:
          - book: {"pages": [0, 0]}
          - results: {}
    - par:
        parallel:
          shared: [results]
          for:
            value: i
            in: [0, 1]
            steps:
              - mine:
                  assign:
                    - draft: ${book}
                    - draft.pages[i]: ${i + 1}
                    - results[string(i)]: ${draft.pages}
    - r:
        return: [ "${book}", "${results}" ]
"""
    assert run_source(source) == [{"pages": [0, 0]}, {"0": [1, 0], "1": [0, 2]}]
