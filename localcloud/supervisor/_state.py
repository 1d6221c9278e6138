"""Where a local stack keeps its state: the data folder, `services.json` (one entry per part: pid,
ports, endpoint and what it was started with) and the lock that serialises every change."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = "services.json"


def local_dir() -> Path:
    """The data folder: MANGAFLOW_LOCAL_DIR, or <repo>/.local. Each folder is a stack of its own
    (its own data, ports and processes), so `make test` never touches the one a person uses."""
    configured = os.environ.get("MANGAFLOW_LOCAL_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".local"


def state_path() -> Path:
    return local_dir() / STATE_FILE


def read_state() -> dict[str, dict[str, Any]]:
    try:
        state = json.loads(state_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(state: dict[str, dict[str, Any]]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)  # readers never see half a file


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialises up/down/restart of one data folder across processes (tests, several CLIs)."""
    base = local_dir()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_file(name: str) -> Path:
    logs = local_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{name}.log"


def log_tail(name: str, lines: int = 12) -> str:
    try:
        return "\n".join(log_file(name).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
