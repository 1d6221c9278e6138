"""`mangaflow generate --review` prints each gate's review link beside its prompt; a gate answered on
that page in a browser ends the prompt by itself (nobody presses enter) and the run goes on."""
from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from _cli_runs import Background  # noqa: E402

from _pages import at_gate, status  # noqa: E402


def test_a_gate_answered_on_the_page_ends_the_terminal_prompt(stack, browser, tmp_path):
    from mangaflow_cli.api import auth_headers

    user = f"dev-{uuid.uuid4().hex[:10]}"
    story = tmp_path / "story.txt"
    story.write_text('Lena found a key under the bridge. "Whose is this?" Lena asked.', encoding="utf-8")
    run = Background("generate", story, "--pages", "1", "--out", tmp_path / "out", "--review", "--json",
                     MANGAFLOW_USER=user)
    try:
        link = run.wait_for(r"review phase 1 in a browser: (\S+)", timeout=180).group(1)
        run.wait_for(r"approval gate after phase 1")  # the prompt itself ends no line until answered
        browser.goto(link)
        at_gate(browser, 1)
        browser.submit("#approve")
        run.wait_for(r"the gate after phase 1 was answered elsewhere \(approve\); going on", timeout=60)
        run.wait_for(r"approval gate after phase 2", timeout=120)
        assert run.proc.stdin is not None
        run.proc.stdin.write("skip\n")
        run.proc.stdin.flush()
        code, stdout, stderr = run.finish(timeout=300)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert code == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    phases = {p["phase"]: p for p in summary["phases"]}
    assert phases[1]["decision"] == "approve" and phases[2]["decision"] == "skip"
    request_id = re.search(r"request (r-[0-9a-f]+) started", stderr).group(1)
    state = status(stack, auth_headers(user), request_id)
    concept = next(p for p in state["phases"] if p["phase"] == 1)
    assert [g["decided_by"] for g in concept["gates"]] == ["review-page"]
