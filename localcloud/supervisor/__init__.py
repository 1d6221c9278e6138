"""One supervisor for the whole local stack: the stores (PostgreSQL, Valkey, the Cloud Storage and
Firestore emulators), the Workflows engine, the Vertex AI stand-in and the function gateway.

Each part is one declarative entry (`Part`, registered in `parts.py`): its start command, health
check, endpoint, the variables it exports, what it depends on and its stop signal. The supervisor
keeps every part at the port recorded once per data folder (`services.json` under
MANGAFLOW_LOCAL_DIR, default `.local/`), restarts a part when its command, its dependencies'
addresses or its watched code changed (the gateway reloads new function code in place), and
`status()` checks that the parts actually reach each other.

Adding a part is a few lines in `parts.py`, e.g. a local Cloud Scheduler:

    register(Part(
        "scheduler", marker="localcloud.scheduler",
        launch=lambda ctx: Launch([python(), "-m", "localcloud.scheduler", "--port", str(ctx.port)],
                                  env=dict(ctx.env), cwd=REPO_ROOT),
        healthy=lambda ctx: _answers(f"http://127.0.0.1:{ctx.port}/v1/projects/{project()}/locations/local/jobs"),
        endpoint=lambda ctx: f"127.0.0.1:{ctx.port}",
        exports=lambda ctx: {"CLOUD_SCHEDULER_EMULATOR_HOST": f"127.0.0.1:{ctx.port}"},
        version=lambda ctx: "mangaflow-localcloud",
        depends_on=("gateway",), code=("localcloud/scheduler",),
    ))

`depends_on` parts start first and their exports reach `launch` as `ctx.env`; a part whose
dependency moves to another port is restarted with the new address. Register it after what it
depends on; if the gateway must call it, add its variable to the gateway's `depends_on` instead.
`mangaflow services up|down|status|env` then manage it with the rest.
"""
from __future__ import annotations

from ._proc import ServiceError
from ._state import local_dir
from .core import ServiceNotRunning, down, endpoint, env, kill, log_path, restart, status, stop, up
from .part import Context, Launch, Link, Part
from .parts import (PARTS, bucket_names, deploy_pipeline, function_environment, project, python, register, signing_key,
                    workflow_name)

STORE_PARTS: tuple[str, ...] = ("postgres", "redis", "storage", "firestore")

__all__ = [
    "PARTS", "STORE_PARTS", "Context", "Launch", "Link", "Part", "ServiceError", "ServiceNotRunning",
    "bucket_names", "deploy_pipeline", "down", "endpoint", "env", "function_environment", "kill", "local_dir",
    "log_path", "project",
    "python", "register", "restart", "signing_key", "status", "stop", "up", "workflow_name",
]
