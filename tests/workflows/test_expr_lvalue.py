"""Assignment targets: parsing and the service's assignment semantics."""
from __future__ import annotations

from typing import Any

import pytest

from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.expr import ExpressionSyntaxError, compile_lvalue
from localcloud.workflows.stdlib import CallContext


class Frame:
    def __init__(self, variables: dict[str, Any]):
        self.variables = variables

    def get_variable(self, name: str) -> Any:
        return self.variables[name]

    def has_variable(self, name: str) -> bool:
        return name in self.variables

    def resolve_name(self, dotted: str) -> Any:
        raise KeyError(dotted)


def assign(target: str, variables: dict, value: Any) -> dict:
    compile_lvalue(target).assign(variables, value, Frame(variables), CallContext())
    return variables


def assign_error(target: str, variables: dict, value: Any) -> dict:
    with pytest.raises(WorkflowError) as info:
        assign(target, variables, value)
    return info.value.value


def test_plain_variable() -> None:
    assert assign("x", {}, 5) == {"x": 5}
    assert assign("x", {"x": 1}, "new") == {"x": "new"}


def test_map_keys_by_property_and_index() -> None:
    v = {"my_map": {"Key1": "hello"}, "key_str": "Key"}
    assign("my_map.Key1", v, "Value1")
    assign('my_map["Key2"]', v, "Value2")
    assign('my_map[key_str + "3"]', v, "Value3")
    assert v["my_map"] == {"Key1": "Value1", "Key2": "Value2", "Key3": "Value3"}


def test_intermediate_maps_are_created() -> None:
    v = {"page": {}}
    assign("page.layout.grid.rows", v, 3)
    assert v == {"page": {"layout": {"grid": {"rows": 3}}}}


def test_list_elements_and_nested_paths() -> None:
    v = {"pages": [{"panels": [{"text": ""}, {"text": ""}]}], "i": 0}
    assign("pages[0].panels[i + 1].text", v, "ドン")
    assert v["pages"][0]["panels"][1]["text"] == "ドン"
    assign("pages[0].panels[0]", v, None)
    assert v["pages"][0]["panels"][0] is None


def test_index_expressions_evaluated_before_modification() -> None:
    v = {"xs": [0, 0, 0], "i": 1}
    assign("xs[i]", v, 9)
    assert v["xs"] == [0, 9, 0]


def test_assigned_containers_are_shared_until_written() -> None:
    # Copy on write: assignment shares; a write through one holder copies only what it changes.
    v = {"m": {}, "source": {"a": [1], "b": [5]}}
    assign("copy", v, v["source"])
    assign("m.k", v, v["source"])
    assert v["copy"] is v["source"] and v["m"]["k"] is v["source"]
    assign("copy.a[0]", v, 2)
    assert v["copy"] == {"a": [2], "b": [5]}
    assert v["source"] == {"a": [1], "b": [5]} and v["m"]["k"] == {"a": [1], "b": [5]}
    assert v["copy"]["b"] is v["source"]["b"]  # the untouched list is still shared
    assign("source.b[0]", v, 6)
    assert v["copy"]["b"] == [5] and v["m"]["k"]["b"] == [5]


def test_a_container_held_once_is_written_in_place() -> None:
    v = {"xs": [0, 0, 0]}
    xs = id(v["xs"])
    assign("xs[1]", v, 7)
    assert id(v["xs"]) == xs and v["xs"] == [0, 7, 0]


def test_undefined_root_is_key_error() -> None:
    error = assign_error("nope.a", {}, 1)
    assert error["tags"] == ["KeyError", "LookupError"]
    assert "nope" in error["message"]


@pytest.mark.parametrize("index", [2, -1])
def test_list_index_out_of_range(index: int) -> None:
    error = assign_error("xs[i]", {"xs": [1, 2], "i": index}, 0)
    assert error["tags"] == ["IndexError", "LookupError"]
    error = assign_error("xs[i].a", {"xs": [1, 2], "i": index}, 0)
    assert error["tags"] == ["IndexError", "LookupError"]


@pytest.mark.parametrize(
    "target, variables",
    [
        ("s.a", {"s": "text"}),
        ("n.a", {"n": None}),
        ("n.a.b", {"n": {"a": 5}}),
        ("xs.a", {"xs": [1]}),
        ('xs["0"]', {"xs": [1]}),
        ("m[0]", {"m": {}}),
        ("m[0].x", {"m": {}}),
        ("xs[0.0]", {"xs": [1]}),
        ("xs[k].a", {"xs": [{}], "k": "a"}),
    ],
)
def test_type_errors(target: str, variables: dict) -> None:
    assert assign_error(target, variables, 1)["tags"] == ["TypeError"]


def test_index_expression_errors_propagate() -> None:
    assert assign_error("xs[missing]", {"xs": [1]}, 0)["tags"] == ["KeyError", "LookupError"]


@pytest.mark.parametrize("target", ["", "1", "a.", "a[", "a[1", "a +", "a.b(1)", '"a"', "a..b", "a[]"])
def test_bad_targets(target: str) -> None:
    with pytest.raises(ExpressionSyntaxError):
        compile_lvalue(target)


def test_lvalue_exposes_root_and_text() -> None:
    lv = compile_lvalue("a.b[0]")
    assert lv.root == "a"
    assert lv.text == "a.b[0]"
