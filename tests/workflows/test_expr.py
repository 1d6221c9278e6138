"""Expression language: literals, operators and their type rules, access, calls, errors, limits."""
from __future__ import annotations

from typing import Any

import pytest

from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.expr import (
    compile_lvalue,
    MAX_EXPRESSION_LENGTH,
    ExpressionSyntaxError,
    compile_expression,
    compile_value,
    is_expression_text,
)
from localcloud.workflows.stdlib import REGISTRY, CallContext, StdFunction, register
from localcloud.workflows.values import INT_MAX, INT_MIN


class Frame:
    """A real, minimal scope: variables in a dict, extra names (subworkflows) in another."""

    def __init__(self, variables: dict[str, Any] | None = None, names: dict[str, Any] | None = None):
        self.variables = variables or {}
        self.names = names or {}

    def get_variable(self, name: str) -> Any:
        return self.variables[name]

    def has_variable(self, name: str) -> bool:
        return name in self.variables

    def resolve_name(self, dotted: str) -> Any:
        return self.names[dotted]


def ev(text: str, **variables: Any) -> Any:
    return compile_expression(text).evaluate(Frame(variables), CallContext())


def err(text: str, **variables: Any) -> dict:
    with pytest.raises(WorkflowError) as info:
        ev(text, **variables)
    return info.value.value


def tags(text: str, **variables: Any) -> list[str]:
    return err(text, **variables)["tags"]


# --- literals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("42", 42),
        ("-7", -7),
        ("3.25", 3.25),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        (".5", 0.5),
        ('"hi"', "hi"),
        ("'single'", "single"),
        (r'"a\"b\\c\n\t"', 'a"b\\c\n\t'),
        (r'"\u00e9\u3042"', "éあ"),
        ('"漫画"', "漫画"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("null", None),
        ("[]", []),
        ("[1, 2.0, \"x\", null, [true]]", [1, 2.0, "x", None, [True]]),
        ('{"a": 1, "b": {"c": [2]}}', {"a": 1, "b": {"c": [2]}}),
        ("{}", {}),
        ("[1, 2,]", [1, 2]),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_integer_literal_limits() -> None:
    assert ev(str(INT_MAX)) == INT_MAX
    assert ev(str(INT_MIN)) == INT_MIN
    with pytest.raises(ExpressionSyntaxError, match="64-bit"):
        compile_expression(str(INT_MAX + 1))
    with pytest.raises(ExpressionSyntaxError, match="64-bit"):
        compile_expression("99999999999999999999")


def test_literal_containers_are_copied_when_written_not_when_read() -> None:
    # Copy on write: evaluations share the literal; a write through a variable copies what it changes.
    compiled = compile_expression('{"k": [1]}')
    variables = {"x": compiled.evaluate(Frame(), CallContext())}
    assert variables["x"] is compiled.evaluate(Frame(), CallContext())
    compile_lvalue("x.k[0]").assign(variables, 2, Frame(variables), CallContext())
    assert variables["x"] == {"k": [2]}
    assert compiled.evaluate(Frame(), CallContext()) == {"k": [1]}


def test_map_literal_with_computed_key_and_values() -> None:
    assert ev('{name: i + 1, "fixed": name}', name="panel", i=2) == {"panel": 3, "fixed": "panel"}
    assert "TypeError" in tags("{k: 1}", k=5)


# --- arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2", 3),
        ("1 + 2.0", 3.0),
        ("7 - 10", -3),
        ("6 * 7", 42),
        ("2 * 1.5", 3.0),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),  # '/' always gives a double
        ("7 // 2", 3),
        ("-7 // 2", -4),  # floor division
        ("7.5 // 2", 3.0),
        ("7 % 3", 1),
        ("7.5 % 2", 1.5),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),  # left associative
        ("2 * 3 % 4", 2),
        ("-(2 + 3)", -5),
        ("--4", 4),
        ('"manga" + "ka"', "mangaka"),
    ],
)
def test_arithmetic(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_arithmetic_on_variables_fast_and_slow_paths() -> None:
    assert ev("a + b", a=1, b=2) == 3
    assert ev("a + b", a=1, b=2.5) == 3.5
    assert ev("a * b", a=3, b=0.5) == 1.5
    assert ev("a - b", a=1.5, b=1) == 0.5
    assert ev("a % b", a=-7, b=3) == 2


@pytest.mark.parametrize(
    "text",
    [
        f"{INT_MAX} + 1",
        f"{INT_MIN} - 1",
        f"{INT_MAX} * 2",
        f"-({INT_MIN})",
        f"{INT_MIN} // -1",
    ],
)
def test_integer_overflow_is_value_error(text: str) -> None:
    error = err(text)
    assert "ValueError" in error["tags"]
    assert "overflow" in error["message"]


def test_overflow_detected_on_variables_too() -> None:
    assert "ValueError" in tags("a + 1", a=INT_MAX)
    assert "ValueError" in tags("a * a", a=2**40)


@pytest.mark.parametrize("text", ["1 / 0", "1 // 0", "1 % 0", "1.0 / 0.0", "1 % 0.0", "x / 0", "x % 0"])
def test_division_by_zero(text: str) -> None:
    assert "ZeroDivisionError" in tags(text, x=3)


@pytest.mark.parametrize(
    "text",
    [
        '"a" + 1',
        '1 + "a"',
        "[1] + [2]",
        '{"a": 1} + {"b": 2}',
        "null + 1",
        "true + 1",
        '"a" - "b"',
        '"ab" * 2',
        '"6" / 2',
        '"6" // 2',
        '"6" % 2',
        "-\"x\"",
        "-true",
        "-null",
    ],
)
def test_arithmetic_type_errors(text: str) -> None:
    error = err(text)
    assert error["tags"] == ["TypeError"]


def test_type_error_message_names_the_types() -> None:
    assert err('"a" + 1')["message"] == "unsupported operand types for +: 'string' and 'integer'"


# --- comparisons, logic, membership -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 == 1", True),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ('"a" == "a"', True),
        ('1 == "1"', False),  # mismatched types are simply unequal
        ("true == 1", False),
        ("null == null", True),
        ("null == 0", False),
        ("[1, 2] == [1, 2.0]", True),
        ('{"a": [1]} == {"a": [1]}', True),
        ('{"a": 1} == {"a": 1, "b": 2}', False),
        ("1 < 2", True),
        ("2 <= 2.0", True),
        ("3 > 2.5", True),
        ("3 >= 4", False),
        ('"apple" < "banana"', True),
        ('"b" >= "a"', True),
        ("true and true", True),
        ("true and false", False),
        ("false or true", True),
        ("AND_ok", None),
    ],
)
def test_comparisons_and_logic(text: str, expected: Any) -> None:
    if text == "AND_ok":
        assert ev("true AND NOT false OR false") is True
        return
    assert ev(text) is expected


