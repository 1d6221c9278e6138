"""Benchmarks the review page a person opens at the phase 5 gate of a 12-page Japanese request (42
panel thumbnails), served by the local function gateway and loaded in Debian's Chromium through
npm playwright-core: time to first contentful paint (`performance.getEntriesByType('paint')`), with
the thumbnail cache cold (every thumbnail made on request) and warm, each load in a new browser
context (nothing cached in the browser), and a revisit (the browser's cache warm); medians of
repeated loads. Then the page's weight by kind: HTML, its inline CSS and JS, the font subset,
thumbnails (those the first view loads, and all of them). Writes the "Review page" section of
bench/RESULTS.md (other sections untouched).

Usage: .venv/bin/python bench/bench_review.py [--loads 7] [--pages 12] [--no-write]
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from results import write_section  # noqa: E402 - bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("RESULTS.md")
STORY = ROOT / "examples" / "lantern-festival.ja.txt"
GOAL_MS = 300
sys.path.insert(0, str(ROOT / "tests" / "review"))  # the browser bridge the browser tests drive Chromium with


def _stack() -> str:
    from localcloud import supervisor

    state = supervisor.up()
    os.environ.update(supervisor.env())
    return state["gateway"]["endpoint"]


def _gate(gateway: str, headers: dict, request_id: str, cursor: str, phase: int) -> tuple[dict, str]:
    import requests

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        page = requests.post(f"{gateway}/get_progress", headers=headers, timeout=60,
                             json={"request_id": request_id, "after": cursor, "wait_s": 10}).json()
        cursor = page["cursor"]
        for event in page["events"]:
            if event.get("type") == "gate_open" and event["phase"] == phase:
                return event, cursor
        if page["status"] in ("failed", "cancelled", "completed"):
            raise SystemExit(f"the request {page['status']} before the phase {phase} gate")
    raise SystemExit(f"no phase {phase} gate in 600 s")


def request_at_panel_gate(gateway: str, pages: int) -> tuple[str, dict, dict]:
    """A request waiting at its phase 5 gate; (request_id, the gate's event, the owner's headers)."""
    import requests

    from mangaflow_cli.api import auth_headers

    headers = auth_headers(f"bench-{uuid.uuid4().hex[:8]}")
    started = requests.post(f"{gateway}/start_generation", headers=headers, timeout=90, json={
        "text": STORY.read_text(encoding="utf-8"), "pages": pages, "hitl": {"mode": "review", "timeout_seconds": 3600}})
    assert started.status_code == 202, started.text
    request_id, cursor = started.json()["request_id"], "0"
    for phase in range(1, 5):
        gate, cursor = _gate(gateway, headers, request_id, cursor, phase)
        answered = requests.post(f"{gateway}/review_gate", timeout=60, json={
            "request_id": request_id, "phase": phase, "gate_id": gate["gate_id"], "token": gate["token"],
            "decision": "approve", "decided_by": "bench"})
        assert answered.status_code == 200, answered.text
    gate, _ = _gate(gateway, headers, request_id, cursor, 5)
    print(f"request {request_id} waits at its phase 5 gate", flush=True)
    return request_id, gate, headers


def link_of_waiting_gate(gateway: str, request_id: str) -> str:
    """The review link of a request already waiting at a gate (`--request`), signed as open_gate signs it."""
    from localcloud import supervisor

    sys.path.insert(0, str(ROOT / "functions"))
    os.environ.update(supervisor.function_environment(supervisor.env(), gateway, supervisor.local_dir()))
    from mangaflow.bootstrap import stores
    from mangaflow.hitl import tokens
    from mangaflow.service.gates import approval_url, deadline_epoch

    gate = [g for g in stores().gates.list(request_id) if g.get("decided_at") is None and not g.get("timed_out")][-1]
    token = tokens.sign(request_id, int(gate["phase"]), gate["gate_id"], deadline_epoch(gate))
    return approval_url(request_id, int(gate["phase"]), gate["gate_id"], token).replace(
        os.environ.get("MANGAFLOW_PUBLIC_URL", gateway), gateway)


def session_cookie(gateway: str, link: str) -> tuple[str, list[dict]]:
    """The page's address and the review session the link grants (as a browser gets it)."""
    import requests

    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    token = parse_qs(parts.fragment)["token"][0]
    browser = requests.Session()
    opened = browser.post(f"{gateway}/review_gate", json={**query, "action": "open", "token": token}, timeout=60)
    assert opened.status_code == 200, opened.text
    host = urlsplit(gateway).hostname
    cookies = [{"name": c.name, "value": c.value, "domain": host, "path": c.path or "/", "httpOnly": True,
                "sameSite": "Strict"} for c in browser.cookies]
    return f"{gateway}/review_gate?{parts.query}", cookies


def forget_thumbnails(request_id: str) -> int:
    """Empty the request's thumbnail cache (the preview-cache objects under its thumbs/)."""
    from mangaflow.config import settings
    from mangaflow.stores.objects import object_store

    client = object_store().client
    blobs = list(client.list_blobs(settings().bucket("preview_cache"), prefix=f"requests/{request_id}/thumbs/"))
    for blob in blobs:
        blob.delete()
    return len(blobs)


def weight(measured: dict) -> dict[str, int]:
    """Bytes by kind: the HTML document (with its inline CSS and JS named apart), font, thumbnails."""
    timing, responses = measured["timing"], measured["responses"]
    kinds = {"html": 0, "html_sent": 0, "font": 0, "thumbnails": 0, "thumbnail_count": 0, "other": 0}
    for response in responses:
        if response["kind"] == "document":
            kinds["html"] += response["bytes"]
            kinds["html_sent"] += response["sent"]
        elif response["kind"] == "font":
            kinds["font"] += response["bytes"]
        elif response["kind"] == "image":
            kinds["thumbnails"] += response["bytes"]
            kinds["thumbnail_count"] += 1
        elif "/review_gate/events" not in response["url"]:
            kinds["other"] += response["bytes"]
    kinds["css"], kinds["js"] = timing["css"], timing["js"]
    kinds["total"] = kinds["html_sent"] + kinds["font"] + kinds["thumbnails"] + kinds["other"]
    return kinds


