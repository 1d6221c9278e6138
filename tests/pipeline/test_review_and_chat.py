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


def open_link(gateway: str, approval_url: str) -> tuple[requests.Session, dict[str, str], requests.Response]:
    """What a browser does with the link: load the page (the fragment stays in the browser), post
    the fragment's token to exchange it for the review cookie, load the page again."""
    link = urlsplit(approval_url)
    assert link.path == "/review_gate" and "token" not in link.query, "the token must not be in the query"
    token = parse_qs(link.fragment)["token"][0]
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    browser = requests.Session()
    shell = browser.get(f"{gateway}/review_gate", params=query, timeout=30)
    assert shell.status_code == 200 and "location.hash" in shell.text and token not in shell.text
    opened = browser.post(f"{gateway}/review_gate", json={**query, "action": "open", "token": token}, timeout=30)
    assert opened.status_code == 200, opened.text
    cookie = opened.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/review_gate" in cookie
    assert token not in cookie, "the session is not the link's token"
    page = browser.get(f"{gateway}/review_gate", params=query, timeout=30)
    return browser, query, page


def test_review_page_escapes_story_text_and_its_form_decides(run_pipeline, stack):
    story = ('Nora opened the door. <img src=x onerror=alert(1)> was written on it. '
             '"Who wrote <b>this</b>?" asked Nora.')
    pages_seen = {}

    def review_plot_on_the_page(gate):
        if gate["phase"] != 3:
            return approve(gate)
        browser, query, page = open_link(stack["gateway"], gate["approval_url"])
        pages_seen["page"] = page
        sent = browser.post(f"{stack['gateway']}/review_gate", data={**query, "decision": "approve"}, timeout=30)
        assert sent.status_code == 200, sent.text
        pages_seen["browser"], pages_seen["query"] = browser, query
        return None  # the page answered the callback already

    state = run_pipeline(story, pages=1, answer=review_plot_on_the_page)["state"]
    pages_seen["again"] = pages_seen["browser"].get(f"{stack['gateway']}/review_gate", params=pages_seen["query"],
                                                    timeout=30)
    page = pages_seen["page"]
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<img src=x" not in page.text and "<b>this</b>" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text or "&lt;b&gt;this&lt;/b&gt;" in page.text
    headers = page.headers
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    again = pages_seen["again"].text
    assert "already decided: approve" in again and '<form method="post"' not in again
    gate = _phase(state, 3)["gates"][0]
    assert gate["decision"] == "approve" and gate["decided_by"] == "review-page"


def test_review_link_with_a_wrong_token_is_refused(run_pipeline, stack):
    answers = {}

    def tamper_then_approve(gate):
        if gate["phase"] == 1:
            link = urlsplit(gate["approval_url"])
            query = {k: v[0] for k, v in parse_qs(link.query).items()}
            token = parse_qs(link.fragment)["token"][0]
            forged = re.sub(r"\.(.)", lambda m: "." + ("A" if m.group(1) != "A" else "B"), token, count=1)
            gateway = stack["gateway"]
            answers["forged"] = requests.post(f"{gateway}/review_gate", timeout=30,
                                              json={**query, "action": "open", "token": forged})
            answers["other_phase"] = requests.post(f"{gateway}/review_gate", timeout=30,
                                                   json={**query, "phase": "2", "action": "open", "token": token})
            answers["forged_page"] = requests.get(f"{gateway}/review_gate", timeout=30,
                                                  params={**query, "token": forged})
        return approve(gate)

    run_pipeline("Ada fixed the clock.", pages=1, answer=tamper_then_approve)
    assert answers["forged"].status_code == 403 and answers["forged"].json()["field"] == "token"
    assert answers["other_phase"].status_code in (403, 404)
    page = answers["forged_page"]
    assert page.status_code == 403 and page.headers["Content-Type"].startswith("text/html")
    assert "not valid" in page.text and "Traceback" not in page.text


def test_a_clear_chat_message_becomes_the_modification(run_pipeline, stack, owner, owner_id):
    chats = []

    def chat_at_concept(gate):
        if gate["phase"] == 1 and not chats:
            reply = requests.post(f"{stack['gateway']}/chat_message", timeout=30, headers=owner, json={
                "request_id": gate["request_id"], "phase": 1, "text": "Please make it much brighter and more cheerful"})
            chats.append(reply.json())
            return None
        return approve(gate)

    state = run_pipeline("Tom sat alone in the rain. \"Nothing ever changes,\" Tom said.", pages=1,
                         answer=chat_at_concept, as_user=owner_id)["state"]
    assert chats and chats[0]["applied"] is True
    assert chats[0]["intent"]["option"] == "brighter"
    gates = _phase(state, 1)["gates"]
    assert [g["decision"] for g in gates] == ["modify", "approve"]
    assert gates[0]["decided_by"] == "chat"
    messages = chat_store().list_messages(chats[0]["session_id"])
    assert [m["content"] for m in messages] == ["Please make it much brighter and more cheerful"]
    assert chat_store().get_intent(chats[0]["intent_id"])["confidence_score"] >= 0.7
