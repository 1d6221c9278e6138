"""The ``text`` module: searching, regexes (RE2-style), splitting, case, URL coding, charsets."""
from __future__ import annotations

import re
import urllib.parse
from functools import lru_cache
from typing import Any

from localcloud.workflows.stdlib._core import CallContext, Library
from localcloud.workflows.values import raise_type, raise_value, type_name

library = Library()

# Charset names the service documents for text.encode/decode, mapped to Python codecs.
_CHARSETS = {
    "UTF-8": "utf-8",
    "UTF-16": "utf-16",
    "UTF-16BE": "utf-16-be",
    "UTF-16LE": "utf-16-le",
    "US-ASCII": "ascii",
    "ISO-8859-1": "latin-1",
    "WINDOWS-1252": "cp1252",
    "SHIFT_JIS": "shift_jis",
    "EUC-JP": "euc_jp",
}


def _need_str(fn: str, arg: str, value: Any) -> str:
    if type(value) is not str:
        raise_type(f"{fn}: argument '{arg}' must be a string, got {type_name(value)}")
    return value


@lru_cache(maxsize=256)
def _regex(fn: str, pattern: str) -> re.Pattern:
    # RE2 syntax is mostly Python's; named groups (?P<n>...) are identical. Compiled once per pattern.
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise_value(f"{fn}: invalid regular expression {pattern!r}: {exc}")


@library.define("text.find_all", ["source", "substr"])
def find_all(ctx: CallContext, source: Any, substr: Any) -> list[dict]:
    _need_str("text.find_all", "source", source)
    _need_str("text.find_all", "substr", substr)
    if substr == "":
        raise_value("text.find_all: argument 'substr' must not be empty")
    out = []
    start = source.find(substr)
    while start != -1:
        out.append({"index": start, "match": substr})
        start = source.find(substr, start + len(substr))
    return out


@library.define("text.find_all_regex", ["source", "regexp"])
def find_all_regex(ctx: CallContext, source: Any, regexp: Any) -> list[dict]:
    _need_str("text.find_all_regex", "source", source)
    _need_str("text.find_all_regex", "regexp", regexp)
    pattern = _regex("text.find_all_regex", regexp)
    return [{"index": m.start(), "match": m.group(0)} for m in pattern.finditer(source)]


@library.define("text.match_regex", ["source", "regexp"])
def match_regex(ctx: CallContext, source: Any, regexp: Any) -> bool:
    _need_str("text.match_regex", "source", source)
    _need_str("text.match_regex", "regexp", regexp)
    # Partial match, as RE2's PartialMatch: anchors in the pattern decide.
    return _regex("text.match_regex", regexp).search(source) is not None


@library.define("text.replace_all", ["source", "substr", "repl"])
def replace_all(ctx: CallContext, source: Any, substr: Any, repl: Any) -> str:
    _need_str("text.replace_all", "source", source)
    _need_str("text.replace_all", "substr", substr)
    _need_str("text.replace_all", "repl", repl)
    if substr == "":
        raise_value("text.replace_all: argument 'substr' must not be empty")
    return source.replace(substr, repl)


@library.define("text.replace_all_regex", ["source", "regexp", "repl"])
def replace_all_regex(ctx: CallContext, source: Any, regexp: Any, repl: Any) -> str:
    _need_str("text.replace_all_regex", "source", source)
    _need_str("text.replace_all_regex", "regexp", regexp)
    _need_str("text.replace_all_regex", "repl", repl)
    pattern = _regex("text.replace_all_regex", regexp)
    # Doc (stdlib text.replace_all_regex): "Backreferences are not supported", so `repl` is
    # inserted literally (a function replacement keeps Python from reading its backslashes).
    return pattern.sub(lambda _m: repl, source)


@library.define("text.split", ["source", "separator"])
def split(ctx: CallContext, source: Any, separator: Any) -> list[str]:
    _need_str("text.split", "source", source)
    _need_str("text.split", "separator", separator)
    if separator == "":
        # Doc (stdlib text.split): "ValueError If separator is an empty string".
        raise_value("text.split: argument 'separator' must not be an empty string")
    return source.split(separator)


@library.define("text.substring", ["source", "start", "end"])
def substring(ctx: CallContext, source: Any, start: Any, end: Any) -> str:
    _need_str("text.substring", "source", source)
    if type(start) is not int:
        raise_type(f"text.substring: argument 'start' must be an integer, got {type_name(start)}")
    if type(end) is not int:
        raise_type(f"text.substring: argument 'end' must be an integer, got {type_name(end)}")
    # Doc (stdlib text.substring): a negative index is an offset from the end of the string; an
    # index outside the string is clamped to its bounds; an empty range gives "".
    n = len(source)
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = min(max(start, 0), n)
    end = min(max(end, 0), n)
    return source[start:end] if start < end else ""


@library.define("text.to_lower", ["source"])
def to_lower(ctx: CallContext, source: Any) -> str:
    return _need_str("text.to_lower", "source", source).lower()


@library.define("text.to_upper", ["source"])
def to_upper(ctx: CallContext, source: Any) -> str:
    return _need_str("text.to_upper", "source", source).upper()


@library.define("text.url_encode", ["source"])
def url_encode(ctx: CallContext, source: Any) -> str:
    _need_str("text.url_encode", "source", source)
    # Only RFC 3986 unreserved characters stay as they are.
    return urllib.parse.quote(source, safe="-_.~")


@library.define("text.url_encode_plus", ["source"])
def url_encode_plus(ctx: CallContext, source: Any) -> str:
    _need_str("text.url_encode_plus", "source", source)
    return urllib.parse.quote_plus(source, safe="-_.~")


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@library.define("text.url_decode", ["source"])
def url_decode(ctx: CallContext, source: Any) -> str:
    _need_str("text.url_decode", "source", source)
    if _BAD_PERCENT.search(source):
        raise_value(f"text.url_decode: malformed percent-escape in {source!r}")
    try:
        return urllib.parse.unquote(source, errors="strict")
    except UnicodeDecodeError:
        raise_value(f"text.url_decode: {source!r} does not decode to UTF-8 text")


def _codec(fn: str, charset: Any) -> str:
    _need_str(fn, "charset", charset)
    codec = _CHARSETS.get(charset.upper())
    if codec is None:
        raise_value(f"{fn}: unsupported charset {charset!r} (supported: {', '.join(_CHARSETS)})")
    return codec


@library.define("text.decode", ["data", "charset"], required=1)
def decode(ctx: CallContext, data: Any, charset: Any = "UTF-8") -> str:
    if type(data) is not bytes:
        raise_type(f"text.decode: argument 'data' must be bytes, got {type_name(data)}")
    try:
        return data.decode(_codec("text.decode", charset))
    except UnicodeDecodeError as exc:
        raise_value(f"text.decode: data is not valid {charset}: {exc.reason} at byte {exc.start}")


@library.define("text.encode", ["text", "charset"], required=1)
def encode(ctx: CallContext, text: Any, charset: Any = "UTF-8") -> bytes:
    _need_str("text.encode", "text", text)
    try:
        return text.encode(_codec("text.encode", charset))
    except UnicodeEncodeError as exc:
        raise_value(f"text.encode: character {text[exc.start]!r} cannot be encoded in {charset}")
