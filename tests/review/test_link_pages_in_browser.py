"""Links that cannot open a gate each lead to a page of their own in the browser, never a JSON body:
a forged link (in the browser's language, telling nothing of the request), an expired one (the gate
waited out its time; what happened then), and one whose gate was answered already (answered how,
where the request is now, and a button there). Each names what to do next; screenshots in Japanese
and English."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from _pages import answer, at_gate, gate_opened, shot, start

STORIES = {"ja": "春香は川辺で灯籠を流した。「また来年ね」と春香は言った。光はゆっくりと遠ざかっていった。",
           "en": 'Mina found a lantern by the river. "See you next year," Mina said. The light drifted away.'}
TIMEOUT_S = 30  # the shortest a gate may wait: the phase 2 gate is left to run out
TITLES = {"ja": {"forged": "このリンクは無効です", "expired": "このリンクは期限切れです", "decided": "この確認は回答済みです"},
          "en": {"forged": "This link is not valid", "expired": "This link has expired",
                 "decided": "This gate was already answered"}}


def _forged(link: str) -> str:
    """The link with one character of its token's signature changed."""
    base, _, fragment = link.partition("#token=")
    expires, _, mac = fragment.partition(".")
    return f"{base}#token={expires}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def _open(browser, link: str) -> None:
    browser.goto("about:blank")  # links that differ only after "#" would not load the page again
    browser.goto(link)


def _page(browser, title: str, status: int) -> str:
    browser.wait_for("#title")
    document = browser.do("document")["document"]
    assert document["status"] == status and document["type"].startswith("text/html"), document
    assert browser.text("#title") == title
    assert browser.count("#next li") + browser.count(".actions a.button") >= 1, "the page says what to do next"
    return browser.text("body")


@pytest.mark.parametrize("language", ["ja", "en"])
def test_forged_expired_and_decided_links_each_show_their_page(stack, owner, browser, shots, started, language):
    titles = TITLES[language]
    request_id = start(stack, owner, STORIES[language], pages=1, timeout_s=TIMEOUT_S, language=language)
    started.append(request_id)
    first = gate_opened(stack, owner, request_id, phase=1)
    browser.do("context", locale="ja-JP" if language == "ja" else "en-US")

    # Forged: the browser's language, nothing about the request, and the command that prints a good link.
    _open(browser, _forged(first["approval_url"]))
    text = _page(browser, titles["forged"], 403)
    assert f"mangaflow status {request_id}" in text and "{" not in text
    assert STORIES[language][:4] not in text
    if language == "ja":  # set in the served font, though the browser holds no session yet
        loaded = "document.fonts.load('16px \"MF Noto Sans JP\"', 'リンク').then(function (f) { return f.length; })"
        assert browser.do("evaluate", script=loaded)["value"] == 1
    shot(browser, shots / f"{language}-forged-link.png")

    # Answered already: what, by whom, where the request is now, and a button to the gate waiting now.
    answer(stack, first, "approve", decided_by="review-page")
    second = gate_opened(stack, owner, request_id, phase=2, after=first["cursor"])
    _open(browser, first["approval_url"])
    text = _page(browser, titles["decided"], 200)
    assert ("承認" if language == "ja" else "approved") in text
    assert ("フェーズ2" if language == "ja" else "phase 2") in browser.text(".actions")
    assert "#token" not in browser.url()
    shot(browser, shots / f"{language}-decided-link.png")
    browser.submit(".actions a.button")
    at_gate(browser, 2)

    # Expired: the phase 2 gate is left to wait out its time; its link then says so and what happened.
    gate_opened(stack, owner, request_id, phase=3, after=second["cursor"], timeout_s=TIMEOUT_S + 120)
    browser.do("context", locale="en-US")  # an expired link speaks the request's language, not the browser's
    _open(browser, second["approval_url"])
    text = _page(browser, titles["expired"], 403)
    assert ("回答がなかった" if language == "ja" else "Nobody answered in time") in text
    assert f"mangaflow status {request_id}" in text
    shot(browser, shots / f"{language}-expired-link.png")

    # No token at all (the part after # lost on the way): the link's own page says so, in the
    # browser's language, with the command that prints the link again.
    browser.do("context", locale="ja-JP" if language == "ja" else "en-US")
    _open(browser, second["approval_url"].split("#", 1)[0])
    browser.wait_for("#no-token")
    assert "#token=" in browser.text("#no-token") and f"mangaflow status {request_id}" in browser.text("#no-token")
    shot(browser, shots / f"{language}-link-without-token.png")
    problems = [p for p in browser.do("problems")["problems"] if not p.endswith("/favicon.ico")]
    assert problems and all(re.match(r"403 .*/review_gate\?", p) for p in problems), problems


def test_a_link_for_another_request_or_gate_is_forged(stack, owner, browser, started):
    """A real token moved onto another gate's address is as forged as a made-up one."""
    request_id = start(stack, owner, STORIES["en"], pages=1, timeout_s=600, language="en")
    started.append(request_id)
    first = gate_opened(stack, owner, request_id, phase=1)
    link = urlsplit(first["approval_url"])
    query = parse_qs(link.query)
    moved = first["approval_url"].replace(f"gate_id={query['gate_id'][0]}", f"gate_id=g-{request_id}-2-0")
    _open(browser, moved)
    _page(browser, TITLES["en"]["forged"], 403)
