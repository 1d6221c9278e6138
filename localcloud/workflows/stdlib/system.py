"""The ``sys`` (get_env, now, log), ``time`` (format, parse) and ``uuid`` modules.

``sys.log`` is blocking in the real service (not allowed inside expressions) but needs nothing
from the executor, so it lives here; ``sys.sleep`` belongs to the executor.
"""
from __future__ import annotations

import uuid as _uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localcloud.workflows.stdlib._core import CallContext, Library
from localcloud.workflows.values import raise_type, raise_value, to_json_text, to_string, type_name

library = Library()

_SEVERITIES = ("DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")


@library.define("sys.get_env", ["name", "default"], required=1)
def get_env(ctx: CallContext, name: Any, default: Any = None) -> Any:
    if type(name) is not str:
        raise_type(f"sys.get_env: argument 'name' must be a string, got {type_name(name)}")
    return ctx.env.get(name, default)


@library.define("sys.now", [])
def now(ctx: CallContext) -> float:
    # Journalled by an execution, so a replay sees the same time.
    return float(ctx.effect("sys.now", "", ctx.now))


@library.define("sys.log", ["data", "severity", "text", "json", "timestamp"], required=0, blocking=True)
def log(ctx: CallContext, data: Any = None, severity: Any = "DEFAULT", text: Any = None,
        json: Any = None, timestamp: Any = None) -> None:
    given = [n for n, v in (("data", data), ("text", text), ("json", json)) if v is not None]
    if len(given) != 1:
        raise_type("sys.log: give exactly one of 'data', 'text' or 'json'")
    if type(severity) is not str or severity.upper() not in _SEVERITIES:
        raise_value(f"sys.log: argument 'severity' must be one of {', '.join(_SEVERITIES)}, got {severity!r}")
    if text is not None:
        payload: Any = to_string(text) if type(text) is not str else text
    elif json is not None:
        if type(json) is not dict:
            raise_type(f"sys.log: argument 'json' must be a map, got {type_name(json)}")
        to_json_text(json)  # refuses bytes/functions early with the service's error
        payload = json
    else:
        # 'data' maps/lists are logged as JSON payloads, scalars as text.
        payload = data if type(data) in (dict, list) else to_string(data)
    ctx.log(severity.upper(), payload)
    return None


def _zone(fn: str, tz: Any) -> Any:
    if type(tz) is not str:
        raise_type(f"{fn}: argument 'timezone' must be a string, got {type_name(tz)}")
    if tz in ("UTC", "Etc/UTC", "Z"):
        return dt_timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise_value(f"{fn}: unknown time zone {tz!r}")


def _format_offset(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return "Z"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"


@library.define("time.format", ["seconds", "timezone"], required=1)
def time_format(ctx: CallContext, seconds: Any, timezone: Any = "Etc/UTC") -> str:
    if type(seconds) not in (int, float):
        raise_type(f"time.format: argument 'seconds' must be a number, got {type_name(seconds)}")
    zone = _zone("time.format", timezone)
    try:
        moment = datetime.fromtimestamp(seconds, tz=dt_timezone.utc).astimezone(zone)
    except (OverflowError, OSError, ValueError):
        raise_value(f"time.format: {seconds} seconds is outside the supported date range")
    # RFC 3339 with microseconds, 'Z' for UTC.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}" + _format_offset(moment)


@library.define("time.parse", ["value"])
def time_parse(ctx: CallContext, value: Any) -> float:
    if type(value) is not str:
        raise_type(f"time.parse: argument 'value' must be a string, got {type_name(value)}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise_value(f"time.parse: {value!r} is not an RFC 3339 timestamp")
    if moment.tzinfo is None:
        raise_value(f"time.parse: {value!r} has no time zone offset (RFC 3339 needs one)")
    return moment.timestamp()


@library.define("uuid.generate", [])
def uuid_generate(ctx: CallContext) -> str:
    return ctx.effect("uuid.generate", "", lambda: str(_uuid.uuid4()))
