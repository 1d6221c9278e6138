"""A person reviews a whole request in a real Chromium, from the link to the finished book: approve,
a quick option, a free-text modify, a comparison and a revert, feedback the phase cannot apply, a
one-bubble move (only its page re-lettered), skip, then the PDF downloaded from the page."""
from __future__ import annotations

import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import pypdf
import requests

from mangaflow.config import settings
from mangaflow.stores.objects import object_store

STORY = ("夏祭りの夜、春香は川辺で灯籠を手にしていた。「今年も来てくれたんだね」と春香は言った。"
         "幼なじみの大樹は照れくさそうに笑った。「約束だからな」と大樹は答えた。"
         "二人は灯籠を川に流した。光がゆっくりと遠ざかっていった。")


def _start(stack, owner, text=STORY, pages=2) -> str:
    response = requests.post(f"{stack['gateway']}/start_generation", headers=owner, timeout=60, json={
        "text": text, "pages": pages, "hitl": {"mode": "review", "timeout_seconds": 900}})
    assert response.status_code == 202, response.text
    return response.json()["request_id"]


def _first_link(stack, owner, request_id: str) -> str:
    cursor, deadline = "0", time.monotonic() + 120
    while time.monotonic() < deadline:
        page = requests.post(f"{stack['gateway']}/get_progress", headers=owner, timeout=60,
                             json={"request_id": request_id, "after": cursor, "wait_s": 5}).json()
        for event in page["events"]:
            if event.get("type") == "gate_open":
                return event["approval_url"]
        cursor = page["cursor"]
    raise AssertionError("no gate opened in 120 s")


def _at_gate(browser, phase: int, timeout_ms: int = 90000) -> None:
    browser.wait_for(f'#steps li.waiting[data-phase="{phase}"]', timeout_ms)


def _status(stack, owner, request_id: str) -> dict:
    return requests.post(f"{stack['gateway']}/get_status", headers=owner, timeout=60,
                         json={"request_id": request_id}).json()


def _output(state: dict, phase: int, attempt: int) -> dict:
    record = next(p for p in state["phases"] if p["phase"] == phase)
    run = next(a for a in record["attempts"] if a["attempt"] == attempt and a.get("panel_id") is None)
    return json.loads(object_store().get_bytes(run["output_uri"]))


def _lettered_objects(request_id: str) -> list[str]:
    bucket = settings().bucket("preview_cache")
    return sorted(b.name for b in object_store().client.list_blobs(bucket, prefix=f"requests/{request_id}/lettered/"))