@pytest.mark.parametrize("text", ['1 < "2"', "null < 1", "[1] < [2]", "true < false", '{"a": 1} > {}'])
def test_ordering_mismatched_types_is_type_error(text: str) -> None:
    assert tags(text) == ["TypeError"]


def test_logic_needs_booleans() -> None:
    assert tags("1 and true") == ["TypeError"]
    assert tags("true and 1") == ["TypeError"]
    assert tags("null or true") == ["TypeError"]
    assert tags("false or 0") == ["TypeError"]
    assert tags("not 1") == ["TypeError"]
    assert tags('not ""') == ["TypeError"]


def test_logic_short_circuits() -> None:
    # The right side would fail (undefined variable) if evaluated.
    assert ev("false and missing") is False
    assert ev("true or missing") is True


def test_not_binds_tighter_than_comparison() -> None:
    # Workflows' precedence table puts `not` above arithmetic and comparison.
    assert ev("not false == true") is True
    assert tags("not 1 == 1") == ["TypeError"]
    assert ev("not (1 == 2)") is True


def test_mixed_case_keywords_are_not_operators() -> None:
    # `And` is just an (undefined) name, so this does not parse as a logical expression.
    with pytest.raises(ExpressionSyntaxError):
        compile_expression("true And false")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2 in [1, 2, 3]", True),
        ("2.0 in [1, 2]", True),
        ('"2" in [1, 2]', False),
        ('"a" in {"a": 1}', True),
        ('"b" in {"a": 1}', False),
        ("null in [null]", True),
        ("[1] in [[1], [2]]", True),
        ("not (4 in [1])", True),
    ],
)
def test_in(text: str, expected: bool) -> None:
    assert ev(text) is expected


