"""A finished book's review page offers its owner to reopen it at a phase gate (issue 12 item 5): in Chromium,
signed in as the owner (the header an identity-aware proxy adds), the page's form reopens the request at
phase 6 and the page follows it to that gate; a link holder is never offered it, and is refused if they try."""
from __future__ import annotations

import requests

from _pages import answer, at_gate, finished, gate_opened, shot, start, status

STORY = 'Mina found a lantern by the river. "See you next year," Mina said. The light drifted away.'


def test_the_owner_reopens_a_finished_book_from_its_page_and_a_link_holder_cannot(stack, owner, browser, shots,
                                                                                  started):
    request_id = start(stack, owner, STORY, pages=1, timeout_s=600, language="en")
    started.append(request_id)
    cursor, last = "0", None
    for phase in range(1, 8):
        last = gate_opened(stack, owner, request_id, phase=phase, after=cursor)
        cursor = last["cursor"]
        answer(stack, last, "approve", decided_by="test")
    finished(stack, owner, request_id)

    # A link holder: the finished book, and no reopen form; posting one anyway is refused.
    browser.goto(last["approval_url"])
    browser.submit(".actions a.button")
    browser.wait_for("#status")
    assert browser.count("#reopen") == 0
    refused = requests.post(f"{stack['gateway']}/review_gate", timeout=60, json={
        "request_id": request_id, "phase": 7, "gate_id": last["gate_id"], "token": last["token"], "action": "reopen",
        "reopen_phase": 6})
    assert refused.status_code == 403 and refused.json()["field"] == "request_id"

    # The owner, signed in: the form is there; reopening at phase 6 leads to that gate, waiting on the page.
    browser.do("context", locale="en-US", headers=owner)
    browser.goto("about:blank")
    browser.goto(last["approval_url"])
    browser.submit(".actions a.button")
    browser.wait_for("#reopen-button")
    shot(browser, shots / "finished-book-with-reopen.png")
    browser.do("select", selector="#reopen-phase", value="6")
    browser.submit("#reopen-button")
    at_gate(browser, 6)
    state = status(stack, owner, request_id)
    assert state["status"] == "waiting" and state["reopened_from_phase"] == 6
    assert [e["start_phase"] for e in state["executions"]] == [1, 6]
    shot(browser, shots / "reopened-at-phase-6.png")
    browser.submit("#approve")
    at_gate(browser, 7)
    browser.submit("#approve")
    browser.wait_for("#reopen-button")  # finished again: the form is back
    assert finished(stack, owner, request_id)["reopened_from_phase"] == 6

