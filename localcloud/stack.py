"""The rest of the local stack beside the stores: the function gateway and the Workflows engine.

Both run as background processes (pids and ports in `.local/stack.json`), reused while healthy
and restarted when the code they serve has changed. The pipeline YAML is (re)deployed through the
engine's REST API with the function URLs as workflow environment variables, as in the cloud.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from .services import manager as services

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_FILE = REPO / "workflows" / "manga_pipeline.workflows.yaml"
WORKFLOW_ID = "manga_pipeline"
PROJECT = "mangaflow-local"
LOCATION = "local"

# The environment variables the workflow reads with sys.get_env, and the function behind each.
WORKFLOW_ENV_FUNCTIONS = {
    **{f"PHASE{n}_URL": name for n, name in enumerate(
        ["phase1_concept", "phase2_characters", "phase3_plot", "phase4_name", "phase5_images",
         "phase6_lettering", "phase7_finalize"], start=1)},
    "OPEN_GATE_URL": "open_gate",
    "RECORD_DECISION_URL": "record_decision",
    "GET_STATUS_URL": "get_status",
    "RECORD_FAILURE_URL": "record_failure",
}


def _state_path() -> Path:
    return services.local_dir() / "stack.json"


def _read_state() -> dict[str, Any]:
    try:
        return json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_state(state: dict[str, Any]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def _code_fingerprint() -> str:
    """Changes whenever the served code changes, so a stale gateway or engine is restarted."""
    digest = hashlib.sha256()
    for folder in (REPO / "functions", REPO / "localcloud", REPO / "schemas"):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".json", ".sql") and "__pycache__" not in path.parts:
                stat = path.stat()
                digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return digest.hexdigest()[:16]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours is not alive
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _stop(pid: int | None) -> None:
    if not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def signing_key() -> str:
    """The local approval-link signing key (Secret Manager holds it in the cloud)."""
    path = services.local_dir() / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _spawn(name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = open(services.local_dir() / f"{name}.log", "ab")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _wait(url: str, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = services.local_dir() / f"{name}.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise services.ServiceError(f"{name} exited with code {proc.returncode} while starting:\n{tail}")
        if _healthy(url):
            return
        time.sleep(0.1)
    raise services.ServiceError(f"{name} did not become healthy within {timeout:.0f} s (see .local/{name}.log)")


def function_env(store_env: dict[str, str], workflows_host: str, public_url: str) -> dict[str, str]:
    """The environment the functions run with locally."""
    env = dict(os.environ)
    env.update(store_env)
    env.update({
        "MANGAFLOW_SIGNING_KEY": signing_key(),
        "WORKFLOWS_EMULATOR_HOST": workflows_host,
        "MANGAFLOW_WORKFLOW": f"projects/{PROJECT}/locations/{LOCATION}/workflows/{WORKFLOW_ID}",
        "MANGAFLOW_PUBLIC_URL": public_url,
        "MANGAFLOW_ANALYTICS_DB": str(services.local_dir() / "analytics.duckdb"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def up(timeout: float = 90.0) -> dict[str, Any]:
    """Stores, gateway and engine running and healthy; the pipeline deployed. Returns endpoints."""
    services.up(timeout=timeout)
    store_env = services.env()
    state = _read_state()
    fingerprint = _code_fingerprint()
    if state.get("fingerprint") != fingerprint:
        for part in ("gateway", "workflows"):
            _stop(state.get(part, {}).get("pid"))
        state = {"fingerprint": fingerprint}

    engine = state.get("workflows", {})
    if not (_alive(engine.get("pid")) and _healthy(f"http://127.0.0.1:{engine['port']}/v1/projects/{PROJECT}/locations/{LOCATION}/workflows")):
        port = _free_port()
        proc = _spawn("workflows", [sys.executable, "-m", "localcloud.workflows", "serve", "--host", "127.0.0.1",
                                    "--port", str(port)], dict(os.environ))
        _wait(f"http://127.0.0.1:{port}/v1/projects/{PROJECT}/locations/{LOCATION}/workflows", proc, "workflows", timeout)
        engine = {"pid": proc.pid, "port": port}
        state["workflows"] = engine
        _write_state(state)
    workflows_host = f"127.0.0.1:{engine['port']}"

    gateway = state.get("gateway", {})
    if not (_alive(gateway.get("pid")) and _healthy(f"http://127.0.0.1:{gateway['port']}/_health")):
        port = _free_port()
        workers = str(max(1, min(4, os.cpu_count() or 1)))
        proc = _spawn("gateway", [sys.executable, "-m", "localcloud.gateway", "--host", "127.0.0.1", "--port", str(port),
                                  "--workers", os.environ.get("MANGAFLOW_GATEWAY_WORKERS", workers)],
                      function_env(store_env, workflows_host, f"http://127.0.0.1:{port}"))
        _wait(f"http://127.0.0.1:{port}/_health", proc, "gateway", timeout)
        gateway = {"pid": proc.pid, "port": port}
        state["gateway"] = gateway
        _write_state(state)
    gateway_url = f"http://127.0.0.1:{gateway['port']}"
    deploy_pipeline(workflows_host, gateway_url)
    return {"gateway": gateway_url, "workflows": workflows_host, "stores": store_env}


def deploy_pipeline(workflows_host: str, gateway_url: str) -> None:
    """Create or update the pipeline workflow with the function URLs in its environment."""
    base = f"http://{workflows_host}/v1/projects/{PROJECT}/locations/{LOCATION}/workflows"
    body = {
        "sourceContents": WORKFLOW_FILE.read_text(encoding="utf-8"),
        "userEnvVars": {var: f"{gateway_url}/{fn}" for var, fn in WORKFLOW_ENV_FUNCTIONS.items()},
    }
    existing = requests.get(f"{base}/{WORKFLOW_ID}", timeout=10)
    if existing.status_code == 200:
        response = requests.patch(f"{base}/{WORKFLOW_ID}", json=body, timeout=30)
    else:
        response = requests.post(base, params={"workflowId": WORKFLOW_ID}, json=body, timeout=30)
    if response.status_code >= 300:
        raise services.ServiceError(f"deploying {WORKFLOW_FILE.name} failed ({response.status_code}): {response.text[:2000]}")


def down() -> None:
    state = _read_state()
    for part in ("gateway", "workflows"):
        _stop(state.get(part, {}).get("pid"))
    _write_state({})
    services.down()


def status() -> list[dict[str, Any]]:
    rows = services.status()
    state = _read_state()
    for part, url in (("gateway", "http://127.0.0.1:{port}/_health"),
                      ("workflows", "http://127.0.0.1:{port}/v1/projects/%s/locations/%s/workflows" % (PROJECT, LOCATION))):
        info = state.get(part)
        if info:
            endpoint = f"127.0.0.1:{info['port']}"
            rows.append({"name": part, "endpoint": endpoint,
                         "healthy": _alive(info.get("pid")) and _healthy(url.format(port=info["port"])),
                         "version": "mangaflow-localcloud 0.1.0"})
        else:
            rows.append({"name": part, "endpoint": None, "healthy": False, "version": None})
    return rows
