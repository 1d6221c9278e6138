"""100 pipelines with 20 % of provider calls failing: how many complete (goal: 100 of 100).

A gateway and engine of their own on the running stack's stores (localcloud.private_stack), with the fault
switch on: MANGAFLOW_FAULT_RATE=0.2 (seeded) over 429, 500, 503 and timeouts (a try that answers only
after its deadline), short deadlines so a timeout costs seconds, not minutes. Most pipelines use the
offline provider; every tenth uses the Vertex AI path through the local stand-in (text and images, the
same switch in front of it), and one of those gets one real hang on the wire: the stand-in holds its
first panel-image request for 10 minutes, which only the call's deadline ends. Pipelines are 1 or 2
pages, 10 at a time, each for a user of its own (nothing cached from an earlier run), every gate approved
as the CLI does.

Prints completed/total, the faults injected by kind, retries, late answers discarded, and run times;
writes the section "Faults" of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from results import write_section  # noqa: E402 - bench/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = Path(__file__).with_name("RESULTS.md")
STORIES = [
    'Mika found a lantern by the river. "Is anyone there?" she asked. The old ferryman smiled. "Only the festival," '
    'he said, and pushed off into the dark water. The lanterns rose over the town.',
    "春香は港に来た。「遅いよ」と蒼太は言った。二人は灯台まで歩いた。「また来年も来よう」と春香は笑った。",
    'The robot counted eleven bees. "Are they enough?" asked Ines. "For one more summer," said Moss, and watered '
    'the roses. In the morning the dome was full of light.',
]


def inject_hang(stand_in: str, request_id: str, seconds: float) -> None:
    body = json.dumps({"match": {"mangaflow-request": request_id, "mangaflow-operation": "panel-image"},
                       "hang": seconds, "count": 1}).encode()
    request = urllib.request.Request(f"http://{stand_in}/__stub__/inject", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


RUN = uuid.uuid4().hex[:6]  # users of this run only: nothing is found in an earlier run's image cache


def one(gateway: str, stand_in: str, index: int, hang: bool) -> dict[str, Any]:
    from bench_ai import Client

    client = Client(gateway, f"faults-{RUN}-{index:03d}")
    provider = "vertex" if index % 10 == 0 else "offline"
    text, pages = STORIES[index % len(STORIES)], 1 + index % 2
    started = time.perf_counter()
    try:
        import requests

        body = {"text": text, "pages": pages, "hitl": {"mode": "review"}, "provider": provider}
        response = requests.post(f"{gateway}/start_generation", json=body, headers=client.headers, timeout=120)
        response.raise_for_status()
        accepted = response.json()
        if hang:
            inject_hang(stand_in, accepted["request_id"], 600)
        from rich.console import Console

        from mangaflow_cli.follow import follow

        final = follow(client.api, accepted["request_id"],
                       lambda gate: {"decision": "approve", "token": gate["token"], "decided_by": "bench"},
                       execution=accepted["execution"], console=Console(stderr=True, quiet=True))
        status, error = final["status"], None
        if status != "completed":
            error = client.api.get_status(accepted["request_id"]).get("error")
        return {"index": index, "provider": provider, "request_id": accepted["request_id"], "status": status,
                "error": error, "seconds": time.perf_counter() - started}
    except Exception as err:  # noqa: BLE001 - a pipeline that could not even start counts as not completed
        return {"index": index, "provider": provider, "request_id": None, "status": "error",
                "error": f"{type(err).__name__}: {err}", "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import os

    from localcloud import supervisor
    from localcloud.private_stack import PrivateStack

    supervisor.up()
    os.environ.update(supervisor.env())
    stand_in = supervisor.env(["vertex"])["VERTEX_AI_EMULATOR_HOST"]
    settings = {"MANGAFLOW_FAULT_RATE": str(args.rate), "MANGAFLOW_FAULT_SEED": str(args.seed),
                "MANGAFLOW_FAULT_KINDS": "429,500,503,timeout", "MANGAFLOW_TEXT_DEADLINE_S": "2",
                "MANGAFLOW_IMAGE_DEADLINE_S": "3", "MANGAFLOW_MODEL_BACKOFF_S": "0.2",
                "MANGAFLOW_QUALITY_DELAY_SCALE": "0.05", "MAX_CONCURRENT_REQUESTS_PER_USER": "20"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, PrivateStack(settings, Path(folder), workers=2) as private:
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            results = list(pool.map(lambda i: one(private.gateway, stand_in, i, hang=(i == 0)),
                                    range(args.pipelines)))
        log = (Path(folder) / "gateway.log").read_text(errors="replace")
    wall = time.perf_counter() - started
    from mangaflow import bootstrap

    calls = bootstrap.stores().model_calls
    rows = [r for result in results if result["request_id"] for r in calls.list(result["request_id"])]
    tries = [r for r in rows if r["status"] in ("ok", "blocked", "error", "timeout")]  # a late answer is no new try
    summary = {
        "completed": sum(1 for r in results if r["status"] == "completed"), "pipelines": len(results),
        "tries": len(tries), "faults": dict(Counter(r["fault"] for r in tries if r["fault"])),
        "timeouts": sum(1 for r in rows if r["status"] == "timeout"),
        "late_discarded": sum(1 for r in rows if r["status"] == "late"),
        "phase_answers_discarded": log.count("late phase answer discarded"),
        # The hang on the wire: a try no fault was injected into that still missed its deadline.
        "unfaulted_timeouts": sum(1 for r in rows if r["status"] == "timeout" and r["fault"] is None),
        "median_s": statistics.median(r["seconds"] for r in results), "max_s": max(r["seconds"] for r in results),
        "wall_s": wall, "failures": [r for r in results if r["status"] != "completed"],
    }
    summary["fault_share"] = sum(summary["faults"].values()) / max(1, summary["tries"])
    print(json.dumps(summary, indent=1, default=str))
    if not args.no_write:
        _write(summary, args)
    return 0 if summary["completed"] == summary["pipelines"] else 1


def _write(s: dict[str, Any], args: argparse.Namespace) -> None:
    faults = ", ".join(f"{kind}: {n}" for kind, n in sorted(s["faults"].items()))
    lines = ["## Faults", "",
             f"`bench/bench_faults.py`: {s['pipelines']} pipelines (1-2 pages, every tenth through the Vertex AI "
             f"path and the local stand-in, the rest offline), {args.parallel} at a time, on a gateway and engine of "
             f"their own with the fault switch at {args.rate:.0%} (seed {args.seed}; 429, 500, 503 and timeouts: "
             "tries answering only after their deadline, text 2 s, images 3 s) and one real hang on the wire (the "
             "stand-in held one panel-image request for 10 minutes).", "",
             "| completed | provider tries | faults injected (share) | by kind | tries past their deadline (late "
             "answers discarded; the hang) | median / max run s | wall s |", "|---|---|---|---|---|---|---|",
             f"| **{s['completed']} / {s['pipelines']}** | {s['tries']} | {sum(s['faults'].values())} "
             f"({s['fault_share']:.1%}) | {faults} | {s['timeouts']} ({s['late_discarded']}; "
             f"{s['unfaulted_timeouts']}) | {s['median_s']:.1f} / {s['max_s']:.1f} | {s['wall_s']:.0f} |", "",
             f"The switch draws each try at {args.rate:.0%}; which tries fail depends on the request ids, so the share "
             "differs from run to run. Phase answers the workflow no longer waited for, discarded: "
             f"{s['phase_answers_discarded']} (tests/ai/test_faults_and_deadlines.py covers that path).", ""]
    if s["failures"]:
        lines += ["Not completed:", ""] + [f"- #{f['index']} ({f['provider']}): {f['status']}: {f['error']}"
                                           for f in s["failures"]] + [""]
    section = "\n".join(lines) + "\n"
    write_section(section)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