def font_subset_ms(characters: str, runs: int = 3) -> float:
    """Cutting Noto Sans JP to a page's characters, in this process (the cache cleared each time)."""
    sys.path.insert(0, str(ROOT / "functions"))
    from mangaflow.review import assets

    times = []
    for _ in range(runs):
        assets._subset.cache_clear()
        started = time.perf_counter()
        assets._subset(characters)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def run(loads: int, pages: int, request_id: str | None = None) -> tuple[list[str], dict]:
    from _browser import Browser

    gateway = _stack()
    if request_id:
        link = link_of_waiting_gate(gateway, request_id)
    else:
        print(f"starting a {pages}-page request and approving gates 1-4…", flush=True)
        request_id, gate, _ = request_at_panel_gate(gateway, pages)
        link = gate["approval_url"]
    url, cookies = session_cookie(gateway, link)
    browser = Browser()
    try:
        browser.do("measure", url=url, cookies=cookies, locale="ja-JP", all=True)  # warms workers and caches
        results: dict[str, list[dict]] = {"cold": [], "warm": [], "revisit": []}
        for _ in range(loads):
            forget_thumbnails(request_id)
            results["cold"].append(browser.do("measure", url=url, cookies=cookies, locale="ja-JP"))
            results["warm"].append(browser.do("measure", url=url, cookies=cookies, locale="ja-JP"))
            results["revisit"].append(browser.do("measure", url=url, cookies=cookies, locale="ja-JP", reuse=True))
        whole = browser.do("measure", url=url, cookies=cookies, locale="ja-JP", all=True)
    finally:
        browser.close()
    first = weight(results["warm"][0])
    full = weight(whole)
    thumbs = whole["timing"]["images"]
    rows = {name: {key: median([r["timing"][key] for r in runs if r["timing"][key] is not None])
                   for key in ("ttfb", "html_done", "fcp", "lcp", "load")}
            for name, runs in results.items()}
    import requests

    html = requests.get(url, cookies={c["name"]: c["value"] for c in cookies}, timeout=60).text
    characters = "".join(sorted({ch for ch in html if not ch.isspace()}))
    subset_ms = font_subset_ms(characters)
    facts = {"rows": rows, "first": first, "full": full, "thumbs": thumbs, "subset_ms": subset_ms, "loads": loads,
             "pages": pages}
    return _lines(facts), facts


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def _lines(f: dict) -> list[str]:
    rows, first, full = f["rows"], f["first"], f["full"]
    verdict = "met" if rows["cold"]["fcp"] < GOAL_MS and rows["warm"]["fcp"] < GOAL_MS else "NOT met"
    return [
        f"`.venv/bin/python bench/bench_review.py` on the 2-core box ({platform.python_version()}), the local stack "
        f"(function gateway: gunicorn, one worker a core): the phase 5 gate of a {f['pages']}-page Japanese request "
        f"({f['thumbs']} panel thumbnails), loaded in Debian's Chromium (headless, playwright-core, 1280x900), "
        f"medians of {f['loads']} loads each. Cold: the request's thumbnail cache emptied before the load; warm: "
        "thumbnails cached on the server; both in a new browser context (empty HTTP cache). Revisit: the same "
        "context again (the browser's cache warm).",
        "",
        "| load | server answers (TTFB) | HTML received | first contentful paint | largest contentful paint | load event |",
        "|---|---|---|---|---|---|",
        *[f"| {name} | {r['ttfb']} ms | {r['html_done']} ms | **{r['fcp']} ms** | {r['lcp']} ms | {r['load']} ms |"
          for name, r in rows.items()],
        "",
        f"Goal: first paint under {GOAL_MS} ms: {verdict}.",
        "",
        "| page weight | first view | whole page (every thumbnail loaded) |",
        "|---|---|---|",
        f"| HTML document (as sent, gzip) | {_kb(first['html'])} ({_kb(first['html_sent'])}) | "
        f"{_kb(full['html'])} ({_kb(full['html_sent'])}) |",
        f"| … of which inline CSS / JS | {_kb(first['css'])} / {_kb(first['js'])} | {_kb(full['css'])} / {_kb(full['js'])} |",
        f"| font subset (WOFF2, Noto Sans JP cut to the page's characters) | {_kb(first['font'])} | {_kb(full['font'])} |",
        f"| panel thumbnails (WebP, 360 px wide) | {_kb(first['thumbnails'])} ({first['thumbnail_count']}) | "
        f"{_kb(full['thumbnails'])} ({full['thumbnail_count']}) |",
        f"| total sent | {_kb(first['total'])} | {_kb(full['total'])} |",
        "",
        f"Cutting the font subset for a new page (fontTools, in one process, not cached): {f['subset_ms']:.0f} ms; "
        "it is made once per set of characters and kept in the preview cache, and the page paints before it "
        "arrives (`font-display: swap`).",
    ]


def _write(lines: list[str]) -> None:
    section = "## Review page\n\n" + "\n".join(lines) + "\n\n"
    write_section(section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--request", help="measure this request, already waiting at its phase 5 gate")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    lines, _ = run(args.loads, args.pages, args.request)
    print("\n".join(lines))
    if not args.no_write:
        _write(lines)
        print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
