"""The ``base64``, ``json`` and ``hash`` modules: bytes <-> text and digests."""
from __future__ import annotations

import base64 as _b64
import binascii
import hashlib
import hmac
import json
from typing import Any

from localcloud.workflows.stdlib._core import CallContext, Library
from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.values import TAGS_VALUE, from_json_text, raise_type, raise_value, to_plain, type_name

library = Library()


@library.define("base64.encode", ["data", "padding"], required=1)
def b64_encode(ctx: CallContext, data: Any, padding: Any = True) -> str:
    if type(data) is not bytes:
        raise_type(f"base64.encode: argument 'data' must be bytes, got {type_name(data)} (use text.encode first)")
    if type(padding) is not bool:
        raise_type(f"base64.encode: argument 'padding' must be a boolean, got {type_name(padding)}")
    out = _b64.b64encode(data).decode("ascii")
    return out if padding else out.rstrip("=")


@library.define("base64.decode", ["data", "padding"], required=1)
def b64_decode(ctx: CallContext, data: Any, padding: Any = True) -> bytes:
    if type(data) is not str:
        raise_type(f"base64.decode: argument 'data' must be a string, got {type_name(data)}")
    if type(padding) is not bool:
        raise_type(f"base64.decode: argument 'padding' must be a boolean, got {type_name(padding)}")
    # Doc (stdlib base64.decode): "The carriage return (\\r) and newline (\\n) characters in the input
    # are ignored"; with padding (the default) the input must be aligned to a multiple of 4.
    text = data.replace("\r", "").replace("\n", "")
    if padding:
        if len(text) % 4:
            raise_value("base64.decode: input is not padded to a multiple of 4 characters (padding is true)")
    else:
        text = text + "=" * (-len(text) % 4)
    try:
        return _b64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise_value(f"base64.decode: invalid base64 data: {exc}")


def _indent_arg(fn: str, indent: Any) -> tuple[str, str] | None:
    # Doc (stdlib json.encode): indent is a boolean or a map with two optional strings, `prefix`
    # (default "") and `indent` (default four spaces); true is the same as {}, false as not set.
    if indent is False or indent is None:
        return None
    if indent is True:
        return "", "    "
    if type(indent) is dict:
        for key in indent:
            if key not in ("prefix", "indent"):
                raise_value(f"{fn}: unknown key '{key}' in argument 'indent' (expected prefix, indent)")
        prefix = indent.get("prefix", "")
        step = indent.get("indent", "    ")
        if type(prefix) is not str or type(step) is not str:
            raise_type(f"{fn}: 'indent.prefix' and 'indent.indent' must be strings")
        return prefix, step
    raise_type(f"{fn}: argument 'indent' must be a boolean or a map, got {type_name(indent)}")


def _encode(fn: str, data: Any, indent: Any) -> str:
    layout = _indent_arg(fn, indent)
    try:
        plain = to_plain(data)
    except WorkflowError as exc:
        # Doc (stdlib json.encode): "ValueError If the input contains types that cannot be
        # JSON-encoded. Examples of such types include callable and bytes."
        raise WorkflowError.tagged(TAGS_VALUE, f"{fn}: {exc.value.get('message', 'cannot JSON-encode the data')}")
    if layout is None:
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    prefix, step = layout
    text = json.dumps(plain, ensure_ascii=False, indent=step, separators=(",", ": "))
    # Each element begins on a new line starting with the prefix; the first line has none.
    # (JSON strings escape their newlines, so every raw newline here is layout.)
    return text.replace("\n", "\n" + prefix) if prefix else text


@library.define("json.encode", ["data", "indent"], required=1)
def json_encode(ctx: CallContext, data: Any, indent: Any = False) -> bytes:
    return _encode("json.encode", data, indent).encode("utf-8")


@library.define("json.encode_to_string", ["data", "indent"], required=1)
def json_encode_to_string(ctx: CallContext, data: Any, indent: Any = False) -> str:
    return _encode("json.encode_to_string", data, indent)


@library.define("json.decode", ["data"])
def json_decode(ctx: CallContext, data: Any) -> Any:
    if type(data) is bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise_value("json.decode: data is not UTF-8")
    elif type(data) is str:
        text = data
    else:
        raise_type(f"json.decode: argument 'data' must be bytes or a string, got {type_name(data)}")
    return from_json_text(text)


_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}


def _algorithm(fn: str, algorithm: Any) -> str:
    if type(algorithm) is not str or algorithm.upper() not in _ALGORITHMS:
        raise_value(f"{fn}: argument 'algorithm' must be one of {', '.join(_ALGORITHMS)}, got {algorithm!r}")
    return _ALGORITHMS[algorithm.upper()]


@library.define("hash.compute_checksum", ["data", "algorithm"])
def compute_checksum(ctx: CallContext, data: Any, algorithm: Any) -> bytes:
    if type(data) is not bytes:
        raise_type(f"hash.compute_checksum: argument 'data' must be bytes, got {type_name(data)}")
    return hashlib.new(_algorithm("hash.compute_checksum", algorithm), data).digest()


@library.define("hash.compute_hmac", ["key", "data", "algorithm"])
def compute_hmac(ctx: CallContext, key: Any, data: Any, algorithm: Any) -> bytes:
    if type(key) is not bytes:
        raise_type(f"hash.compute_hmac: argument 'key' must be bytes, got {type_name(key)}")
    if type(data) is not bytes:
        raise_type(f"hash.compute_hmac: argument 'data' must be bytes, got {type_name(data)}")
    return hmac.new(key, data, _algorithm("hash.compute_hmac", algorithm)).digest()
