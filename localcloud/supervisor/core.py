"""Bringing the registered parts up, keeping them at their addresses, restarting what changed, and
reporting whether each one is healthy and reaches the others."""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable

from ._proc import (ServiceError, free_port, is_ours, port_free, signal_group, spawn, stop_group, wait_gone,
                    wait_port_free)
from ._state import REPO_ROOT, local_dir, locked, log_file, log_tail, read_state, state_path, write_state
from .part import Context, Part
from .parts import PARTS, START_COMMAND, project

_CODE_SUFFIXES = {".py", ".json", ".sql", ".js"}


class ServiceNotRunning(ServiceError):
    """A part something needs is down; the message names it and the command that starts it."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.service = name
        extra = f" ({detail})" if detail else ""
        super().__init__(f"local service '{name}' is not running{extra}; start it with `{START_COMMAND}`")


def _part(name: str) -> Part:
    if name not in PARTS:
        raise ValueError(f"service name must be one of {', '.join(PARTS)}; got {name!r}")
    return PARTS[name]


def _closure(names: Iterable[str] | None) -> list[str]:
    """The named parts and everything they depend on, in registry (dependency) order."""
    wanted: set[str] = set()
    pending = list(PARTS) if names is None else [_part(n).name for n in names]
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(PARTS[name].depends_on)
    return [name for name in PARTS if name in wanted]


def _dependants(name: str) -> list[str]:
    """Every part that depends on `name`, directly or through another part."""
    found: list[str] = []
    for other, part in PARTS.items():
        if name in part.depends_on or any(dep in found for dep in part.depends_on):
            found.append(other)
    return found


def _exports(name: str, state: dict[str, dict]) -> dict[str, str]:
    entry = state.get(name, {})
    if not entry.get("ports"):
        return {}
    return PARTS[name].exports(_context(PARTS[name], entry, state))


def _context(part: Part, entry: dict[str, Any], state: dict[str, dict]) -> Context:
    env = {"GOOGLE_CLOUD_PROJECT": project()}
    for dependency in part.depends_on:
        env.update(_exports(dependency, state))
    return Context(part.name, dict(entry.get("ports") or {}), env, local_dir())


def _fingerprint(paths: tuple[str, ...]) -> str:
    """Changes whenever a file under `paths` changes (mtime and size), so stale code is noticed."""
    if not paths:
        return ""
    digest = hashlib.sha256()
    for relative in paths:
        root = REPO_ROOT / relative
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.suffix in _CODE_SUFFIXES and "__pycache__" not in p.parts)
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return digest.hexdigest()[:16]


def _config(part: Part, ctx: Context) -> str:
    """What the part was started with: command, added variables (the dependencies' addresses
    among them), folder and account. A part whose config changed is restarted."""
    launch = part.launch(ctx)
    identity = {"argv": launch.argv, "env": dict(launch.env), "cwd": str(launch.cwd), "user": launch.user}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- start and stop


def _assign_ports(part: Part, entry: dict[str, Any], state: dict[str, dict]) -> None:
    """Each port is recorded once per data folder and kept, unless something else has taken it."""
    taken = {port for name, other in state.items() if name != part.name
             for port in (other.get("ports") or {}).values()}
    ports: dict[str, int] = {}
    for port_name in part.ports:
        port = (entry.get("ports") or {}).get(port_name)
        if not port or port in taken or not wait_port_free(port, 3.0):
            port = free_port(taken | set(ports.values()))
        ports[port_name] = port
    if entry.get("ports") and entry["ports"] != ports:
        entry["moved_from"] = entry["ports"]
    entry["ports"] = ports
    entry["port"] = next(iter(ports.values()))


def _launch(part: Part, entry: dict[str, Any], state: dict[str, dict]) -> subprocess.Popen:
    _assign_ports(part, entry, state)
    ctx = _context(part, entry, state)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    if part.prepare is not None:
        part.prepare(ctx)
    launch = part.launch(ctx)
    proc = spawn(part.name, launch.argv, launch.env, launch.cwd, launch.user)
    entry.update(name=part.name, pid=proc.pid, endpoint=part.endpoint(ctx), started=_now(),
                 log=str(log_file(part.name)), config=_config(part, ctx), code=_fingerprint(part.code),
                 reload_code=_fingerprint(part.reload_code))
    return proc


def _wait_healthy(part: Part, ctx: Context, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if part.healthy(ctx):
            return
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"local service '{part.name}' exited with code {proc.returncode} while starting; "
                               f"see {log_file(part.name)}:\n{log_tail(part.name)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise ServiceError(f"local service '{part.name}' did not become healthy within {timeout:.0f} s; "
                       f"see {log_file(part.name)}")


def _wait_started(part: Part, state: dict[str, dict], proc: subprocess.Popen) -> None:
    entry = state[part.name]
    try:
        _wait_healthy(part, _context(part, entry, state), proc, part.start_timeout_s)
    except ServiceError as first:
        if proc.poll() is None:
            raise
        # It died while starting (e.g. its port was taken between the check and the bind): one
        # more try, on the same port if it is free again, else on a fresh one.
        retry = _launch(part, entry, state)
        write_state(state)
        try:
            _wait_healthy(part, _context(part, entry, state), retry, part.start_timeout_s)
        except ServiceError as second:
            raise ServiceError(f"{second}\n(first attempt: {first})") from second


def _stop(part: Part, entry: dict[str, Any], *, restarting: bool = False) -> None:
    pid = entry.pop("pid", None)
    if not is_ours(pid, part.marker):
        return
    if not (restarting and part.hands_over):
        stop_group(pid, part.stop_signal, part.stop_timeout_s)
        return
    signal_group(pid, part.stop_signal)
    deadline = time.monotonic() + part.stop_timeout_s
    ports = list((entry.get("ports") or {}).values())
    while time.monotonic() < deadline and not all(port_free(port) for port in ports):
        time.sleep(0.05)
    if not all(port_free(port) for port in ports):
        signal_group(pid, signal.SIGKILL)
        wait_gone(pid, 5.0)


def _reload(part: Part, ctx: Context, entry: dict[str, Any]) -> bool:
    """Sends the reload signal to the part's main process and waits for it to take effect."""
    signalled_at = time.time()
    os.kill(entry["pid"], part.reload_signal)  # type: ignore[arg-type]
    deadline = time.monotonic() + part.start_timeout_s
    while time.monotonic() < deadline:
        if part.reloaded is None or part.reloaded(ctx, signalled_at):
            entry["reload_code"] = _fingerprint(part.reload_code)
            return True
        time.sleep(0.1)
    return False


