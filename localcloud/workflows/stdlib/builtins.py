"""Expression helpers without a module prefix: len, keys, int, double, string, bool, get_type/type.

``default`` and ``if`` need lazy arguments, so the expression compiler handles them itself; they are
also registered here so they can be named and called with plain values.
"""
from __future__ import annotations

import math
import re
from typing import Any

from localcloud.workflows.stdlib._core import CallContext, Library
from localcloud.workflows.values import (
    INT_MAX,
    INT_MIN,
    raise_type,
    raise_value,
    to_string,
    type_name,
)

library = Library()

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


@library.define("len", ["value"])
def wf_len(ctx: CallContext, value: Any) -> int:
    t = type(value)
    if t is str or t is list or t is dict or t is bytes:
        return len(value)
    raise_type(f"len() expects a string, list, map or bytes, got {type_name(value)}")


@library.define("keys", ["map"])
def wf_keys(ctx: CallContext, map: Any) -> list[str]:
    if type(map) is not dict:
        raise_type(f"keys() expects a map, got {type_name(map)}")
    return list(map)


@library.define("int", ["value"])
def wf_int(ctx: CallContext, value: Any) -> int:
    t = type(value)
    if t is int:
        return value
    if t is float:
        if math.isnan(value) or math.isinf(value):
            raise_value(f"int() cannot convert {value!r} to an integer")
        r = int(value)  # truncation toward zero, like the service
        if not INT_MIN <= r <= INT_MAX:
            raise_value(f"int(): {value!r} is out of the 64-bit integer range")
        return r
    if t is str:
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            raise_value(f"int(): cannot parse {value!r} as an integer")
        r = int(text)
        if not INT_MIN <= r <= INT_MAX:
            raise_value(f"int(): {value!r} is out of the 64-bit integer range")
        return r
    raise_type(f"int() expects a string, integer or double, got {type_name(value)}")


@library.define("double", ["value"])
def wf_double(ctx: CallContext, value: Any) -> float:
    t = type(value)
    if t is float:
        return value
    if t is int:
        return float(value)
    if t is str:
        text = value.strip()
        if not _DOUBLE_TEXT.fullmatch(text):
            raise_value(f"double(): cannot parse {value!r} as a double")
        return float(text)
    raise_type(f"double() expects a string, integer or double, got {type_name(value)}")


@library.define("string", ["value"])
def wf_string(ctx: CallContext, value: Any) -> str:
    return to_string(value)


@library.define("bool", ["value"])
def wf_bool(ctx: CallContext, value: Any) -> bool:
    t = type(value)
    if t is bool:
        return value
    if t is str:
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        raise_value(f"bool(): cannot parse {value!r} as a boolean")
    raise_type(f"bool() expects a string or boolean, got {type_name(value)}")


@library.define("get_type", ["value"])
def wf_get_type(ctx: CallContext, value: Any) -> str:
    return type_name(value)


# The brief names it `type`; same behaviour as get_type.
library.define("type", ["value"])(wf_get_type)


@library.define("default", ["value", "default_value"])
def wf_default(ctx: CallContext, value: Any, default_value: Any) -> Any:
    return default_value if value is None else value


@library.define("if", ["condition", "if_true", "if_false"])
def wf_if(ctx: CallContext, condition: Any, if_true: Any, if_false: Any) -> Any:
    if type(condition) is not bool:
        raise_type(f"if() condition must be a boolean, got {type_name(condition)}")
    return if_true if condition else if_false
