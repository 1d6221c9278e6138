"""A function gateway and a Workflows engine of their own, on the stores (and the Vertex AI stand-in) of a
running local stack, started with settings the shared gateway does not have: the fault switch, short
deadlines, simulated latencies. For tests and benchmarks (tests/ai, bench/bench_faults.py, bench/bench_ai.py);
the pipeline is deployed on the private engine, pointing at the private gateway.

    with PrivateStack({"MANGAFLOW_FAULT_RATE": "0.2"}, folder) as private:
        requests.post(f"{private.gateway}/start_generation", json=..., headers=...)
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Mapping

from localcloud import supervisor
from localcloud.supervisor import parts

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up; see {log}:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)


class PrivateStack:
    """`python -m localcloud.workflows serve` (in memory) and `python -m localcloud.gateway` on free ports,
    with the running stack's stores and `settings` (environment variables) on top."""

    workflow_file = parts.WORKFLOW_FILE   # the pipeline it deploys (a benchmark of another checkout: that one's)

    def __init__(self, settings: Mapping[str, str], folder: Path, workers: int = 2,
                 gateway_args: tuple[str, ...] = ()) -> None:
        self.settings = dict(settings)
        self.folder = Path(folder)
        self.workers = workers
        self.gateway_args = tuple(gateway_args)  # e.g. ("--keepalive", "2") for a benchmark's variant
        self.engine_port, self.grpc_port, self.gateway_port = _free_port(), _free_port(), _free_port()
        self._procs: list[subprocess.Popen] = []

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def _spawn(self, argv: list[str], env: Mapping[str, str], name: str) -> tuple[subprocess.Popen, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / f"{name}.log"
        proc = subprocess.Popen(argv, cwd=REPO, env=dict(env), stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self._procs.append(proc)
        return proc, log

    def start(self) -> "PrivateStack":
        stack = supervisor.env()  # the running stack's stores and Vertex AI stand-in
        engine = f"127.0.0.1:{self.engine_port}"
        proc, log = self._spawn([sys.executable, "-m", "localcloud.workflows", "serve", "--host", "127.0.0.1",
                                 "--port", str(self.engine_port), "--grpc-port", str(self.grpc_port)],
                                {**os.environ, "PYTHONUNBUFFERED": "1"}, "engine")
        _wait(f"http://{engine}/v1/projects/p/locations/l/workflows", proc, log)
        env = {**os.environ, **supervisor.function_environment(
            {**stack, "WORKFLOWS_EMULATOR_HOST": engine, "WORKFLOWS_GRPC_EMULATOR_HOST": f"127.0.0.1:{self.grpc_port}"},
            self.gateway, supervisor.local_dir()), **self.settings}
        proc, log = self._spawn([sys.executable, "-m", "localcloud.gateway", "--host", "127.0.0.1", "--port",
                                 str(self.gateway_port), "--workers", str(self.workers), *self.gateway_args], env, "gateway")
        _wait(f"{self.gateway}/_health", proc, log)
        parts.deploy_pipeline(engine, self.gateway, self.workflow_file)
        return self

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        self._procs.clear()

    def __enter__(self) -> "PrivateStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