def test_in_errors() -> None:
    assert tags('"a" in "abc"') == ["TypeError"]
    assert tags("1 in {\"a\": 1}") == ["TypeError"]
    assert tags("1 in null") == ["TypeError"]


def test_error_tags_in_error_map() -> None:
    assert ev('"KeyError" in e.tags', e={"tags": ["KeyError", "LookupError"]}) is True


# --- variables, properties, indexes ------------------------------------------------------------


def test_property_and_index_access() -> None:
    page = {"panels": [{"bubbles": ["hi", "yo"]}, {"bubbles": []}], "title": "Ch.1", "k-ey": 5}
    assert ev("page.title", page=page) == "Ch.1"
    assert ev('page["title"]', page=page) == "Ch.1"
    assert ev("page.panels[0].bubbles[1]", page=page) == "yo"
    assert ev('page["panels"][i]["bubbles"]', page=page, i=1) == []
    assert ev('page["k-ey"]', page=page) == 5
    assert ev("len(page.panels[i - 1].bubbles)", page=page, i=1) == 2
    assert ev("[10, 20][1]") == 20
    assert ev('{"a": {"b": 7}}.a.b') == 7
    assert ev("e.in", e={"in": 1}) == 1  # keywords are fine as property names


def test_undefined_variable_is_key_error() -> None:
    error = err("missing + 1")
    assert error["tags"] == ["KeyError", "LookupError"]
    assert "missing" in error["message"]


def test_missing_key_is_key_error() -> None:
    error = err("m.nope", m={"a": 1})
    assert error["tags"] == ["KeyError", "LookupError"]
    assert "nope" in error["message"]
    assert err('m["nope"]', m={})["tags"] == ["KeyError", "LookupError"]
    assert err("m.a.nope", m={"a": {}})["tags"] == ["KeyError", "LookupError"]


@pytest.mark.parametrize("index", [3, -1, 100])
def test_list_index_out_of_range(index: int) -> None:
    error = err("xs[i]", xs=[1, 2, 3], i=index)
    assert error["tags"] == ["IndexError", "LookupError"]
    assert str(index) in error["message"]


@pytest.mark.parametrize(
    "text, variables",
    [
        ("xs[1.0]", {"xs": [1, 2]}),
        ('xs["0"]', {"xs": [1]}),
        ("m[1]", {"m": {"1": 2}}),
        ("s[0]", {"s": "abc"}),
        ("n.a", {"n": None}),
        ("n[0]", {"n": None}),
        ("s.length", {"s": "abc"}),
        ("xs.a", {"xs": [1]}),
        ("i.x", {"i": 5}),
        ("xs[true]", {"xs": [1, 2]}),
    ],
)
def test_access_type_errors(text: str, variables: dict) -> None:
    assert tags(text, **variables) == ["TypeError"]


def test_non_variable_dotted_names_resolve_to_library_values() -> None:
    predicate = ev("http.default_retry_predicate")
    assert predicate is REGISTRY["http.default_retry_predicate"]
    assert ev("http.default_retry.max_retries") == 5
    assert ev("http.default_retry.backoff") == {"initial_delay": 1, "max_delay": 60, "multiplier": 1.25}
    assert ev("retry.default_backoff.multiplier") == 1.25
    assert ev("get_type(sys.get_env)") == "function"


def test_library_constants_cannot_be_corrupted_by_a_workflow_write() -> None:
    variables = {"policy": ev("http.default_retry")}
    compile_lvalue("policy.max_retries").assign(variables, 99, Frame(variables), CallContext())
    compile_lvalue("policy.backoff.max_delay").assign(variables, 1, Frame(variables), CallContext())
    assert variables["policy"]["max_retries"] == 99 and variables["policy"]["backoff"]["max_delay"] == 1
    assert ev("http.default_retry.max_retries") == 5
    assert ev("http.default_retry.backoff.max_delay") == 60


def test_variables_shadow_library_modules() -> None:
    # A variable named like a module wins for plain access.
    frame = Frame({"text": {"body": "ok"}})
    assert compile_expression("text.body").evaluate(frame, CallContext()) == "ok"


