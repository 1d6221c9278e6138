"""The ``list``, ``map`` and ``math`` modules. Functions return new values, never modify arguments."""
from __future__ import annotations

import math as _math
from typing import Any

from localcloud.workflows.stdlib._core import CallContext, Library
from localcloud.workflows.values import check_int, raise_type, raise_value, type_name

library = Library()


def _need_list(fn: str, arg: str, value: Any) -> list:
    if type(value) is not list:
        raise_type(f"{fn}: argument '{arg}' must be a list, got {type_name(value)}")
    return value


def _need_map(fn: str, arg: str, value: Any) -> dict:
    if type(value) is not dict:
        raise_type(f"{fn}: argument '{arg}' must be a map, got {type_name(value)}")
    return value


@library.define("list.concat", ["objs", "val"])
def list_concat(ctx: CallContext, objs: Any, val: Any) -> list:
    return _need_list("list.concat", "objs", objs) + [val]


@library.define("list.prepend", ["objs", "val"])
def list_prepend(ctx: CallContext, objs: Any, val: Any) -> list:
    return [val] + _need_list("list.prepend", "objs", objs)


@library.define("map.get", ["map", "keys"])
def map_get(ctx: CallContext, map: Any, keys: Any) -> Any:
    # Safe lookup: null for a missing key or a non-map on the path (or a null map).
    if map is None:
        return None
    _need_map("map.get", "map", map)
    if type(keys) is str:
        path = [keys]
    elif type(keys) is list:
        path = keys
        for k in path:
            if type(k) is not str:
                raise_type(f"map.get: every key in 'keys' must be a string, got {type_name(k)}")
    else:
        raise_type(f"map.get: argument 'keys' must be a string or a list of strings, got {type_name(keys)}")
    current: Any = map
    for k in path:
        if type(current) is not dict:
            return None
        current = current.get(k)
        if current is None:
            return None
    return current


@library.define("map.delete", ["map", "key"])
def map_delete(ctx: CallContext, map: Any, key: Any) -> dict:
    _need_map("map.delete", "map", map)
    if type(key) is not str:
        raise_type(f"map.delete: argument 'key' must be a string, got {type_name(key)}")
    out = dict(map)
    out.pop(key, None)
    return out


@library.define("map.merge", ["first", "second"])
def map_merge(ctx: CallContext, first: Any, second: Any) -> dict:
    _need_map("map.merge", "first", first)
    _need_map("map.merge", "second", second)
    out = dict(first)
    out.update(second)
    return out


def _merge_nested(first: dict, second: dict) -> dict:
    # New maps only where the two meet; everything else is shared (values are copied on write).
    out = dict(first)
    for k, v in second.items():
        if type(v) is dict and type(out.get(k)) is dict:
            out[k] = _merge_nested(out[k], v)
        else:
            out[k] = v
    return out


@library.define("map.merge_nested", ["first", "second"])
def map_merge_nested(ctx: CallContext, first: Any, second: Any) -> dict:
    _need_map("map.merge_nested", "first", first)
    _need_map("map.merge_nested", "second", second)
    return _merge_nested(first, second)


def _need_number(fn: str, arg: str, value: Any) -> int | float:
    t = type(value)
    if t is not int and t is not float:
        raise_type(f"{fn}: argument '{arg}' must be a number, got {type_name(value)}")
    return value


@library.define("math.abs", ["x"])
def math_abs(ctx: CallContext, x: Any) -> int | float:
    _need_number("math.abs", "x", x)
    return check_int(abs(x)) if type(x) is int else abs(x)


@library.define("math.floor", ["x"])
def math_floor(ctx: CallContext, x: Any) -> int:
    _need_number("math.floor", "x", x)
    if type(x) is int:
        return x
    if _math.isnan(x) or _math.isinf(x):
        raise_value(f"math.floor: cannot floor {x!r} to an integer")
    return check_int(_math.floor(x))


def _pick(fn: str, x: Any, y: Any, want_max: bool) -> int | float:
    _need_number(fn, "x", x)
    _need_number(fn, "y", y)
    bigger = x if x >= y else y
    smaller = y if x >= y else x
    return bigger if want_max else smaller


@library.define("math.max", ["x", "y"])
def math_max(ctx: CallContext, x: Any, y: Any) -> int | float:
    return _pick("math.max", x, y, True)


@library.define("math.min", ["x", "y"])
def math_min(ctx: CallContext, x: Any, y: Any) -> int | float:
    return _pick("math.min", x, y, False)


@library.define("math.sqrt", ["x"])
def math_sqrt(ctx: CallContext, x: Any) -> float:
    _need_number("math.sqrt", "x", x)
    if x < 0:
        raise_value(f"math.sqrt: argument 'x' must not be negative, got {x}")
    return _math.sqrt(x)