def _needs_start(part: Part, entry: dict[str, Any], state: dict[str, dict]) -> bool:
    """False when the part runs, healthy, with the same command and code (reloading it in place
    when only its reloadable code changed); otherwise it is stopped and must be started."""
    ports = entry.get("ports") or {}
    if not is_ours(entry.get("pid"), part.marker) or not all(name in ports for name in part.ports):
        _stop(part, entry, restarting=True)  # e.g. a part that now listens on one more port
        return True
    ctx = _context(part, entry, state)
    config = _config(part, ctx)
    # A part started by an earlier version of this module has no record of its command: adopt it
    # as it is, unless its own code is watched (it then runs code of that earlier version).
    entry.setdefault("config", config)
    if "code" not in entry and not part.code:
        entry["code"] = ""
    same = entry["config"] == config and entry.get("code") == _fingerprint(part.code)
    if same:
        try:
            _wait_healthy(part, ctx, None, 5.0)  # a part that is still starting gets a moment
        except ServiceError:
            same = False
    if same and part.reload_signal is not None and entry.get("reload_code") != _fingerprint(part.reload_code):
        same = _reload(part, ctx, entry)
    if not same:
        _stop(part, entry, restarting=True)
    return not same


def _adopt_legacy(state: dict[str, dict], *, forget: bool = False) -> None:
    """Takes over the gateway and engine recorded by the former `.local/stack.json` (deleted when
    `forget`: the caller writes the state it now holds)."""
    legacy = local_dir() / "stack.json"
    if legacy.exists():
        with contextlib.suppress(OSError, ValueError):
            for name, old in json.loads(legacy.read_text()).items():
                if name in PARTS and isinstance(old, dict) and old.get("port") and name not in state:
                    state[name] = {"name": name, "pid": old.get("pid"), "ports": {"main": old["port"]},
                                   "port": old["port"]}
        if forget:
            legacy.unlink(missing_ok=True)
    for entry in state.values():
        if entry.get("port") and not entry.get("ports"):
            entry["ports"] = {"main": entry["port"]}


def _up_locked(names: Iterable[str] | None) -> dict[str, dict]:
    state = read_state()
    _adopt_legacy(state, forget=True)
    wanted = _closure(names)
    done: set[str] = set()
    while len(done) < len(wanted):
        # Parts whose dependencies are up start together, then are waited for together.
        wave = [n for n in wanted if n not in done and all(d in done for d in PARTS[n].depends_on)]
        started = {}
        for name in wave:
            entry = state.setdefault(name, {"name": name})
            if _needs_start(PARTS[name], entry, state):
                started[name] = _launch(PARTS[name], entry, state)
        write_state(state)
        for name, proc in started.items():
            _wait_started(PARTS[name], state, proc)
        write_state(state)
        done.update(wave)
    for name in wanted:
        part = PARTS[name]
        if part.provision is not None:
            part.provision(_context(part, state[name], state))
    return state


