"""Workflows values in Python: type names, the service's equality/ordering rules, JSON text, copying.

Representation: integer=int (64-bit checked), double=float, string=str, boolean=bool, null=None,
list=list, map=dict (string keys), bytes=Python bytes; callables (stdlib functions, subworkflow
refs) are any object with an ``invoke(ctx, args, kwargs)`` method and report type "function".
"""
from __future__ import annotations

import json
import math
from sys import getrefcount
from typing import Any, NoReturn

from localcloud.workflows.errors import WorkflowError

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# Bytes values are plain Python bytes; the alias exists so callers can name the type.
Bytes = bytes

# Tags follow the lead's convention in errors.py: the specific tag first, then its family.
TAGS_KEY = ["KeyError", "LookupError"]
TAGS_INDEX = ["IndexError", "LookupError"]
TAGS_ZERO = ["ZeroDivisionError", "ArithmeticError"]
TAGS_TYPE = ["TypeError"]
TAGS_VALUE = ["ValueError"]


def type_name(v: Any) -> str:
    """The Workflows name of a value's type (what get_type() returns)."""
    t = type(v)
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "double"
    if t is str:
        return "string"
    if v is None:
        return "null"
    if t is list:
        return "list"
    if t is dict:
        return "map"
    if t is bytes or t is bytearray:
        return "bytes"
    if hasattr(v, "invoke"):
        return "function"
    # Tuples may come from Python callers building values; treat them as lists for reporting.
    if t is tuple:
        return "list"
    return t.__name__


def raise_type(message: str) -> NoReturn:
    raise WorkflowError.tagged(TAGS_TYPE, message)


def raise_value(message: str) -> NoReturn:
    raise WorkflowError.tagged(TAGS_VALUE, message)


def raise_key(message: str) -> NoReturn:
    raise WorkflowError.tagged(TAGS_KEY, message)


def raise_index(message: str) -> NoReturn:
    raise WorkflowError.tagged(TAGS_INDEX, message)


def raise_zero(message: str = "division by zero") -> NoReturn:
    raise WorkflowError.tagged(TAGS_ZERO, message)


def check_int(v: int) -> int:
    """Return v if it fits a signed 64-bit integer, else the service's overflow error."""
    if INT_MIN <= v <= INT_MAX:
        return v
    raise_value(f"integer overflow: result {v} does not fit in 64 bits")


def is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def values_equal(a: Any, b: Any) -> bool:
    """Workflows equality: numbers compare across int/double, other types never equal each other."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is list:
            return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
        if ta is dict:
            if len(a) != len(b):
                return False
            for k, x in a.items():
                if k not in b or not values_equal(x, b[k]):
                    return False
            return True
        return a == b
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a == b
    return False


# Copy on write. Workflows values have copy semantics, but the engine never deep-copies on assignment or call:
# a list or map is shared by every variable holding it, and copied (one level) only when it is written to while
# something else still refers to it. CPython's reference count tells: a container held only by the slot we are
# about to write through has exactly the references counted below. Any other holder (a variable, a caller's
# frame, a parallel branch's snapshot, a compiled constant, a loop iterating over it) raises the count, so the
# container is copied first; extra references of our own can only cause a needless copy, never a shared write.


def writable(container: Any, key: Any) -> Any:
    """container[key], copied into its slot first if anything else refers to it (lists and maps)."""
    child = container[key]
    t = type(child)
    # References now: the container's slot, `child`, and getrefcount's own argument.
    if (t is dict or t is list) and getrefcount(child) > 3:
        child = child.copy()
        container[key] = child
    return child


def append_unshared(owner: dict[str, Any], name: str, item: Any) -> bool:
    """`x: ${list.concat(x, item)}` done in place when x's list is held by x alone (O(1), not O(n))."""
    current = owner.get(name)
    # References now: the variable's slot, `current`, and getrefcount's own argument.
    if type(current) is list and getrefcount(current) <= 3:
        current.append(item)
        return True
    return False


def copy_value(v: Any) -> Any:
    """Deep copy of containers; scalars returned as is (for callers that hand values outside the engine)."""
    t = type(v)
    if t is dict:
        return {k: copy_value(x) for k, x in v.items()}
    if t is list:
        return [copy_value(x) for x in v]
    return v


def to_plain(v: Any, where: str = "value") -> Any:
    """Check a value is JSON-encodable the Workflows way and return it ready for json.dumps."""
    t = type(v)
    if v is None or t is bool or t is int or t is str:
        return v
    if t is float:
        if math.isnan(v) or math.isinf(v):
            raise_value(f"{where}: cannot JSON-encode the double {v!r}")
        return v
    if t is list or t is tuple:
        return [to_plain(x, where) for x in v]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                raise_type(f"{where}: map keys must be strings, got {type_name(k)}")
            out[k] = to_plain(x, where)
        return out
    if t is bytes or t is bytearray:
        raise_type(f"{where}: bytes cannot be JSON-encoded; use base64.encode first")
    raise_type(f"{where}: a {type_name(v)} cannot be JSON-encoded")


def to_json_text(v: Any, indent: bool | int | None = None) -> str:
    """Workflows JSON encoding of a value (compact; UTF-8 kept as is; bytes/functions refused)."""
    plain = to_plain(v)
    if indent:
        width = 2 if indent is True else int(indent)
        return json.dumps(plain, ensure_ascii=False, indent=width)
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


def to_json_bytes(v: Any) -> bytes:
    """UTF-8 JSON of a value; a string holding a lone surrogate (which a callback body may carry as
    a \\ud800 escape) goes out escaped instead of failing the execution."""
    try:
        return to_json_text(v).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(to_plain(v), separators=(",", ":")).encode("ascii")


def _decode_int(text: str) -> int | float:
    # JSON integers beyond 64 bits become doubles, as the service does.
    v = int(text)
    if INT_MIN <= v <= INT_MAX:
        return v
    return float(v)


def _refuse_constant(name: str) -> NoReturn:
    raise_value(f"invalid JSON number {name}")


def from_json_text(text: str | bytes) -> Any:
    """Parse JSON text into Workflows values (ints stay integers, fractions/exponents are doubles)."""
    try:
        return json.loads(text, parse_int=_decode_int, parse_constant=_refuse_constant)
    except WorkflowError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise_value(f"invalid JSON: {exc}")


def format_double(v: float) -> str:
    """How string() renders a double: shortest round-trip form."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def to_string(v: Any) -> str:
    """The string() conversion: scalars only (maps/lists/bytes/null are a TypeError)."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_double(v)
    raise_type(f"string() cannot convert a {type_name(v)}; expected integer, double, boolean or string")