def test_scope_resolve_name_for_subworkflow_refs() -> None:
    class Sub:
        blocking = False

        def invoke(self, ctx: Any, args: list | None = None, kwargs: dict | None = None) -> Any:
            return sum(args or [])

    frame = Frame({"x": 2}, {"add_all": Sub(), "cfg.limit": {"n": 3}})
    assert compile_expression("add_all(x, 3, 4)").evaluate(frame, CallContext()) == 9
    assert compile_expression("cfg.limit.n").evaluate(frame, CallContext()) == 3
    assert compile_expression("get_type(add_all)").evaluate(frame, CallContext()) == "function"


def test_unknown_function_is_key_error() -> None:
    error = err("nosuch.fn(1)")
    assert error["tags"] == ["KeyError", "LookupError"]
    assert "nosuch.fn" in error["message"]


def test_calling_a_non_function_is_type_error() -> None:
    frame = Frame({}, {"notfn": 5})
    with pytest.raises(WorkflowError) as info:
        compile_expression("notfn(1)").evaluate(frame, CallContext())
    assert info.value.value["tags"] == ["TypeError"]


# --- calls and builtins in expressions ---------------------------------------------------------


def test_builtin_calls() -> None:
    assert ev('len("漫画")') == 2
    assert ev("len(xs)", xs=[1, 2, 3]) == 3
    assert ev('len({"a": 1})') == 1
    assert ev('keys({"a": 1, "b": 2})') == ["a", "b"]
    assert ev('int("42") + 1') == 43
    assert ev("int(3.9)") == 3
    assert ev("int(-3.9)") == -3
    assert ev('double("2.5") * 2') == 5.0
    assert ev("string(12) + string(1.5) + string(true)") == "121.5true"
    assert ev('bool("true")') is True
    assert ev('get_type(1) + get_type(1.0) + get_type("") + get_type(null)') == "integerdoublestringnull"
    assert ev("type([]) + type({}) + type(true)") == "listmapboolean"


def test_default_with_undefined_variable_and_missing_keys() -> None:
    assert ev("default(nothing, 5)") == 5
    assert ev("default(m.k, 5)", m={}) == 5
    assert ev("default(m.a.b, 5)", m={"a": {}}) == 5
    assert ev("default(m.k, 5)", m={"k": None}) == 5
    assert ev("default(m.k, 5)", m={"k": 0}) == 0
    assert ev('default(m["k"], "x")', m={}) == "x"
    assert ev("default(x, 5)", x=False) is False


def test_default_does_not_hide_other_errors() -> None:
    assert tags("default(1 / 0, 5)") == ["ZeroDivisionError", "ArithmeticError"]
    assert tags("default(xs[5], 1)", xs=[]) == ["IndexError", "LookupError"]
    assert tags("default(n.a, 1)", n=3) == ["TypeError"]


def test_default_and_if_arity_checked_at_compile_time() -> None:
    with pytest.raises(ExpressionSyntaxError, match="default"):
        compile_expression("default(1)")
    with pytest.raises(ExpressionSyntaxError, match="if"):
        compile_expression("if(true, 1)")


def test_if_is_lazy_and_needs_boolean() -> None:
    assert ev("if(x > 1, \"big\", \"small\")", x=5) == "big"
    assert ev("if(false, 1 / 0, 2)") == 2
    assert tags("if(1, 2, 3)") == ["TypeError"]


def test_call_argument_errors_name_the_argument() -> None:
    error = err("text.split(\"a,b\")")
    assert error["tags"] == ["TypeError"]
    assert "separator" in error["message"]
    error = err("len(1, 2)")
    assert error["tags"] == ["TypeError"]


def test_nested_calls() -> None:
    assert ev('text.to_upper(text.substring("manga", 0, 3))') == "MAN"
    assert ev('len(text.split(story, " "))', story="one two three") == 3


# --- blocking functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["http.get(\"http://x\")", "sys.sleep(1)", "sys.log(\"x\")", "events.await_callback(cb)"]
)
def test_blocking_calls_refused_in_expressions_at_compile_time(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="blocking"):
        compile_expression(text)


