"""What publishing an event costs the pipeline (issue 17 on issue 16's critical path): mangaflow.events
publishes and waits for Pub/Sub's acknowledgement; a run publishes about 22 events (7 gates opened and
decided, 7 phases completed, 1 run finished). Needs the local Pub/Sub (`mangaflow services up`).

    .venv/bin/python bench/bench_events.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COUNT = 300


def main() -> None:
    from localcloud import supervisor

    os.environ.update(supervisor.env(["pubsub"]))
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    from mangaflow import events

    # A topic of its own with no subscription: the stack's subscribers never see these events.
    topic = "projects/mangaflow-local/topics/bench-events"
    try:
        pubsub_v1.PublisherClient().create_topic(name=topic)
    except AlreadyExists:
        pass
    events.topic_path = lambda event: topic

    for _ in range(20):  # the channel and the topic path warm up
        events.publish("run_finished", "bench-warm", request_id="r-0000000000000000", status="completed")
    times = []
    for index in range(COUNT):
        started = time.perf_counter()
        assert events.publish("run_finished", f"bench-{index}", request_id="r-0000000000000000", status="completed")
        times.append(time.perf_counter() - started)
    times.sort()
    print(f"| publish one event and wait for the acknowledgement ({COUNT}) | median {statistics.median(times) * 1000:.2f} ms, "
          f"p95 {times[int(COUNT * 0.95)] * 1000:.2f} ms |")
    print(f"| a run's ~22 events on the critical path | {statistics.median(times) * 22 * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
