"""Value helpers: Workflows type names, equality, JSON text, copying."""
from __future__ import annotations

import pytest

from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.stdlib import REGISTRY
from localcloud.workflows.values import (
    copy_value,
    from_json_text,
    to_json_text,
    to_string,
    type_name,
    values_equal,
)


@pytest.mark.parametrize(
    "value, name",
    [
        (1, "integer"),
        (1.0, "double"),
        ("s", "string"),
        (True, "boolean"),
        (None, "null"),
        ([], "list"),
        ({}, "map"),
        (b"x", "bytes"),
    ],
)
def test_type_name(value: object, name: str) -> None:
    assert type_name(value) == name


def test_type_name_of_function() -> None:
    assert type_name(REGISTRY["len"]) == "function"


def test_values_equal() -> None:
    assert values_equal(1, 1.0)
    assert not values_equal(True, 1)
    assert not values_equal(0, False)
    assert not values_equal(None, 0)
    assert values_equal({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]})
    assert not values_equal({"a": 1}, {"b": 1})
    assert not values_equal([1], [1, 2])


def test_to_json_text() -> None:
    assert to_json_text({"a": [1, 2.5, None, True], "漫": "画"}) == '{"a":[1,2.5,null,true],"漫":"画"}'
    assert to_json_text("x") == '"x"'
    assert to_json_text({"a": 1}, indent=True) == '{\n  "a": 1\n}'


@pytest.mark.parametrize("value", [b"x", {"a": b"x"}, REGISTRY["len"], [float("nan")]])
def test_to_json_text_refuses_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(WorkflowError) as info:
        to_json_text(value)
    assert info.value.value["tags"] in (["TypeError"], ["ValueError"])


def test_from_json_text_keeps_integers_and_doubles_apart() -> None:
    v = from_json_text('{"i": 1, "d": 1.0, "e": 1e2, "big": 99999999999999999999}')
    assert type(v["i"]) is int and type(v["d"]) is float and type(v["e"]) is float
    assert type(v["big"]) is float
    with pytest.raises(WorkflowError) as info:
        from_json_text("{bad")
    assert info.value.value["tags"] == ["ValueError"]
    with pytest.raises(WorkflowError):
        from_json_text("NaN")


def test_copy_value_is_deep() -> None:
    original = {"a": [{"b": 1}]}
    copied = copy_value(original)
    copied["a"][0]["b"] = 2
    assert original == {"a": [{"b": 1}]}


def test_to_string() -> None:
    assert to_string(1.5) == "1.5"
    assert to_string(-3) == "-3"
    assert to_string(False) == "false"
    for bad in (None, [], {}, b"x"):
        with pytest.raises(WorkflowError) as info:
            to_string(bad)
        assert info.value.value["tags"] == ["TypeError"]
