"""Deploy-time parsing and validation: YAML/JSON, params and defaults, step structure, lines in errors."""
from __future__ import annotations

import pytest

from localcloud.workflows.engine import deploy
from localcloud.workflows.errors import DeploymentError
from localcloud.workflows.loader import MAX_SOURCE_BYTES, load_definition


def test_yaml_with_subworkflows_params_and_defaults() -> None:
    d = load_definition("""
main:
  params: [args]
  steps:
    - r:
        return: 1
helper:
  params: [a, b: 2, c: {"k": [1]}]
  steps:
    - r:
        return: ${a}
""")
    assert d.workflows["main"].params == ["args"]
    helper = d.workflows["helper"]
    assert helper.params == ["a", "b", "c"]
    assert helper.defaults == {"b": 2, "c": {"k": [1]}}


def test_simple_form_is_main() -> None:
    d = load_definition("- a:\n    return: 1\n")
    assert list(d.workflows) == ["main"]


def test_json_source() -> None:
    d = load_definition('{"main": {"steps": [{"a": {"return": 1}}]}}')
    assert d.workflows["main"].steps == [{"a": {"return": 1}}]


def test_timestamps_and_yes_stay_as_written() -> None:
    d = load_definition("- a:\n    assign:\n      - when: 2024-01-02\n      - yes: 1\n- b:\n    return: ${when}\n")
    assign = d.workflows["main"].steps[0]["a"]["assign"]
    assert assign == [{"when": "2024-01-02"}, {"yes": 1}]


@pytest.mark.parametrize(
    ("source", "fragment", "step", "line"),
    [
        ("main:\n  steps:\n    - ok:\n        return: 1\n    - bad:\n        asign: []\n", "unknown step key", "bad", 5),
        ("main:\n  steps:\n    - a:\n        assign:\n          - x: 1\n        next: nowhere\n",
         "'nowhere' not found", "a", 3),
        ("main:\n  steps:\n    - c:\n        call: missing_sub\n", "missing_sub", "c", 3),
        ("main:\n  steps:\n    - a:\n        assign:\n          - x: ${1 +}\n", "invalid expression", "a", 3),
        ("main:\n  steps:\n    - r:\n        return: 1\n        next: end\n", "'next' cannot follow", "r", 3),
        ("main:\n  steps:\n    - a:\n        args: {}\n", "only allowed with 'call'", "a", 3),
        ("main:\n  steps:\n    - s:\n        switch:\n          - next: end\n", "needs a 'condition'", "s", 5),
        ("main:\n  steps:\n    - t:\n        try:\n          return: 1\n", "needs 'except' or 'retry'", "t", 3),
        ("main:\n  steps:\n    - f:\n        for:\n          value: v\n          steps:\n            - a:\n"
         "                return: 1\n", "exactly one of 'in' or 'range'", "f", 3),
    ],
)
def test_errors_name_step_and_line(source: str, fragment: str, step: str, line: int) -> None:
    with pytest.raises(DeploymentError) as info:
        deploy(source)
    err = info.value
    assert fragment in str(err)
    assert err.step == step
    assert err.line == line


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(DeploymentError) as info:
        load_definition("main:\n  steps:\n    - a: [\n")
    assert info.value.line is not None
    assert "cannot parse" in str(info.value)


def test_missing_main_and_empty_steps() -> None:
    with pytest.raises(DeploymentError, match="no 'main'"):
        load_definition("other:\n  steps:\n    - a:\n        return: 1\n")
    with pytest.raises(DeploymentError, match="non-empty list of 'steps'"):
        load_definition("main:\n  steps: []\n")
    with pytest.raises(DeploymentError, match="unknown key"):
        load_definition("main:\n  stepz: []\n")
    with pytest.raises(DeploymentError, match="empty"):
        load_definition("")


def test_main_takes_at_most_one_param() -> None:
    with pytest.raises(DeploymentError, match="at most one parameter"):
        load_definition("main:\n  params: [a, b]\n  steps:\n    - r:\n        return: 1\n")


def test_duplicate_step_in_same_list() -> None:
    with pytest.raises(DeploymentError, match="duplicate step name 'a'"):
        load_definition("- a:\n    return: 1\n- a:\n    return: 2\n")


def test_source_size_limit() -> None:
    with pytest.raises(DeploymentError, match="128 KB"):
        load_definition("#" * (MAX_SOURCE_BYTES + 1))


def test_too_many_assignments_and_conditions() -> None:
    assigns = "".join(f"      - v{i}: {i}\n" for i in range(51))
    with pytest.raises(DeploymentError, match="limit is 50"):
        load_definition("- a:\n    assign:\n" + assigns)
    conds = "".join("      - condition: true\n        next: end\n" for _ in range(51))
    with pytest.raises(DeploymentError, match="limit is 50"):
        load_definition("- s:\n    switch:\n" + conds)


def test_parallel_nesting_limit() -> None:
    def nest(depth: int, indent: str) -> str:
        if depth == 0:
            return f"{indent}- leaf:\n{indent}    assign:\n{indent}      - x: 1\n"
        return (f"{indent}- p{depth}:\n{indent}    parallel:\n{indent}      for:\n{indent}        value: v{depth}\n"
                f"{indent}        in: [1]\n{indent}        steps:\n" + nest(depth - 1, indent + "          "))

    deploy(nest(2, ""))
    with pytest.raises(DeploymentError, match="ParallelNestingError"):
        deploy(nest(3, ""))


def test_break_inside_parallel_for_is_refused() -> None:
    src = """
- p:
    parallel:
      for:
        value: v
        in: [1]
        steps:
          - s:
              assign:
                - x: 1
              next: break
"""
    with pytest.raises(DeploymentError, match="only allowed inside a for loop"):
        deploy(src)


def test_next_cannot_jump_into_or_out_of_loop_body() -> None:
    src = """
- outside:
    assign:
      - x: 1
- loop:
    for:
      value: v
      in: [1]
      steps:
        - s:
            assign:
              - y: 1
            next: outside
"""
    with pytest.raises(DeploymentError, match="'outside' not found"):
        deploy(src)


def test_unknown_function_and_argument() -> None:
    with pytest.raises(DeploymentError, match="unknown function 'text.nope'"):
        deploy("- c:\n    call: text.nope\n")
    with pytest.raises(DeploymentError, match="no argument 'bogus'"):
        deploy("- c:\n    call: sys.sleep\n    args:\n      bogus: 1\n")
    with pytest.raises(DeploymentError, match="has no parameter 'z'"):
        deploy("main:\n  steps:\n    - c:\n        call: s\n        args:\n          z: 1\n"
               "s:\n  params: [a: 1]\n  steps:\n    - r:\n        return: ${a}\n")


def test_retry_predicate_must_be_a_subworkflow() -> None:
    src = """
- t:
    try:
      return: 1
    retry:
      predicate: ${not_defined}
      max_retries: 1
"""
    with pytest.raises(DeploymentError, match="not a defined subworkflow"):
        deploy(src)


def test_json_with_tabs_falls_back_to_json_parser() -> None:
    d = load_definition('{\t"main": {"steps": [{"a": {"return": "x\\ty"}}]}}')
    assert d.workflows["main"].steps == [{"a": {"return": "x\ty"}}]


def test_required_stdlib_argument_checked_at_deploy() -> None:
    with pytest.raises(DeploymentError, match="missing required argument 'url'") as info:
        deploy("- c:\n    call: http.get\n    args:\n      timeout: 3\n")
    assert info.value.step == "c"
