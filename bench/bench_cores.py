"""All cores busy: wall time of offline books and how the gateway's worker processes share the CPU, for each way
of connecting the engine to the gateway, side by side (interleaved runs, medians).

Each variant is a gateway (2 gunicorn workers, as `services up` starts on 2 cores) and an engine of its own on the
running stack's stores (localcloud.private_stack); every run a fresh user starts a book through start_generation
(offline provider, gates decided by `hitl_mode: auto`), and the time runs until the book is downloaded (pages,
PDF, CBZ, manifest through get_artifact, as `mangaflow generate` does). CPU per worker is read from
/proc/<pid>/stat before and after the run; peak memory is each worker's VmHWM (highest resident set since the
worker started) after the runs of a fresh gateway. Writes the section "All cores" of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from results import write_section  # noqa: E402 - bench/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))
RESULTS = Path(__file__).with_name("RESULTS.md")
STORY = REPO / "examples" / "lantern-festival.ja.txt"
TICK = os.sysconf("SC_CLK_TCK")
VARIANTS = {"keep-alive 2 s (gunicorn's default; before)": ("--keepalive", "2"),
            "no keep-alive (now)": ("--keepalive", "0"),
            "no keep-alive, glibc's allocator defaults": ("--keepalive", "0", "--allocator", "glibc")}


def workers_of(master: int) -> list[int]:
    """The gunicorn worker processes under the gateway's master."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def memory_mb(pid: int, key: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_book(gateway: str, master: int, pages: int, text: str) -> dict[str, Any]:
    from bench_ai import Client
    from mangaflow_cli.book import download

    workers = workers_of(master)
    before = {pid: cpu_s(pid) for pid in workers}
    client = Client(gateway)
    started = time.perf_counter()
    state, completed = client.run(text, pages, hitl_mode="auto", provider="offline")
    with tempfile.TemporaryDirectory() as out:
        download(client.api, state["request_id"], Path(out))
    wall = time.perf_counter() - started
    used = {pid: cpu_s(pid) - before[pid] for pid in workers if Path(f"/proc/{pid}").exists()}
    total = sum(used.values()) or 1e-9
    spans = {p["phase"]: p["timing"] for p in state["phases"]}
    five = spans.get(5, {})
    whole5 = sum(a.get("seconds") or 0 for p in state["phases"] if p["phase"] == 5 for a in p["attempts"]
                 if a.get("panel_id") is None)
    return {"wall": wall, "completed": completed, "busiest_share": max(used.values()) / total, "cpu_s": total,
            "phase5_span": five.get("span_s", 0.0), "phase5_panels_s": five.get("panels_s", 0.0),
            "phase5_whole_only": whole5, "panels": state["panel_count"],
            "spans": {int(phase): float(timing.get("span_s") or 0.0) for phase, timing in spans.items()}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS)[:2])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from localcloud import supervisor
    from localcloud.private_stack import PrivateStack

    supervisor.up()
    os.environ.update(supervisor.env())
    text = STORY.read_text(encoding="utf-8")
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {}
    peaks: dict[str, list[float]] = {}
    load = []
    with tempfile.TemporaryDirectory() as folder:
        stacks = {name: PrivateStack({"MANGAFLOW_PROVIDER": "offline"}, Path(folder) / str(i), workers=2,
                                     gateway_args=VARIANTS[name]).start()
                  for i, name in enumerate(args.variants)}
        try:
            for name, private in stacks.items():  # warm-up: the first requests import the phases
                one_book(private.gateway, private._procs[-1].pid, 1, "A warm-up story. \"Hello,\" said Ann.")
            for pages in args.pages:
                for round_ in range(args.repeat):
                    for name, private in stacks.items():
                        load.append(os.getloadavg()[0])
                        sample = one_book(private.gateway, private._procs[-1].pid, pages, text)
                        samples.setdefault((name, pages), []).append(sample)
                        print(f"{name} {pages}p #{round_ + 1}: wall {sample['wall']:.2f} s (completed "
                              f"{sample['completed']:.2f}), busiest worker {sample['busiest_share']:.0%} of "
                              f"{sample['cpu_s']:.1f} CPU s; phase 5 span {sample['phase5_span']:.2f} s, "
                              f"whole attempts only {sample['phase5_whole_only']:.2f} s; spans "
                              + ", ".join(f"{p}: {t:.2f}" for p, t in sorted(sample["spans"].items())), flush=True)
            for name, private in stacks.items():
                peaks[name] = [memory_mb(pid) for pid in workers_of(private._procs[-1].pid)]
        finally:
            for private in stacks.values():
                private.stop()
    rows = []
    for (name, pages), runs in samples.items():
        row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        row.update(variant=name, pages=pages, runs=len(runs), shares=[r["busiest_share"] for r in runs])
        rows.append(row)
    print(f"load average (1 min) at each run: median {statistics.median(load):.1f}, max {max(load):.1f}")
    for name, mb in peaks.items():
        print(f"{name}: peak RSS per worker {', '.join(f'{m:.0f} MB' for m in mb)}")
    if not args.no_write:
        _write(rows, peaks, load, args)
    return 0


def _write(rows: list[dict[str, Any]], peaks: dict[str, list[float]], load: list[float],
           args: argparse.Namespace) -> None:
    lines = ["## All cores", "",
             f"`bench/bench_cores.py`: offline books (lantern-festival.ja), gates decided automatically, each "
             f"variant a gateway (2 gunicorn workers) and engine of its own on the running stores; wall time from "
             f"start_generation to the book downloaded; runs interleaved between the variants, median of "
             f"{args.repeat} per row. Load average (1 min) when each run started: median "
             f"{statistics.median(load):.1f}, max {max(load):.1f} on 2 cores (the machine was shared). Goals: 8 "
             "pages <= 5 s, 32 pages <= 14 s, the busiest worker <= 60 % of the gateway's CPU.", "",
             "| variant | pages | panels | wall s | busiest worker's share of CPU (each run) | gateway CPU s | "
             "phase 5 span s | phase 5 as --json gave it before s |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['variant']} | {row['pages']} | {row['panels']:.0f} | {row['wall']:.2f} | "
                     f"{row['busiest_share']:.0%} ({', '.join(f'{s:.0%}' for s in row['shares'])}) | "
                     f"{row['cpu_s']:.1f} | {row['phase5_span']:.2f} | {row['phase5_whole_only']:.2f} |")
    lines += ["", "Peak resident memory per worker after every run above (VmHWM): " + "; ".join(
        f"{name}: {', '.join(f'{m:.0f} MB' for m in mb)}" for name, mb in peaks.items()), ""]
    section = "\n".join(lines) + "\n"
    write_section(section)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
