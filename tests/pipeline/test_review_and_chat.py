"""People answer gates through the review page or by chatting; both reach the same callback."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests

from mangaflow.stores.chat import chat_store


def approve(gate: dict) -> dict:
    return {"decision": "approve", "token": gate["token"], "decided_by": "test"}


def _phase(state: dict, number: int) -> dict:
    return next(p for p in state["phases"] if p["phase"] == number)


def test_review_page_escapes_story_text_and_its_form_decides(run_pipeline, stack):
    story = ('Nora opened the door. <img src=x onerror=alert(1)> was written on it. '
             '"Who wrote <b>this</b>?" asked Nora.')
    pages_seen = {}

    def review_plot_on_the_page(gate):
        if gate["phase"] != 3:
            return approve(gate)
        link = urlsplit(gate["approval_url"])
        assert link.path == "/review_gate"
        page = requests.get(f"{stack['gateway']}/review_gate", params=parse_qs(link.query), timeout=30)
        pages_seen["html"] = page.text
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        query = {k: v[0] for k, v in parse_qs(link.query).items()}
        sent = requests.post(f"{stack['gateway']}/review_gate", data={**query, "decision": "approve"}, timeout=30)
        assert sent.status_code == 200, sent.text
        return None  # the page answered the callback already

    state = run_pipeline(story, pages=1, answer=review_plot_on_the_page)["state"]
    html_page = pages_seen["html"]
    assert "<img" not in html_page and "<b>" not in html_page
    assert "&lt;img" in html_page or "&lt;b&gt;" in html_page
    gate = _phase(state, 3)["gates"][0]
    assert gate["decision"] == "approve" and gate["decided_by"] == "review-page"


def test_review_link_with_a_wrong_token_is_refused(run_pipeline, stack):
    answers = {}

    def tamper_then_approve(gate):
        if gate["phase"] == 1:
            query = {k: v[0] for k, v in parse_qs(urlsplit(gate["approval_url"]).query).items()}
            forged = dict(query, token=re.sub(r"\.(.)", lambda m: "." + ("A" if m.group(1) != "A" else "B"), query["token"], count=1))
            answers["forged"] = requests.get(f"{stack['gateway']}/review_gate", params=forged, timeout=30)
            answers["other_gate"] = requests.get(f"{stack['gateway']}/review_gate",
                                                 params=dict(query, phase="2"), timeout=30)
        return approve(gate)

    run_pipeline("Ada fixed the clock.", pages=1, answer=tamper_then_approve)
    assert answers["forged"].status_code == 403
    assert answers["other_gate"].status_code in (403, 404)
    assert "Traceback" not in answers["forged"].text


def test_a_clear_chat_message_becomes_the_modification(run_pipeline, stack):
    chats = []

    def chat_at_concept(gate):
        if gate["phase"] == 1 and not chats:
            reply = requests.post(f"{stack['gateway']}/chat_message", timeout=30, json={
                "request_id": gate["request_id"], "phase": 1, "text": "Please make it much brighter and more cheerful"})
            chats.append(reply.json())
            return None
        return approve(gate)

    state = run_pipeline("Tom sat alone in the rain. \"Nothing ever changes,\" Tom said.", pages=1,
                         answer=chat_at_concept)["state"]
    assert chats and chats[0]["applied"] is True
    assert chats[0]["intent"]["option"] == "brighter"
    gates = _phase(state, 1)["gates"]
    assert [g["decision"] for g in gates] == ["modify", "approve"]
    assert gates[0]["decided_by"] == "chat"
    messages = chat_store().list_messages(chats[0]["session_id"])
    assert [m["content"] for m in messages] == ["Please make it much brighter and more cheerful"]
    assert chat_store().get_intent(chats[0]["intent_id"])["confidence_score"] >= 0.7
