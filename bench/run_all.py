"""`make bench`: every benchmark in turn, on the services `mangaflow services up` started.

The end-to-end, stores, storage, story-reading, AI-art, fault and edit benchmarks rewrite their own sections of
bench/RESULTS.md; the others print their tables (paste them into RESULTS.md when they change)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ["bench_expr.py"],
    ["bench_workflows.py"],
    ["bench_render_art.py"],
    ["bench_render_pages.py"],
    ["bench_stores.py"],
    ["bench_storage.py"],
    ["bench_pubsub.py"],
    ["bench_analytics_writes.py"],
    ["bench_events.py"],
    ["bench_pipeline.py"],
    ["bench_story.py"],
    ["bench_ai.py"],
    ["bench_faults.py"],
    ["bench_edits.py"],
]


def main() -> int:
    failed = []
    for bench in BENCHES:
        print(f"\n### {' '.join(bench)}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / bench[0]), *bench[1:]], cwd=HERE.parent)
        if result.returncode != 0:
            failed.append(bench[0])
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