# --------------------------------------------------------------------------- public operations


def up(names: Iterable[str] | None = None) -> dict[str, dict]:
    """Starts what is not running (and what it needs), restarts what runs with another command or
    code, waits until each is healthy, then provisions (database, buckets, the pipeline deployed).
    Returns services.json's content: name -> pid, ports, endpoint, started."""
    with locked():
        return _up_locked(names)


def restart(name: str, *, tell_dependants: bool = True) -> dict[str, Any]:
    """Stops one part and starts it again on its recorded port (a new one only if that was taken).
    Its running dependants are restarted only if its address changed (`tell_dependants`), and
    provisioning runs again (an engine that forgot the pipeline gets it redeployed)."""
    part = _part(name)
    with locked():
        state = read_state()
        _adopt_legacy(state, forget=True)
        _stop(part, state.setdefault(name, {"name": name}), restarting=True)
        write_state(state)
        if tell_dependants:
            running = [d for d in _dependants(name) if is_ours(state.get(d, {}).get("pid"), PARTS[d].marker)]
            return _up_locked([name, *running])[name]
        entry = state[name]
        proc = _launch(part, entry, state)
        write_state(state)
        _wait_started(part, state, proc)
        write_state(state)
        return entry


def stop(name: str) -> None:
    """Stops one part cleanly (its stop signal, wait, SIGKILL); its port stays recorded."""
    part = _part(name)
    with locked():
        state = read_state()
        _stop(part, state.setdefault(name, {"name": name}))
        write_state(state)


def kill(name: str) -> None:
    """SIGKILLs one part and its children at once (a crash, for fault tests); the port is kept."""
    part = _part(name)
    with locked():
        state = read_state()
        entry = state.get(name, {})
        pid = entry.pop("pid", None)
        if is_ours(pid, part.marker):
            signal_group(pid, signal.SIGKILL)
            wait_gone(pid, 5.0)
        write_state(state)


def down() -> None:
    """Stops every part, dependants first; ports stay recorded for the next `up`."""
    with locked():
        state = read_state()
        _adopt_legacy(state, forget=True)
        for name in reversed(list(PARTS)):
            if name in state:
                _stop(PARTS[name], state[name])
        write_state(state)


def status() -> list[dict[str, Any]]:
    """One row per part: name, endpoint, port, pid, running, healthy, version, started, links
    (whether it reaches each part it calls) and a message saying what to do when it is not healthy."""
    state = read_state()
    _adopt_legacy(state)
    exports: dict[str, str] = {}
    for name in PARTS:
        exports.update(_exports(name, state))
    rows = []
    for name, part in PARTS.items():
        entry = state.get(name, {})
        pid = entry.get("pid")
        running = is_ours(pid, part.marker) and bool(entry.get("ports"))
        ctx = _context(part, entry, state)
        healthy = running and part.healthy(ctx)
        version, links, message = None, [], ""
        if healthy:
            with contextlib.suppress(Exception):
                version = part.version(ctx)
            if part.links is not None:
                links = part.links(ctx, exports)
        broken = [link for link in links if not link.ok]
        if not running:
            message = f"not running; start it with `{START_COMMAND}`"
        elif not healthy:
            message = f"running but not answering; see {log_file(name)}, or restart it with `{START_COMMAND}`"
        elif broken:
            message = broken[0].message
        rows.append({
            "name": name, "endpoint": entry.get("endpoint"), "port": entry.get("port"),
            "ports": entry.get("ports"), "pid": pid if running else None, "running": running,
            "healthy": healthy and not broken, "version": version, "started": entry.get("started"),
            "links": [{"to": link.target, "ok": link.ok, "message": link.message} for link in links],
            "message": message,
        })
    return rows


def env(names: Iterable[str] | None = None) -> dict[str, str]:
    """The variables that point clients at the parts (all recorded ones, or the named ones)."""
    state = read_state()
    _adopt_legacy(state)
    wanted = list(names) if names is not None else [n for n in PARTS if state.get(n, {}).get("ports")]
    variables = {"GOOGLE_CLOUD_PROJECT": project()}
    for name in wanted or ["postgres"]:
        exported = _exports(_part(name).name, state)
        if not exported:
            raise ServiceNotRunning(name, f"nothing recorded in {state_path()}")
        variables.update(exported)
    return variables


def endpoint(name: str) -> str:
    """The recorded endpoint of a running part; ServiceNotRunning when it is down."""
    part = _part(name)
    entry = read_state().get(name, {})
    if not (is_ours(entry.get("pid"), part.marker) and entry.get("endpoint")):
        raise ServiceNotRunning(name)
    return str(entry["endpoint"])


def log_path(name: str) -> Path:
    return log_file(_part(name).name)
