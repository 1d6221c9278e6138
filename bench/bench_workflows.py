"""Benchmarks the local Workflows engine: per-step time on a CPU-bound loop (vs the PyPI workflows-emulator
when it is importable) and start-to-first-callback latency for 50 concurrent executions over the REST API.

    .venv/bin/python bench/bench_workflows.py [--iterations 5000] [--repeats 5] [--executions 50]

Installs nothing; prints medians and the ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import platform
import statistics
import time
from typing import Any, Callable

import aiohttp
import yaml

from localcloud.workflows.engine import Execution, deploy
from localcloud.workflows.server import WorkflowsServer

# A `for` over `range` with an `assign` and a `switch` per iteration: 3 steps per iteration (for body).
LOOP_SOURCE = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - total: 0
          - evens: 0
    - loop:
        for:
          value: i
          range: ${[1, args.n]}
          steps:
            - add:
                assign:
                  - total: ${total + i * 2}
            - classify:
                switch:
                  - condition: ${i % 2 == 0}
                    assign:
                      - evens: ${evens + 1}
    - done:
        return: {"total": "${total}", "evens": "${evens}"}
"""

CALLBACK_SOURCE = """
main:
  steps:
    - create:
        call: events.create_callback_endpoint
        args:
          http_callback_method: POST
        result: cb
    - wait:
        call: events.await_callback
        args:
          callback: ${cb}
          timeout: 60
        result: req
    - done:
        return: ${req.http_request.body}
"""

def _expected(n: int) -> dict[str, int]:
    return {"total": n * (n + 1), "evens": n // 2}


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_local(n: int, repeats: int) -> tuple[float, Any]:
    program = deploy(LOOP_SOURCE)

    def once() -> Any:
        return asyncio.run(Execution(program).run({"n": n}))

    return _median_time(once, repeats)


def bench_emulator(n: int, repeats: int) -> tuple[float, Any] | None:
    try:
        from workflows_emulator.main import execute_workflow  # type: ignore[import-not-found]
    except ImportError:
        return None
    logging.getLogger("workflows").setLevel(logging.ERROR)
    config = yaml.safe_load(LOOP_SOURCE)

    def once() -> Any:
        # execute_workflow pops 'main' from the config: give it a fresh copy each run.
        return execute_workflow(copy.deepcopy(config), {"args": {"n": n}})

    return _median_time(once, repeats)


async def _callback_latency(executions: int) -> dict[str, float]:
    server = await WorkflowsServer("127.0.0.1", 0).start()
    base = f"{server.base_url}/v1/projects/bench/locations/local/workflows"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}?workflowId=cb", json={"sourceContents": CALLBACK_SOURCE}) as r:
                assert r.status == 200, await r.text()

            async def one() -> float:
                start = time.perf_counter()
                async with http.post(f"{base}/cb/executions", json={"argument": "{}"}) as r:
                    name = (await r.json())["name"]
                while True:
                    async with http.get(f"{server.base_url}/v1/{name}/callbacks") as r:
                        callbacks = (await r.json())["callbacks"]
                    if callbacks and callbacks[0]["waiters"] == "1":
                        return time.perf_counter() - start
                    await asyncio.sleep(0.002)

            t0 = time.perf_counter()
            latencies = await asyncio.gather(*(one() for _ in range(executions)))
            all_waiting = time.perf_counter() - t0
            # Release them all and check every execution finishes.
            for record in list(server.service.executions.values()):
                for cb in record.execution.callbacks.values():
                    async with http.post(cb.url, json={"ok": True}) as r:
                        assert r.status == 200
            await asyncio.gather(*(r.done.wait() for r in server.service.executions.values()))
            assert all(r.state == "SUCCEEDED" for r in server.service.executions.values())
    finally:
        await server.stop()
    latencies.sort()
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "all_waiting_ms": all_waiting * 1000,
    }


PARALLEL_SOURCE = """
main:
  steps:
    - init:
        assign:
          - total: 0
    - fan_out:
        parallel:
          shared: [total]
          for:
            value: v
            range: [1, 20]
            steps:
              - work:
                  for:
                    value: k
                    range: [1, 200]
                    steps:
                      - add:
                          assign:
                            - total: ${total + 1}
              - nap:
                  call: sys.sleep
                  args:
                    seconds: 0.05
    - done:
        return: ${total}
"""


async def _parallel_responsiveness(executions: int) -> dict[str, float]:
    """`executions` executions each running 20 parallel iterations (CPU + sleep) while we poll the API."""
    server = await WorkflowsServer("127.0.0.1", 0).start()
    base = f"{server.base_url}/v1/projects/bench/locations/local/workflows"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}?workflowId=fan", json={"sourceContents": PARALLEL_SOURCE}) as r:
                assert r.status == 200, await r.text()
            t0 = time.perf_counter()
            names = []
            for _ in range(executions):
                async with http.post(f"{base}/fan/executions", json={}) as r:
                    names.append((await r.json())["name"])
            polls: list[float] = []
            while not all(rec.done.is_set() for rec in server.service.executions.values()):
                start = time.perf_counter()
                async with http.get(f"{server.base_url}/v1/{names[0]}") as r:
                    await r.read()
                polls.append(time.perf_counter() - start)
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - t0
            assert all(rec.state == "SUCCEEDED" and rec.result == "4000" for rec in server.service.executions.values())
    finally:
        await server.stop()
    polls.sort()
    return {"get_median_ms": statistics.median(polls) * 1000, "get_max_ms": polls[-1] * 1000,
            "elapsed_ms": elapsed * 1000, "polls": float(len(polls))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="loop iterations per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--executions", type=int, default=50)
    args = parser.parse_args()
    n = args.iterations
    # Steps the engine counts per iteration: assign + switch (+ embedded assign half the time) = 2.5
    steps = n * 2.5

    local_t, local_r = bench_local(n, args.repeats)
    assert local_r == _expected(n), local_r
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"loop of {n} iterations (~{steps:.0f} steps), median of {args.repeats} runs")
    print(f"  localcloud.workflows : {local_t * 1000:8.1f} ms  ({local_t / steps * 1e6:.2f} us/step)")
    emu = bench_emulator(n, args.repeats)
    if emu is None:
        print("  workflows-emulator  : not importable (pip install -r bench/requirements.txt to compare)")
    else:
        emu_t, emu_r = emu
        print(f"  workflows-emulator  : {emu_t * 1000:8.1f} ms  ({emu_t / steps * 1e6:.2f} us/step)"
              f"  result {'matches' if emu_r == local_r else f'differs: {emu_r}'}")
        print(f"  speed-up            : {emu_t / local_t:.1f}x")
    lat = asyncio.run(_callback_latency(args.executions))
    print(f"{args.executions} concurrent executions via REST, start -> awaiting first callback:")
    print(f"  median {lat['median_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms, all waiting after "
          f"{lat['all_waiting_ms']:.1f} ms")
    par = asyncio.run(_parallel_responsiveness(args.executions))
    print(f"{args.executions} executions x 20 parallel iterations (200 steps + 50 ms sleep each), API polled meanwhile:")
    print(f"  all done in {par['elapsed_ms']:.0f} ms; GET execution latency median {par['get_median_ms']:.1f} ms, "
          f"max {par['get_max_ms']:.1f} ms over {par['polls']:.0f} polls")


if __name__ == "__main__":
    main()
