"""A modification that fails while it is being made never ends the run: the gate opens again on the
version shown before, the page says what went wrong, and approving there finishes the book.

The failing modification is a real one: the page refuses feedback its phase cannot apply before
sending it, but the workflow's callback takes any answer with the gate's token, so an API client
that answers the callback itself can send "move the bubble" (no direction) to phase 6, which raises
while producing the attempt. Reviewed in Japanese on the page, through the phase 7 gate."""
from __future__ import annotations

import json

import requests

from _pages import at_gate, finished, gate_opened, output, shot, start

STORY = ("夏祭りの夜、春香は川辺で灯籠を手にしていた。「今年も来てくれたんだね」と春香は言った。"
         "幼なじみの大樹は照れくさそうに笑った。「約束だからな」と大樹は答えた。"
         "二人は灯籠を川に流した。光がゆっくりと遠ざかっていった。")
FAILING = {"decision": "modify", "feedback": "move the bubble", "option": "move_bubble", "decided_by": "api:test"}


def test_a_failed_modification_reopens_the_gate_with_the_error_and_approving_finishes(
        stack, owner, browser, shots, started):
    request_id = start(stack, owner, STORY, pages=2)
    started.append(request_id)
    browser.goto(gate_opened(stack, owner, request_id, phase=1)["approval_url"])
    for phase in range(1, 6):
        at_gate(browser, phase)
        browser.submit("#approve")
    at_gate(browser, 6)
    lettering = gate_opened(stack, owner, request_id, phase=6)

    # The page refuses this feedback before sending it (the gate stays open, nothing is produced) ...
    browser.do("fill", selector='textarea[name="feedback"]', value=FAILING["feedback"])
    browser.submit("#modify")
    assert browser.count("#answer-error") == 1 and browser.count("#modify-error") == 0
    # ... but the callback takes it from a client that answers the workflow directly.
    sent = requests.post(lettering["callback_url"], json={**FAILING, "token": lettering["token"]}, timeout=60)
    assert sent.status_code == 200, sent.text
    reopened = gate_opened(stack, owner, request_id, phase=6, after=lettering["cursor"])
    assert reopened["gate_id"] != lettering["gate_id"] and reopened["attempt"] == 1
    assert "direction" in reopened["modify_error"] or "which way" in reopened["modify_error"], reopened["modify_error"]

    # The page follows the run to the reopened gate: the version shown before, the error, what to do.
    browser.wait_for("#modify-error", 120000)
    at_gate(browser, 6)
    error = browser.text("#modify-error")
    assert "修正を反映できませんでした" in error and "承認" in error
    assert "試行 1" in browser.text("#preview h2")
    shot(browser, shots / "ja-phase6-modification-failed.png")
    browser.submit("#approve")

    at_gate(browser, 7)
    shot(browser, shots / "ja-phase7-finish.png")
    browser.submit("#approve")
    browser.wait_for("#download-pdf", 120000)
    shot(browser, shots / "ja-finished-book.png")

    state = finished(stack, owner, request_id)
    lettering_phase = next(p for p in state["phases"] if p["phase"] == 6)
    assert [g["decision"] for g in lettering_phase["gates"]] == ["modify", "approve"]
    whole = [a for a in lettering_phase["attempts"] if a.get("panel_id") is None]
    assert [a["attempt"] for a in whole if a["status"] == "succeeded"] == [1], whole
    from mangaflow.stores.objects import object_store

    manifest = json.loads(object_store().get_bytes(state["result_uri"]))
    assert manifest["outputs"]["lettering"] == output(state, 6, 1), "the book is lettered as the version shown"
