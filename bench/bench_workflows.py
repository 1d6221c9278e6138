"""Benchmarks the local Workflows engine: per-step time on a CPU-bound loop in memory and with the journal on
(vs the PyPI workflows-emulator when it is importable), accumulation with list.concat at growing sizes, a
realistic workload (a subworkflow call in a loop with map and list work and a try/except) beside the emulator
on the same file, start-to-first-callback latency for 50 concurrent executions over the REST API, and the time
50 executions waiting on callbacks take to be waiting again after a restart of a durable engine.

    .venv/bin/python bench/bench_workflows.py [--iterations 5000] [--repeats 5] [--executions 50]

Installs nothing; prints medians and the ratios.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import platform
import statistics
import tempfile
import time
from typing import Any, Callable

import aiohttp
import yaml

from localcloud.workflows.engine import Execution, deploy
from localcloud.workflows.journal import Journal
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

# Accumulating in a loop: one assign per iteration. Copy on write makes each append O(1) (O(n) overall).
ACCUMULATE_SOURCE = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - items: []
    - loop:
        for:
          value: i
          range: ${[1, args.n]}
          steps:
            - add:
                assign:
                  - items: ${list.concat(items, i)}
    - done:
        return: ${len(items)}
"""

# A realistic workload: per iteration a subworkflow call with map and list work inside a try/except.
# Steps per iteration: prepare (1) + try (1) + call + the subworkflow's 3 steps = 6.
REALISTIC_SOURCE = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - state: {"selected": {}, "count": 0}
          - pages: []
    - loop:
        for:
          value: i
          range: ${[1, args.n]}
          steps:
            - prepare:
                assign:
                  - panel: {"id": "${i}", "tags": ["a", "b"], "score": "${i % 7}"}
            - guarded:
                try:
                  call: score_panel
                  args:
                    panel: ${panel}
                    state: ${state}
                  result: state
                except:
                  as: e
                  steps:
                    - give_up:
                        raise: ${e}
    - done:
        return: ${state.count}
score_panel:
  params: [panel, state]
  steps:
    - look:
        assign:
          - best: ${map.get(state.selected, "best")}
          - tags: ${list.concat(panel.tags, "seen")}
    - keep:
        assign:
          - state.count: ${state.count + len(tags)}
          - state.selected["last"]: ${panel.id}
    - done:
        return: ${state}
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


def bench_local(n: int, repeats: int, source: str = LOOP_SOURCE, journal: bool = False) -> tuple[float, Any]:
    program = deploy(source)
    folder = tempfile.TemporaryDirectory() if journal else None

    def once() -> Any:
        # With the journal on, every execution is journalled into a real SQLite file (WAL) as by `serve --data-dir`.
        store = Journal(folder.name) if folder is not None else None
        try:
            return asyncio.run(Execution(program, journal=store).run({"n": n}))
        finally:
            if store is not None:
                store.close()

    try:
        return _median_time(once, repeats)
    finally:
        if folder is not None:
            folder.cleanup()


def bench_emulator(n: int, repeats: int, source: str = LOOP_SOURCE) -> tuple[float, Any] | None:
    try:
        from workflows_emulator.main import execute_workflow  # type: ignore[import-not-found]
    except ImportError:
        return None
    logging.getLogger("workflows").setLevel(logging.ERROR)
    config = yaml.safe_load(source)

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


async def _recovery(executions: int) -> dict[str, float]:
    """`executions` executions wait on callbacks in a durable engine; it stops; a new one starts on the same port
    and data dir. Measured: from the new start() to every execution waiting on its callback again."""
    with tempfile.TemporaryDirectory() as folder:
        first = await WorkflowsServer("127.0.0.1", 0, data_dir=folder).start()
        port = first.port
        first.service.deploy("cb", CALLBACK_SOURCE)
        records = [first.service.start("cb") for _ in range(executions)]
        while not all(r.execution is not None and any(cb.waiters for cb in r.execution.callbacks.values())
                      for r in records):
            await asyncio.sleep(0.005)
        await first.stop()
        started = time.perf_counter()
        second = await WorkflowsServer("127.0.0.1", port, data_dir=folder).start()
        service = second.service
        ids = [r.execution_id for r in records]

        def waiting(execution_id: str) -> bool:
            ex = service.executions[execution_id].execution
            return ex is not None and any(cb.waiters for cb in ex.callbacks.values())

        while not all(waiting(i) for i in ids):
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        async with aiohttp.ClientSession() as http:
            for n, execution_id in enumerate(ids):
                (cb,) = service.executions[execution_id].execution.callbacks.values()  # type: ignore[union-attr]
                async with http.post(cb.url, json={"n": n}) as response:
                    assert response.status == 200
        await asyncio.gather(*(service.executions[i].done.wait() for i in ids))
        assert [service.executions[i].result for i in ids] == [f'{{"n":{n}}}' for n in range(executions)]
        await second.stop()
    return {"recovery_ms": elapsed * 1000}


def bench_accumulation(sizes: list[int], repeats: int) -> list[tuple[int, float]]:
    out = []
    for n in sizes:
        t, result = bench_local(n, repeats, ACCUMULATE_SOURCE)
        assert result == n
        out.append((n, t / n * 1e6))
    return out


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
    journal_t, journal_r = bench_local(n, args.repeats, journal=True)
    assert journal_r == local_r
    print(f"  with the journal on : {journal_t * 1000:8.1f} ms  ({journal_t / steps * 1e6:.2f} us/step, "
          f"{journal_t / local_t:.2f}x the in-memory time)")
    print("accumulating with items: ${list.concat(items, i)} (1 step per item), median us/step:")
    for size, per_step in bench_accumulation([500, 1000, 2000, 4000], args.repeats):
        print(f"  {size:5d} items: {per_step:.2f} us/step")
    real_n = max(1, n // 5)
    real_steps = real_n * 6
    real_t, real_r = bench_local(real_n, args.repeats, REALISTIC_SOURCE)
    assert real_r == real_n * 3, real_r
    print(f"realistic workload ({real_n} iterations: subworkflow call, map and list work, try/except; "
          f"{real_steps} steps)")
    print(f"  localcloud.workflows : {real_t * 1000:8.1f} ms  ({real_t / real_steps * 1e6:.2f} us/step)")
    emu_real = bench_emulator(real_n, args.repeats, REALISTIC_SOURCE)
    if emu_real is not None:
        emu_t, emu_r = emu_real
        print(f"  workflows-emulator  : {emu_t * 1000:8.1f} ms  ({emu_t / real_steps * 1e6:.2f} us/step)"
              f"  result {'matches' if emu_r == real_r else f'differs: {emu_r}'}; speed-up {emu_t / real_t:.1f}x")
    rec = asyncio.run(_recovery(args.executions))
    print(f"{args.executions} executions waiting on callbacks, durable engine restarted: all waiting again after "
          f"{rec['recovery_ms']:.0f} ms")
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
