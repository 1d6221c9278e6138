"""Processes and ports of the local stack: start a part in its own session, tell whether a pid is
still the part we started, signal its whole process group, find and wait for ports."""
from __future__ import annotations

import contextlib
import os
import pwd
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Mapping

from ._state import log_file


class ServiceError(RuntimeError):
    """A local part could not be started, reached or stopped."""


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def is_ours(pid: int | None, marker: str) -> bool:
    """The recorded pid is still the part we started (not a pid recycled after a reboot)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(taken: set[int]) -> int:
    """A free port below the kernel's ephemeral range, so outgoing client sockets never take a
    part's port while it restarts."""
    low, _high = _ephemeral_range()
    start, stop = (20000, low) if low > 21000 else (low, 65000)
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(start, stop)
        if port not in taken and port_free(port):
            return port
    raise ServiceError(f"no free TCP port found on 127.0.0.1 between {start} and {stop}")


def wait_port_free(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_free(port):
            return True
        time.sleep(0.05)
    return port_free(port)


def signal_group(pid: int, sig: int) -> None:
    """Signals the part's whole process group (each part runs in its own session), so PostgreSQL
    backends, gunicorn workers and the node runtime get it with their parent."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _any_member_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid_alive(pid) or _any_member_alive(pid)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return True
        time.sleep(0.05)
    return not group_alive(pid)


def stop_group(pid: int, sig: int, timeout: float) -> None:
    """The part's stop signal, wait for the whole group, then SIGKILL what is left."""
    if not group_alive(pid):
        return
    signal_group(pid, sig)
    if not wait_gone(pid, timeout):
        signal_group(pid, signal.SIGKILL)
        wait_gone(pid, 5.0)


def as_user(user: str | None) -> dict[str, object]:
    """Popen arguments that drop to `user` with its own group only (keeping root's group would
    make group-permission bits, not the 'others' bits, apply to root-owned directories)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def spawn(name: str, argv: list[str], env: Mapping[str, str] | None, cwd: Path | None,
          user: str | None) -> subprocess.Popen:
    """Starts a part in a new session (it outlives the command that started it, and a group
    signal reaches every process it forks), its output appended to logs/<name>.log."""
    with open(log_file(name), "ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **env} if env else None, cwd=str(cwd) if cwd else None, **as_user(user),
        )
