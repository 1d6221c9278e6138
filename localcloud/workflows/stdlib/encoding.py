"""The ``base64``, ``json`` and ``hash`` modules: bytes <-> text and digests."""
from __future__ import annotations

import base64 as _b64
import binascii
import hashlib
import hmac
from typing import Any

from localcloud.workflows.stdlib._core import CallContext, define
from localcloud.workflows.values import from_json_text, raise_type, raise_value, to_json_text, type_name


@define("base64.encode", ["data", "padding"], required=1)
def b64_encode(ctx: CallContext, data: Any, padding: Any = True) -> str:
    if type(data) is not bytes:
        raise_type(f"base64.encode: argument 'data' must be bytes, got {type_name(data)} (use text.encode first)")
    if type(padding) is not bool:
        raise_type(f"base64.encode: argument 'padding' must be a boolean, got {type_name(padding)}")
    out = _b64.b64encode(data).decode("ascii")
    return out if padding else out.rstrip("=")


@define("base64.decode", ["data", "padding"], required=1)
def b64_decode(ctx: CallContext, data: Any, padding: Any = True) -> bytes:
    if type(data) is not str:
        raise_type(f"base64.decode: argument 'data' must be a string, got {type_name(data)}")
    if type(padding) is not bool:
        raise_type(f"base64.decode: argument 'padding' must be a boolean, got {type_name(padding)}")
    text = data
    if not padding:
        text = text + "=" * (-len(text) % 4)
    try:
        return _b64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise_value(f"base64.decode: invalid base64 data: {exc}")


def _indent_arg(fn: str, indent: Any) -> bool | int:
    if type(indent) is bool:
        return indent
    if type(indent) is int and indent >= 0:
        return indent
    raise_type(f"{fn}: argument 'indent' must be a boolean or a non-negative integer, got {type_name(indent)}")


@define("json.encode", ["data", "indent"], required=1)
def json_encode(ctx: CallContext, data: Any, indent: Any = False) -> bytes:
    return to_json_text(data, _indent_arg("json.encode", indent)).encode("utf-8")


@define("json.encode_to_string", ["data", "indent"], required=1)
def json_encode_to_string(ctx: CallContext, data: Any, indent: Any = False) -> str:
    return to_json_text(data, _indent_arg("json.encode_to_string", indent))


@define("json.decode", ["data"])
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


@define("hash.compute_checksum", ["data", "algorithm"])
def compute_checksum(ctx: CallContext, data: Any, algorithm: Any) -> bytes:
    if type(data) is not bytes:
        raise_type(f"hash.compute_checksum: argument 'data' must be bytes, got {type_name(data)}")
    return hashlib.new(_algorithm("hash.compute_checksum", algorithm), data).digest()


@define("hash.compute_hmac", ["key", "data", "algorithm"])
def compute_hmac(ctx: CallContext, key: Any, data: Any, algorithm: Any) -> bytes:
    if type(key) is not bytes:
        raise_type(f"hash.compute_hmac: argument 'key' must be bytes, got {type_name(key)}")
    if type(data) is not bytes:
        raise_type(f"hash.compute_hmac: argument 'data' must be bytes, got {type_name(data)}")
    return hmac.new(key, data, _algorithm("hash.compute_hmac", algorithm)).digest()