def test_blocking_function_registered_later_refused_at_runtime() -> None:
    # Compiled before the executor registered it: the service's rule still holds when evaluated.
    compiled = compile_expression("test_only.wait_a_bit(1)")
    register(StdFunction("test_only.wait_a_bit", lambda ctx, s: s, ["seconds"], 1, blocking=True))
    try:
        with pytest.raises(WorkflowError) as info:
            compiled.evaluate(Frame(), CallContext())
        assert info.value.value["tags"] == ["TypeError"]
        assert "blocking" in info.value.value["message"]
        with pytest.raises(ExpressionSyntaxError, match="blocking"):
            compile_expression("test_only.wait_a_bit(1)")
    finally:
        del REGISTRY["test_only.wait_a_bit"]


def test_referencing_blocking_function_without_calling_is_allowed() -> None:
    assert ev("get_type(sys.log)") == "function"


# --- syntax errors and limits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, position",
    [
        ("", 0),
        ("1 +", 3),
        ("(1 + 2", 6),
        ("[1, 2", 5),
        ('"abc', 0),
        ("a = 1", 2),
        ("1 2", 2),
        ("a.", 2),
        ("$x", 0),
        ("{1: 2}", 0),
        ('"\\q"', 1),
        ("+1", 0),
        ("(1)(2)", 3),
        ("12abc", 0),
    ],
)
def test_syntax_errors_have_positions(text: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_expression(text)
    assert info.value.position == position
    assert info.value.message


def test_expression_length_limit() -> None:
    ok = "1" + " + 1" * ((MAX_EXPRESSION_LENGTH - 1) // 4)
    assert len(ok) <= MAX_EXPRESSION_LENGTH
    assert ev(ok) == 1 + (MAX_EXPRESSION_LENGTH - 1) // 4
    too_long = "x" * (MAX_EXPRESSION_LENGTH + 1)
    with pytest.raises(ExpressionSyntaxError, match=str(MAX_EXPRESSION_LENGTH)):
        compile_expression(too_long)


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ExpressionSyntaxError, match="nested"):
        compile_expression("(" * 150 + "1" + ")" * 150)


def test_multiline_expression() -> None:
    assert ev('"SELECT * " +\n  "FROM t"') == "SELECT * FROM t"


# --- compile_value ----------------------------------------------------------------------------------


def test_compile_value_walks_yaml_values() -> None:
    value = {
        "url": "${base + \"/panels\"}",
        "query": {"page": "${page + 1}", "fixed": "yes"},
        "list": [1, "${page}", "plain ${not_expr}", None, True, 2.5],
        "${dynamic}": "key from expression",
    }
    compiled = compile_value(value)
    assert not compiled.is_constant
    result = compiled.evaluate(Frame({"base": "http://h", "page": 2, "dynamic": "k"}), CallContext())
    assert result == {
        "url": "http://h/panels",
        "query": {"page": 3, "fixed": "yes"},
        "list": [1, 2, "plain ${not_expr}", None, True, 2.5],
        "k": "key from expression",
    }


def test_compile_value_constants_are_shared_and_copied_on_write() -> None:
    compiled = compile_value({"a": [1, 2], "b": "text"})
    assert compiled.is_constant
    variables = {"v": compiled.evaluate(Frame(), CallContext())}
    compile_lvalue("v.a[1]").assign(variables, 3, Frame(variables), CallContext())
    assert variables["v"] == {"a": [1, 3], "b": "text"}
    assert compiled.evaluate(Frame(), CallContext()) == {"a": [1, 2], "b": "text"}
    assert compile_value(5).evaluate(Frame(), CallContext()) == 5
    assert compile_value(None).evaluate(Frame(), CallContext()) is None
    assert compile_value("${1 + 1}").evaluate(Frame(), CallContext()) == 2


def test_compile_value_non_string_dynamic_key_is_type_error() -> None:
    with pytest.raises(WorkflowError) as info:
        compile_value({"${n}": 1}).evaluate(Frame({"n": 3}), CallContext())
    assert info.value.value["tags"] == ["TypeError"]


def test_compile_value_syntax_error_propagates() -> None:
    with pytest.raises(ExpressionSyntaxError):
        compile_value({"a": ["${1 +}"]})


def test_is_expression_text() -> None:
    assert is_expression_text("${a}")
    assert not is_expression_text("a ${b}")
    assert not is_expression_text(5)