def test_a_japanese_request_reviewed_entirely_on_the_page(stack, owner, browser, shots, started):
    request_id = _start(stack, owner)
    started.append(request_id)
    link = _first_link(stack, owner, request_id)
    assert "token=" in urlsplit(link).fragment and "token" not in parse_qs(urlsplit(link).query)

    # Phase 1: the concept card, in Japanese, set in the served font; approve.
    browser.goto(link)
    _at_gate(browser, 1)
    assert "#token" not in browser.url(), "the token leaves the address bar"
    html = browser.html()
    assert '<html lang="ja">' in html and "@font-face" in html and "/review_gate/font?" in html
    loaded_font = "document.fonts.load('16px \"MF Noto Sans JP\"', '春香').then(function (f) { return f.length; })"
    assert browser.do("evaluate", script=loaded_font)["value"] == 1, "the page's CJK font is served and loads"
    browser.screenshot(shots / "phase1-concept.png")
    browser.submit("#approve")

    # Phase 2: character sheets as images; a quick option makes a second version.
    _at_gate(browser, 2)
    assert browser.count(".char") >= 2
    loaded = browser.do("images_loaded")["value"]
    assert loaded and all(image["ok"] for image in loaded), loaded
    browser.screenshot(shots / "phase2-characters.png")
    browser.submit('button[value="visual"]')
    browser.wait_for("#versions", 90000)
    assert "試行 2" in browser.text("#preview h2")
    browser.submit("#approve")

    # Phase 3: a free-text modify, the two versions compared field by field, then a revert to the first.
    _at_gate(browser, 3)
    browser.do("fill", selector='textarea[name="feedback"]', value="テンポを速くして")
    browser.submit("#modify")
    browser.wait_for("#versions", 90000)
    browser.submit("#compare")
    assert browser.count("#comparison td.path") >= 1
    browser.screenshot(shots / "phase3-plot-compared.png")
    browser.submit('#versions form button[value="approve"]')

    # Phase 4: feedback the phase cannot apply is answered on the page; the gate stays open.
    _at_gate(browser, 4)
    assert browser.count(".sb svg rect.frame") >= 2
    browser.do("fill", selector='textarea[name="feedback"]', value="please add more sparkle to the vibes")
    browser.submit("#modify")
    assert browser.count("#answer-error") == 1 and browser.count("#approve") == 1
    browser.screenshot(shots / "phase4-storyboard-unapplicable.png")
    browser.submit("#approve")

    # Phase 5: every panel as a WebP thumbnail, the full size a click away.
    _at_gate(browser, 5)
    loaded = browser.do("images_loaded")["value"]
    assert len(loaded) >= 2 and all(image["ok"] for image in loaded), loaded
    thumb = requests.Session()
    browser.screenshot(shots / "phase5-panels.png")
    browser.submit("#approve")

    # Phase 6: the lettered pages; move one bubble with the editor: only its page is re-lettered.
    _at_gate(browser, 6)
    loaded = browser.do("images_loaded")["value"]
    assert len(loaded) == 2 and all(image["ok"] for image in loaded), loaded
    before = _lettered_objects(request_id)
    assert len(before) == 2
    browser.screenshot(shots / "phase6-lettering.png")
    first = browser.do("evaluate", script="document.querySelector('#bubble option').value")["value"]
    browser.click(f'rect.bubble[data-bubble="{first}"]')
    browser.do("select", selector="#bubble_move", value="down")
    browser.submit("#send-bubble")
    browser.wait_for("#versions", 90000)
    loaded = browser.do("images_loaded")["value"]
    assert all(image["ok"] for image in loaded), loaded
    after = _lettered_objects(request_id)
    assert len(after) == 3 and set(before) <= set(after), (before, after)  # one page re-lettered, one kept
    state = _status(stack, owner, request_id)
    shown, moved = _output(state, 6, 1), _output(state, 6, 2)
    page_of = {q["panel_id"]: p["page"] for p in moved["pages"] for q in p["panels"]}
    first_page = page_of[first.split("|")[0]]
    assert moved["lettering"]["relettered_pages"] == [first_page]
    for a, b in zip(shown["dialogue_placements"], moved["dialogue_placements"]):
        if page_of[a["panel_id"]] != first_page:
            assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    browser.screenshot(shots / "phase6-bubble-moved.png")

    # Skip the remaining gates: the book is finished; its PDF is downloaded from the page.
    browser.submit("#skip")
    browser.wait_for("#download-pdf", 120000)
    browser.screenshot(shots / "finished-book.png")
    saved = browser.do("download", selector="#download-pdf", path=str(shots / "manga.pdf"))
    assert saved["name"].endswith(".pdf")
    reader = pypdf.PdfReader(io.BytesIO((shots / "manga.pdf").read_bytes()))
    assert len(reader.pages) == 2
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == "/R2L"
    problems = [p for p in browser.do("problems")["problems"] if not p.endswith("/favicon.ico")]
    assert problems == [f"422 {stack['gateway']}/review_gate?{urlsplit(link).query}"], problems  # only the refused modify

    state = _status(stack, owner, request_id)
    assert state["status"] == "completed"
    decisions = {p["phase"]: [g["decision"] for g in p["gates"]] for p in state["phases"]}
    assert decisions[1] == ["approve"] and decisions[2] == ["modify", "approve"]
    assert decisions[3] == ["modify", "approve"] and decisions[4] == ["approve"]
    assert decisions[6] == ["modify", "skip"] and decisions[7] == ["skip"]
    manifest = json.loads(object_store().get_bytes(state["result_uri"]))
    assert manifest["outputs"]["plot"] == _output(state, 3, 1), "the revert went on with the first plot"
    del thumb
