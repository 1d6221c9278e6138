"""Health for supervisors: GET /_health on the scheduler's own port answers {"healthy": true, "version": ...};
`healthy(port)` and `version(port)` ask it from Python."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def check(port: int, host: str = "127.0.0.1", timeout_s: float = 2.0) -> tuple[bool, str | None]:
    """(healthy, version) of the scheduler at host:port; (False, None) if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_health", timeout=timeout_s) as answer:
            body = json.loads(answer.read())
    except (OSError, ValueError):
        return False, None
    return body.get("healthy") is True, body.get("version")


def healthy(port: int, host: str = "127.0.0.1") -> bool:
    return check(port, host)[0]


def version(port: int, host: str = "127.0.0.1") -> str | None:
    return check(port, host)[1]
