"""Standard library: argument binding, every pure function, its type rules and error tags."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import pytest

from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.stdlib import CONSTANTS, REGISTRY, CallContext, StdFunction


def call(name: str, *args: Any, ctx: CallContext | None = None, **kwargs: Any) -> Any:
    return REGISTRY[name].invoke(ctx or CallContext(), list(args), kwargs or None)


def fails(name: str, *args: Any, **kwargs: Any) -> dict:
    with pytest.raises(WorkflowError) as info:
        call(name, *args, **kwargs)
    return info.value.value


# --- binding ------------------------------------------------------------------------------------


def test_positional_and_named_binding() -> None:
    assert call("text.split", "a,b", ",") == ["a", "b"]
    assert REGISTRY["text.split"].invoke(CallContext(), None, {"source": "a;b", "separator": ";"}) == ["a", "b"]
    assert REGISTRY["text.split"].invoke(CallContext(), ["a-b"], {"separator": "-"}) == ["a", "b"]


def test_missing_argument_is_named() -> None:
    error = fails("text.split", "a,b")
    assert error["tags"] == ["TypeError"]
    assert "'separator'" in error["message"]
    error = REGISTRY["text.split"].invoke
    with pytest.raises(WorkflowError) as info:
        error(CallContext(), None, {"source": "x"})
    assert "'separator'" in info.value.value["message"]


def test_unknown_and_duplicate_and_extra_arguments() -> None:
    with pytest.raises(WorkflowError) as info:
        REGISTRY["text.split"].invoke(CallContext(), None, {"source": "x", "separator": ",", "limit": 2})
    assert info.value.value["tags"] == ["TypeError"] and "'limit'" in info.value.value["message"]
    with pytest.raises(WorkflowError) as info:
        REGISTRY["text.split"].invoke(CallContext(), ["x"], {"source": "y", "separator": ","})
    assert "'source'" in info.value.value["message"]
    assert "at most 2" in fails("text.split", "a", ",", "extra")["message"]
    with pytest.raises(WorkflowError) as info:
        REGISTRY["text.split"].invoke(CallContext(), ["a", ",", "b"], {"x": 1})
    assert info.value.value["tags"] == ["TypeError"]


def test_optional_arguments_use_defaults() -> None:
    assert call("base64.encode", b"ab") == "YWI="
    assert call("base64.encode", b"ab", padding=False) == "YWI"


def test_stdfunction_is_usable_for_registration() -> None:
    fn = StdFunction("x.double_it", lambda ctx, v: v * 2, ["value"], 1)
    assert fn.invoke(CallContext(), [4]) == 8
    assert not fn.blocking
    assert repr(fn) == "<function x.double_it>"


# --- builtins -------------------------------------------------------------------------------------


def test_len() -> None:
    assert call("len", "ドン!") == 3
    assert call("len", [1, 2]) == 2
    assert call("len", {"a": 1}) == 1
    assert call("len", b"\x00\x01") == 2
    for bad in (1, 1.5, None, True):
        assert fails("len", bad)["tags"] == ["TypeError"]


def test_keys() -> None:
    assert call("keys", {"b": 1, "a": 2}) == ["b", "a"]
    assert fails("keys", [1])["tags"] == ["TypeError"]


@pytest.mark.parametrize("value, expected", [("42", 42), (" -7 ", -7), (3.99, 3), (-3.99, -3), (5, 5)])
def test_int(value: Any, expected: int) -> None:
    assert call("int", value) == expected


@pytest.mark.parametrize(
    "value, tag",
    [("4.5", "ValueError"), ("abc", "ValueError"), ("", "ValueError"), ("99999999999999999999", "ValueError"),
     (1e30, "ValueError"), (float("inf"), "ValueError"), (None, "TypeError"), (True, "TypeError"), ([], "TypeError")],
)
def test_int_errors(value: Any, tag: str) -> None:
    assert fails("int", value)["tags"] == [tag]


@pytest.mark.parametrize("value, expected", [("2.5", 2.5), ("1e3", 1000.0), (" 7 ", 7.0), (3, 3.0), (1.5, 1.5)])
def test_double(value: Any, expected: float) -> None:
    result = call("double", value)
    assert result == expected and type(result) is float


@pytest.mark.parametrize("value, tag", [("x", "ValueError"), ("1.2.3", "ValueError"), (None, "TypeError"), (False, "TypeError")])
def test_double_errors(value: Any, tag: str) -> None:
    assert fails("double", value)["tags"] == [tag]


def test_string() -> None:
    assert call("string", 5) == "5"
    assert call("string", 2.5) == "2.5"
    assert call("string", True) == "true"
    assert call("string", "s") == "s"
    assert fails("string", {"a": 1})["tags"] == ["TypeError"]


def test_bool() -> None:
    assert call("bool", "TRUE") is True
    assert call("bool", "false") is False
    assert call("bool", True) is True
    assert fails("bool", "yes")["tags"] == ["ValueError"]
    assert fails("bool", 1)["tags"] == ["TypeError"]


def test_get_type_and_type() -> None:
    assert call("get_type", [1]) == "list"
    assert call("type", b"") == "bytes"


def test_default_and_if_as_plain_functions() -> None:
    assert call("default", None, 3) == 3
    assert call("default", 0, 3) == 0
    assert call("if", True, "a", "b") == "a"
    assert fails("if", "yes", 1, 2)["tags"] == ["TypeError"]


# --- text -----------------------------------------------------------------------------------------


def test_text_find_all() -> None:
    assert call("text.find_all", "ababab", "ab") == [
        {"index": 0, "match": "ab"}, {"index": 2, "match": "ab"}, {"index": 4, "match": "ab"}]
    assert call("text.find_all", "aaaa", "aa") == [{"index": 0, "match": "aa"}, {"index": 2, "match": "aa"}]
    assert call("text.find_all", "漫画の漫画", "漫画")[1]["index"] == 3  # character, not byte, offsets
    assert call("text.find_all", "abc", "z") == []
    assert fails("text.find_all", "abc", "")["tags"] == ["ValueError"]
    assert fails("text.find_all", 5, "a")["tags"] == ["TypeError"]


def test_text_regex_functions() -> None:
    assert call("text.find_all_regex", "p1 p22 x", r"p(\d+)") == [
        {"index": 0, "match": "p1"}, {"index": 3, "match": "p22"}]
    assert call("text.match_regex", "panel-12", r"\d+$") is True
    assert call("text.match_regex", "panel", r"^\d") is False
    assert call("text.replace_all_regex", "a1b22", r"\d+", "#") == "a#b#"
    # Doc: "Backreferences are not supported" -> the replacement is inserted literally.
    assert call("text.replace_all_regex", "John Smith", r"(\w+) (\w+)", r"\2, \1") == r"\2, \1"
    assert call("text.replace_all_regex", "ab", r"b", r"\\") == "a\\\\"
    assert call("text.replace_all_regex", "ab", "", "-") == "-a-b-"
    assert fails("text.match_regex", "x", "(")["tags"] == ["ValueError"]
    assert fails("text.replace_all_regex", "x", "(", "y")["tags"] == ["ValueError"]
    assert fails("text.find_all_regex", "x", 1)["tags"] == ["TypeError"]


def test_text_replace_split_substring_case() -> None:
    assert call("text.replace_all", "a-b-c", "-", "+") == "a+b+c"
    assert fails("text.replace_all", "abc", "", "x")["tags"] == ["ValueError"]
    assert call("text.split", "a,,b", ",") == ["a", "", "b"]
    assert fails("text.split", "abc", "")["tags"] == ["ValueError"]
    assert call("text.substring", "manga", 1, 3) == "an"
    assert call("text.substring", "manga", -5, 100) == "manga"
    assert call("text.substring", "manga", 4, 2) == ""
    assert call("text.substring", "manga", -3, -1) == "ng"
    assert fails("text.substring", "manga", 1.0, 2)["tags"] == ["TypeError"]
    assert fails("text.substring", "manga", 1, "2")["tags"] == ["TypeError"]
    assert call("text.to_lower", "MaNgA") == "manga"
    assert call("text.to_upper", "MaNgA") == "MANGA"
    assert fails("text.to_upper", None)["tags"] == ["TypeError"]


def test_text_url_coding() -> None:
    assert call("text.url_encode", "a b&c/é~") == "a%20b%26c%2F%C3%A9~"
    assert call("text.url_encode_plus", "a b&c") == "a+b%26c"
    assert call("text.url_decode", "a%20b%2Bc+d") == "a b+c+d"
    assert call("text.url_decode", "%E6%BC%AB") == "漫"
    assert fails("text.url_decode", "100%")["tags"] == ["ValueError"]
    assert fails("text.url_decode", "%ff")["tags"] == ["ValueError"]


def test_text_encode_decode() -> None:
    assert call("text.encode", "漫画") == "漫画".encode()
    assert call("text.decode", "漫画".encode()) == "漫画"
    assert call("text.encode", "é", "ISO-8859-1") == b"\xe9"
    assert call("text.decode", b"\xe9", charset="iso-8859-1") == "é"
    assert fails("text.decode", b"\xff")["tags"] == ["ValueError"]
    assert fails("text.encode", "漫", "US-ASCII")["tags"] == ["ValueError"]
    assert fails("text.encode", "x", "KLINGON")["tags"] == ["ValueError"]
    assert fails("text.decode", "not bytes")["tags"] == ["TypeError"]


# --- base64, json, hash ---------------------------------------------------------------------------


def test_base64() -> None:
    assert call("base64.encode", b"\x00\xffmanga") == base64.b64encode(b"\x00\xffmanga").decode()
    assert call("base64.decode", "YWI=") == b"ab"
    assert call("base64.decode", "YWI", False) == b"ab"
    assert fails("base64.decode", "Y!==")["tags"] == ["ValueError"]
    assert fails("base64.encode", "text")["tags"] == ["TypeError"]
    assert fails("base64.decode", b"YWI=")["tags"] == ["TypeError"]
    assert fails("base64.encode", b"x", "yes")["tags"] == ["TypeError"]


def test_json() -> None:
    assert call("json.encode", {"a": [1, 2.5]}) == b'{"a":[1,2.5]}'
    assert call("json.encode_to_string", {"漫": None}) == '{"漫":null}'
    assert call("json.encode_to_string", [1], indent=True) == "[\n    1\n]"
    assert call("json.encode_to_string", {"a": 1}, indent={"prefix": "#", "indent": "\t"}) == '{\n#\t"a": 1\n#}'
    assert call("json.decode", b'{"a": 1}') == {"a": 1}
    assert call("json.decode", "[1.0, true]") == [1.0, True]
    assert fails("json.decode", "{")["tags"] == ["ValueError"]
    assert fails("json.decode", 5)["tags"] == ["TypeError"]
    assert fails("json.encode", {"b": b"x"})["tags"] == ["ValueError"]
    assert fails("json.encode", 1, "yes")["tags"] == ["TypeError"]


def test_json_round_trip_via_text() -> None:
    data = {"title": "海の話", "pages": [{"n": 1, "w": 0.5}]}
    assert call("json.decode", call("json.encode", data)) == data


def test_hash() -> None:
    assert call("hash.compute_checksum", b"abc", "SHA256") == hashlib.sha256(b"abc").digest()
    assert call("hash.compute_checksum", b"abc", "md5") == hashlib.md5(b"abc").digest()
    assert call("hash.compute_hmac", b"k", b"abc", "SHA512") == hmac.new(b"k", b"abc", "sha512").digest()
    assert fails("hash.compute_checksum", b"abc", "CRC32")["tags"] == ["ValueError"]
    assert fails("hash.compute_checksum", "abc", "SHA256")["tags"] == ["TypeError"]
    assert fails("hash.compute_hmac", "k", b"abc", "SHA256")["tags"] == ["TypeError"]
    assert fails("hash.compute_hmac", b"k", "abc", "SHA256")["tags"] == ["TypeError"]


# --- list, map, math ------------------------------------------------------------------------------


def test_list_functions_do_not_modify_arguments() -> None:
    xs = [1, 2]
    assert call("list.concat", xs, 3) == [1, 2, 3]
    assert call("list.prepend", xs, 0) == [0, 1, 2]
    assert call("list.concat", xs, [3]) == [1, 2, [3]]
    assert xs == [1, 2]
    assert fails("list.concat", "ab", 1)["tags"] == ["TypeError"]
    assert fails("list.prepend", None, 1)["tags"] == ["TypeError"]


def test_map_get() -> None:
    m = {"a": {"b": {"c": 1}}, "n": None}
    assert call("map.get", m, "a") == {"b": {"c": 1}}
    assert call("map.get", m, ["a", "b", "c"]) == 1
    assert call("map.get", m, ["a", "x", "c"]) is None
    assert call("map.get", m, ["a", "b", "c", "d"]) is None
    assert call("map.get", m, "n") is None
    assert call("map.get", None, "a") is None
    assert fails("map.get", m, 1)["tags"] == ["TypeError"]
    assert fails("map.get", m, ["a", 1])["tags"] == ["TypeError"]
    assert fails("map.get", [1], "a")["tags"] == ["TypeError"]


def test_map_delete_merge() -> None:
    m = {"a": 1, "b": 2}
    assert call("map.delete", m, "a") == {"b": 2}
    assert call("map.delete", m, "zz") == m
    assert m == {"a": 1, "b": 2}
    assert call("map.merge", {"a": 1, "n": {"x": 1}}, {"b": 2, "n": {"y": 2}}) == {"a": 1, "b": 2, "n": {"y": 2}}
    first = {"n": {"x": 1, "deep": {"p": 1}}, "k": 1}
    merged = call("map.merge_nested", first, {"n": {"y": 2, "deep": {"q": 2}}, "k": {"now": "map"}})
    assert merged == {"n": {"x": 1, "y": 2, "deep": {"p": 1, "q": 2}}, "k": {"now": "map"}}
    assert first == {"n": {"x": 1, "deep": {"p": 1}}, "k": 1}
    assert fails("map.delete", m, 1)["tags"] == ["TypeError"]
    assert fails("map.merge", m, [1])["tags"] == ["TypeError"]
    assert fails("map.merge_nested", None, m)["tags"] == ["TypeError"]


def test_math() -> None:
    assert call("math.abs", -3) == 3 and type(call("math.abs", -3)) is int
    assert call("math.abs", -2.5) == 2.5
    assert fails("math.abs", -(2**63))["tags"] == ["ValueError"]
    assert call("math.floor", 2.7) == 2 and type(call("math.floor", 2.7)) is int
    assert call("math.floor", -2.5) == -3
    assert call("math.floor", 4) == 4
    assert fails("math.floor", float("nan"))["tags"] == ["ValueError"]
    assert call("math.max", 1, 2.5) == 2.5
    assert call("math.min", 1, 2.5) == 1
    assert call("math.sqrt", 9) == 3.0
    assert fails("math.sqrt", -1)["tags"] == ["ValueError"]
    assert fails("math.max", "1", 2)["tags"] == ["TypeError"]
    assert fails("math.abs", None)["tags"] == ["TypeError"]


# --- retry and http predicates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, idempotent, non_idempotent",
    [
        ({"code": 429, "tags": ["HttpError"]}, True, True),
        ({"code": 502, "tags": ["HttpError"]}, True, False),
        ({"code": 503, "tags": ["HttpError"]}, True, True),
        ({"code": 504, "tags": ["HttpError"]}, True, False),
        ({"code": 500, "tags": ["HttpError"]}, False, False),
        ({"code": 404, "tags": ["HttpError"]}, False, False),
        ({"tags": ["ConnectionError"]}, True, False),
        ({"tags": ["ConnectionFailedError"]}, True, True),
        ({"tags": ["TimeoutError"]}, True, False),
        ({"tags": ["KeyError", "LookupError"]}, False, False),
        ("a raised string", False, False),
        ({}, False, False),
    ],
)
def test_http_default_retry_predicates(error: Any, idempotent: bool, non_idempotent: bool) -> None:
    assert call("http.default_retry_predicate", error) is idempotent
    assert call("http.default_retry_predicate_non_idempotent", error) is non_idempotent


def test_retry_always_never() -> None:
    assert call("retry.always", {"tags": []}) is True
    assert call("retry.never", {"code": 503}) is False


def test_retry_constants_have_documented_values() -> None:
    backoff = {"initial_delay": 1, "max_delay": 60, "multiplier": 1.25}
    assert CONSTANTS["retry.default_backoff"] == backoff
    policy = CONSTANTS["http.default_retry"]
    assert policy["predicate"] is REGISTRY["http.default_retry_predicate"]
    assert policy["max_retries"] == 5 and policy["backoff"] == backoff
    policy = CONSTANTS["http.default_retry_non_idempotent"]
    assert policy["predicate"] is REGISTRY["http.default_retry_predicate_non_idempotent"]
    assert policy["max_retries"] == 5 and policy["backoff"] == backoff


# --- sys, time, uuid ------------------------------------------------------------------------------


def test_sys_get_env_and_now() -> None:
    ctx = CallContext(env={"GOOGLE_CLOUD_PROJECT_ID": "local-proj"}, now=lambda: 1700000000.25)
    assert call("sys.get_env", "GOOGLE_CLOUD_PROJECT_ID", ctx=ctx) == "local-proj"
    assert call("sys.get_env", "NOPE", ctx=ctx) is None
    assert call("sys.get_env", "NOPE", "fallback", ctx=ctx) == "fallback"
    assert call("sys.now", ctx=ctx) == 1700000000.25
    assert fails("sys.get_env", 5)["tags"] == ["TypeError"]


def test_sys_log_is_blocking_and_reaches_the_context() -> None:
    entries: list[tuple[str, Any]] = []
    ctx = CallContext(log=lambda severity, payload: entries.append((severity, payload)))
    assert REGISTRY["sys.log"].blocking
    REGISTRY["sys.log"].invoke(ctx, None, {"text": "hello", "severity": "INFO"})
    REGISTRY["sys.log"].invoke(ctx, None, {"json": {"page": 1}, "severity": "warning"})
    REGISTRY["sys.log"].invoke(ctx, None, {"data": 42})
    REGISTRY["sys.log"].invoke(ctx, None, {"data": [1]})
    assert entries == [("INFO", "hello"), ("WARNING", {"page": 1}), ("DEFAULT", "42"), ("DEFAULT", [1])]
    for bad in ({}, {"text": "a", "json": {}}, {"text": "a", "severity": "LOUD"}, {"json": [1]}):
        with pytest.raises(WorkflowError) as info:
            REGISTRY["sys.log"].invoke(ctx, None, bad)
        assert info.value.value["tags"] in (["TypeError"], ["ValueError"])


def test_time_format_and_parse() -> None:
    assert call("time.format", 0) == "1970-01-01T00:00:00.000000Z"
    assert call("time.format", 1700000000.5) == "2023-11-14T22:13:20.500000Z"
    assert call("time.format", 0, "Asia/Tokyo") == "1970-01-01T09:00:00.000000+09:00"
    assert call("time.parse", "2023-11-14T22:13:20.5Z") == 1700000000.5
    assert call("time.parse", "1970-01-01T09:00:00+09:00") == 0.0
    assert call("time.parse", call("time.format", 1234.25, "America/New_York")) == 1234.25
    assert fails("time.format", 0, "Mars/Olympus")["tags"] == ["ValueError"]
    assert fails("time.format", "0")["tags"] == ["TypeError"]
    assert fails("time.parse", "yesterday")["tags"] == ["ValueError"]
    assert fails("time.parse", "2023-11-14T22:13:20")["tags"] == ["ValueError"]
    assert fails("time.format", 1e20)["tags"] == ["ValueError"]


def test_uuid_generate() -> None:
    a = call("uuid.generate")
    b = call("uuid.generate")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a)
    assert a != b


def test_every_registered_pure_function_is_covered_here() -> None:
    # Guards against adding a library function without a test in this module.
    source = open(__file__, encoding="utf-8").read()
    pure = [name for name, fn in REGISTRY.items() if fn.fn.__module__.startswith("localcloud.workflows.stdlib")]
    assert len(pure) > 40
    untested = [name for name in pure if f'"{name}"' not in source]
    assert untested == []
