"""A hostile story (markup, script, quotes, a right-to-left override, template syntax) and a hostile
title, reviewed through all seven gates and the finished book in a real Chromium, in English: every
piece shows as text (a direction override as its code, never obeyed) and nothing runs (no dialog, no
request to anywhere but the service, no Content Security Policy violation). A lone surrogate never gets in: the API refuses it, naming the field."""
from __future__ import annotations

import json

import requests

from _pages import at_gate, finished, first_link, origin, shot, start

RLO = "\u202e"
STORY = ('Mara opened the door. <script>alert("story")</script> was painted on it in red. '
         '"Who wrote <img src=x onerror=alert(1)> here?" asked Mara. '
         f'"It was me{RLO}gnp.exe," said Theo, and he laughed. '
         "Theo's note said '\"><svg onload=alert(2)>' and {{7*7}} and ${alert(3)} and </textarea>. "
         'Mara tore the note down. "<iframe src=https://example.com/></iframe>" she read aloud. '
         'Then the night was quiet again, and the two of them walked home.')
TITLE = f"<b>Bold</b> & {RLO}Night"
SHOWN_TITLE = "<b>Bold</b> & [U+202E]Night"  # a direction override is shown by its code, never obeyed
FEEDBACK = "please add <img src=x onerror=alert('feedback')> sparkle"
# The pieces the story reader keeps whole (it splits the prose at quotation marks, as it should).
HOSTILE_SNIPPETS = ("<script>alert(", ")</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(2)>",
                    "{{7*7}}", "${alert(3)}", "</textarea>", "<iframe src=https://example.com/></iframe>",
                    "It was me[U+202E]gnp.exe")
NAMES = {1: "concept", 2: "characters", 3: "plot", 4: "storyboard", 5: "panels", 6: "lettering", 7: "finish"}


def _markup_injected(browser) -> dict:
    """Elements a story could only have made by being parsed as markup, and how many scripts run."""
    script = ("({scripts: document.querySelectorAll('script').length,"
              " injected: document.querySelectorAll('img[onerror],svg[onload],iframe,[onload],[onerror]').length,"
              " bold: Array.from(document.querySelectorAll('b')).filter(function (b) { return b.textContent === 'Bold'; }).length})")
    return browser.do("evaluate", script=script)["value"]


def _nothing_ran(browser, gateway: str) -> None:
    seen = browser.do("seen")
    assert seen["dialogs"] == [], seen["dialogs"]
    assert seen["csp"] == [], seen["csp"]
    elsewhere = [url for url in seen["requests"] if origin(url) != gateway and not url.startswith("data:")]
    assert seen["requests"] and elsewhere == [], elsewhere


# Made on purpose from outside the page, to show the observers see what they watch for.
PROBE = ("new Promise(function (done) { var image = new Image(); image.src = 'http://192.0.2.1/probe.png';"
         " document.body.appendChild(image); setTimeout(function () { alert('probe'); done(1); }, 300); })")


def test_a_lone_surrogate_is_refused_naming_the_field(stack, owner):
    body = ('{"text": "Mara opened the door \\ud800 and left.", "pages": 1, '
            '"hitl": {"mode": "review", "timeout_seconds": 60}}')
    response = requests.post(f"{stack['gateway']}/start_generation", data=body.encode("ascii"), timeout=60,
                             headers={**owner, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "text" and "surrogate" in response.json()["error"]


def test_a_hostile_story_shows_as_text_on_every_screen_and_nothing_runs(stack, owner, browser, shots, started):
    request_id = start(stack, owner, STORY, pages=2, title=TITLE, language="en")
    started.append(request_id)
    gateway = stack["gateway"]
    browser.goto(first_link(stack, owner, request_id))
    shown_anywhere = ""
    for phase in range(1, 8):
        at_gate(browser, phase)
        if phase == 4:  # hostile feedback comes back on the page, quoted in the refusal, as text
            browser.do("fill", selector='textarea[name="feedback"]', value=FEEDBACK)
            browser.submit("#modify")
            assert FEEDBACK in browser.text("#answer-error")
        text = browser.text("body")
        shown_anywhere += text
        assert browser.text("header h1") == f"Mangaflow · {SHOWN_TITLE}"
        assert SHOWN_TITLE in browser.do("title")["title"] and RLO not in text
        assert _markup_injected(browser) == {"scripts": 1, "injected": 0, "bold": 0}, phase
        shot(browser, shots / f"en-phase{phase}-{NAMES[phase]}.png")
        _nothing_ran(browser, gateway)
        browser.submit("#approve")
    browser.wait_for("#download-pdf", 120000)
    shot(browser, shots / "en-finished-book.png")
    _nothing_ran(browser, gateway)
    assert _markup_injected(browser)["injected"] == 0
    for snippet in HOSTILE_SNIPPETS:
        assert snippet in shown_anywhere, f"{snippet!r} is shown as text somewhere"
    html = browser.html()
    assert "<script>alert" not in html and "<img src=x" not in html
    problems = [p for p in browser.do("problems")["problems"] if not p.endswith("/favicon.ico")]
    assert all(p.startswith("422 ") for p in problems), problems  # only the refused feedback
    state = finished(stack, owner, request_id)
    browser.do("evaluate", script=PROBE)
    seen = browser.do("seen")
    assert seen["dialogs"] == ["alert: probe"] and any("img-src" in v for v in seen["csp"]), seen
