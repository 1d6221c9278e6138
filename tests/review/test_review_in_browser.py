"""A person reviews a whole request in a real Chromium, from the link to the finished book: approve,
a quick option, a free-text modify, a comparison and a revert, feedback the phase cannot apply, a
one-panel redo (only that panel drawn again), a one-bubble move (only its page re-lettered), skip, then the PDF downloaded from the page."""
from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pypdf

from _pages import at_gate as _at_gate, finished, first_link as _first_link, output as _output, shot as _shot, \
    start, status as _status
from mangaflow.config import settings
from mangaflow.stores.objects import object_store

STORY = ("夏祭りの夜、春香は川辺で灯籠を手にしていた。「今年も来てくれたんだね」と春香は言った。"
         "幼なじみの大樹は照れくさそうに笑った。「約束だからな」と大樹は答えた。"
         "二人は灯籠を川に流した。光がゆっくりと遠ざかっていった。")


def _lettered_objects(request_id: str) -> list[str]:
    bucket = settings().bucket("preview_cache")
    return sorted(b.name for b in object_store().client.list_blobs(bucket, prefix=f"requests/{request_id}/lettered/"))


def test_a_japanese_request_reviewed_entirely_on_the_page(stack, owner, browser, shots, started):
    request_id = start(stack, owner, STORY)
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
    key = re.search(r"/review_gate/font\?[^\"]*key=([0-9a-f]{24})", html).group(1)
    subset = object_store().get_bytes(f"gs://{settings().bucket('preview_cache')}/review-fonts/{key}.txt").decode()
    shown = browser.text("body") + browser.do("evaluate", script="Array.from(document.querySelectorAll("
                                               "'[placeholder],[title],[alt],[aria-label]')).map(function (e) {"
                                               " return [e.placeholder, e.title, e.alt, e.getAttribute('aria-label')]"
                                               ".join(''); }).join('')")["value"]
    missing = {ch for ch in shown if not ch.isspace() and ch not in subset}
    assert not missing, f"characters on the page the font subset lacks: {sorted(missing)}"
    _shot(browser, shots / "phase1-concept.png")
    browser.submit("#approve")

    # Phase 2: character sheets as images; a quick option makes a second version.
    _at_gate(browser, 2)
    assert browser.count(".char") >= 2
    loaded = browser.do("images_loaded")["value"]
    assert loaded and all(image["ok"] for image in loaded), loaded
    _shot(browser, shots / "phase2-characters.png")
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
    _shot(browser, shots / "phase3-plot-compared.png")
    browser.submit('#versions form button[value="approve"]')

    # Phase 4: feedback the phase cannot apply is answered on the page; the gate stays open.
    _at_gate(browser, 4)
    assert browser.count(".sb svg rect.frame") >= 2
    browser.do("fill", selector='textarea[name="feedback"]', value="please add more sparkle to the vibes")
    browser.submit("#modify")
    assert browser.count("#answer-error") == 1 and browser.count("#approve") == 1
    _shot(browser, shots / "phase4-storyboard-unapplicable.png")
    browser.submit("#approve")

    # Phase 5: every panel as a WebP thumbnail, the full size a click away.
    _at_gate(browser, 5)
    loaded = browser.do("images_loaded")["value"]
    assert len(loaded) >= 2 and all(image["ok"] for image in loaded), loaded
    _shot(browser, shots / "phase5-panels.png")
    # Redo one panel with words: only that panel is drawn again, every other one is kept as it was.
    target = browser.do("evaluate", script="document.querySelectorAll('#redo_panel option')[1].value")["value"]
    browser.do("select", selector="#redo_panel", value=target)
    browser.do("fill", selector="#redo_words", value="close-up at night")
    browser.submit("#send-redo")
    browser.wait_for("#versions", 90000)
    loaded = browser.do("images_loaded")["value"]
    assert all(image["ok"] for image in loaded), loaded
    state = _status(stack, owner, request_id)
    drawn, redone = (_output(state, 5, 1)["image_descriptions"], _output(state, 5, 2)["image_descriptions"])
    assert [i["panel_id"] for i in drawn] == [i["panel_id"] for i in redone]
    for a, b in zip(drawn, redone):
        if a["panel_id"] == target:
            assert b["image_uri"] != a["image_uri"] and not b.get("kept_from")
            assert b["camera_angle"] == "close_up" and b["setting"]["time_of_day"] == "night", b
        else:
            assert (b["image_uri"], b["description"], b["kept_from"]) == (a["image_uri"], a["description"], 1)
    _shot(browser, shots / "phase5-panel-redone.png")
    browser.submit("#approve")

    # Phase 6: the lettered pages; move one bubble with the editor: only its page is re-lettered.
    _at_gate(browser, 6)
    loaded = browser.do("images_loaded")["value"]
    assert len(loaded) == 2 and all(image["ok"] for image in loaded), loaded
    before = _lettered_objects(request_id)
    assert len(before) == 2
    _shot(browser, shots / "phase6-lettering.png")
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
    _shot(browser, shots / "phase6-bubble-moved.png")

    # Skip the remaining gates: the book is finished; its PDF is downloaded from the page.
    browser.submit("#skip")
    browser.wait_for("#download-pdf", 120000)
    _shot(browser, shots / "finished-book.png")
    saved = browser.do("download", selector="#download-pdf", path=str(shots / "manga.pdf"))
    assert saved["name"].endswith(".pdf")
    reader = pypdf.PdfReader(io.BytesIO((shots / "manga.pdf").read_bytes()))
    assert len(reader.pages) == 2
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == "/R2L"
    problems = [p for p in browser.do("problems")["problems"] if not p.endswith("/favicon.ico")]
    assert problems == [f"422 {stack['gateway']}/review_gate?{urlsplit(link).query}"], problems  # only the refused modify

    state = finished(stack, owner, request_id)
    decisions = {p["phase"]: [g["decision"] for g in p["gates"]] for p in state["phases"]}
    assert decisions[1] == ["approve"] and decisions[2] == ["modify", "approve"]
    assert decisions[3] == ["modify", "approve"] and decisions[4] == ["approve"] and decisions[5] == ["modify", "approve"]
    assert decisions[6] == ["modify", "skip"] and decisions[7] == ["skip"]
    manifest = json.loads(object_store().get_bytes(state["result_uri"]))
    assert manifest["outputs"]["plot"] == _output(state, 3, 1), "the revert went on with the first plot"
