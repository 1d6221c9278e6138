"""Translating a finished book (issue 12): `translate` makes a new request from the owner's finished book
with every line translated, re-lettered in the target direction, and no image call; the original's files
stay. On the local stack: the gateway, the real workflow for the original run, real stores."""
from __future__ import annotations

import io
import json
import uuid
import zipfile

import pypdf
import pytest
import requests

from ai_support import GARDENER, LANTERN, chosen_output
from mangaflow.offline.translate import STAND_IN_MARK
from mangaflow.service.translate import book_lines
from test_text_layer import assert_in_reading_order

pytestmark = pytest.mark.slow


def translate(runs, request_id: str, to: str, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{runs.gateway}/translate", json={"request_id": request_id, "to": to},
                         headers=runs.headers if headers is None else headers, timeout=300)


@pytest.fixture(scope="module")
def japanese(book_runs) -> dict:
    first = book_runs.run(LANTERN, 3)
    rid = first["accepted"]["request_id"]
    response = translate(book_runs, rid, "en")
    assert response.status_code == 201, response.text
    answer = response.json()
    return {"rid": rid, "before": first["state"], "answer": answer, "state": book_runs.state(answer["request_id"]),
            "after": book_runs.state(rid)}


def test_a_translation_is_a_new_finished_request_in_the_target_language(japanese):
    answer, state = japanese["answer"], japanese["state"]
    assert answer["request_id"] != japanese["rid"] and answer["translated_from"] == japanese["rid"]
    assert state["status"] == "completed" and state["language"] == "en"
    assert state["options"]["translated_from"] == japanese["rid"]
    assert answer["reading_direction"] == "ltr" and answer["stand_in"] is True
    assert {p["phase"] for p in state["phases"]} == set(range(1, 8))


def test_a_translation_makes_no_image_call(japanese, real_stores, book_runs):
    rows = real_stores.model_calls.list(japanese["answer"]["request_id"])
    assert [r for r in rows if r["kind"] == "image"] == []
    assert [(r["operation"], r["status"]) for r in rows] == [("translate", "ok")]  # one text call for the book
    assert japanese["answer"]["model_calls"] == {"text": 1, "image": 0}
    # and the panel art is the original's, reused as it is
    original_images = chosen_output(japanese["before"], 5, book_runs)["image_descriptions"]
    new_phase5 = next(p for p in japanese["state"]["phases"] if p["phase"] == 5)
    assert {i["image_uri"] for i in original_images} <= set(new_phase5["artifacts"])
    assert all(f"/requests/{japanese['rid']}/" in uri for uri in new_phase5["artifacts"])


def test_every_line_is_translated_and_lettered_left_to_right(japanese, book_runs):
    before = chosen_output(japanese["before"], 6, book_runs)
    after = chosen_output(japanese["state"], 6, book_runs)
    assert before["reading_direction"] == "rtl" and after["reading_direction"] == "ltr"
    assert after["language"] == "en" and after["art_mirrored"] is True
    assert after["translation"]["lines"] == len(book_lines(before)) > 5
    old, new = book_lines(before), book_lines(after)
    assert len(new) == len(old)
    for source, target in zip(old, new):
        assert target["text"].startswith(STAND_IN_MARK["en"]) and target["text"] != source["text"]
        assert not any("\u3040" <= ch <= "\u30ff" for ch in target["text"]), target  # no kana left: romaji
    placements = [p for panel in after["dialogue_placements"] for p in panel["placements"]]
    assert placements and not any(p["vertical"] for p in placements)
    assert after["lettering"]["overflow"] == 0
    # The layout is mirrored: panel 1 of each page now starts at the left.
    for page_before, page_after in zip(before["pages"], after["pages"]):
        for a, b in zip(page_before["panels"], page_after["panels"]):
            assert b["bbox"][0] == pytest.approx(1 - a["bbox"][0] - a["bbox"][2], abs=1e-5)


def test_the_new_pdf_reads_left_to_right_with_the_translation_as_its_text(japanese, book_runs):
    state = japanese["state"]
    pdf = pypdf.PdfReader(io.BytesIO(book_runs.artifact(state["request_id"], state["exports"]["pdf"])))
    assert pdf.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == "/L2R"
    after = chosen_output(state, 6, book_runs)
    assert_in_reading_order("\n".join(p.extract_text() for p in pdf.pages), [l["text"] for l in book_lines(after)])
    with zipfile.ZipFile(io.BytesIO(book_runs.artifact(state["request_id"], state["exports"]["cbz"]))) as cbz:
        assert "<Manga>No</Manga>" in cbz.read("ComicInfo.xml").decode()
        assert "<LanguageISO>en</LanguageISO>" in cbz.read("ComicInfo.xml").decode()


def test_the_original_is_kept(japanese, book_runs):
    before, after, new = japanese["before"], japanese["after"], japanese["state"]
    assert after["exports"] == before["exports"] and after["final_pages"] == before["final_pages"]
    assert after["status"] == "completed" and after["language"] == "ja"
    for uri in before["exports"].values():
        assert uri not in new["exports"].values()
        assert book_runs.artifact(japanese["rid"], uri)  # still served
    manifest = json.loads(book_runs.artifact(new["request_id"], new["exports"]["manifest"]))
    assert manifest["request"]["language"] == "en"
    assert manifest["outputs"]["lettering"]["translation"]["translated_from"] == japanese["rid"]


def test_only_the_owner_may_translate_and_bad_asks_are_clear(japanese, book_runs, stranger):
    rid = japanese["rid"]
    refused = translate(book_runs, rid, "en", headers=stranger)
    assert refused.status_code == 403 and refused.json()["field"] == "request_id"
    assert translate(book_runs, rid, "en", headers={}).status_code == 401
    same = translate(book_runs, rid, "ja")
    assert same.status_code == 422 and same.json()["field"] == "to" and "already" in same.json()["error"]
    for body, field in (({"request_id": rid, "to": "fr"}, "to"), ({"request_id": rid}, "to"),
                        ({"request_id": "r-zz", "to": "en"}, "request_id"),
                        ({"request_id": rid, "to": "en", "pages": 3}, None)):
        answer = requests.post(f"{book_runs.gateway}/translate", json=body, headers=book_runs.headers, timeout=30)
        assert answer.status_code in (400, 422), (body, answer.text)
        if field:
            assert answer.json()["field"] == field
    missing = translate(book_runs, "r-" + "0" * 16, "en")
    assert missing.status_code == 404


def test_english_into_japanese_through_the_vertex_stand_in(book_runs, stand_in, real_stores):
    first = book_runs.run(GARDENER, 1, provider="vertex")
    rid = first["accepted"]["request_id"]
    response = translate(book_runs, rid, "ja")
    assert response.status_code == 201, response.text
    new = response.json()
    rows = real_stores.model_calls.list(new["request_id"])
    assert [(r["kind"], r["operation"], r["status"], r["provider"]) for r in rows] == \
        [("text", "translate", "ok", "vertex")]
    assert rows[0]["output_tokens"] > 0 and rows[0]["cost_usd"] > 0
    sent = [r for r in stand_in.received(new["request_id"]) if r["labels"].get("mangaflow-operation") == "translate"]
    assert len(sent) == 1 and "image" not in sent[0]["model"]
    assert new["model"] != "offline-rules" and new["stand_in"] is False
    after = chosen_output(book_runs.state(new["request_id"]), 6, book_runs)
    assert after["reading_direction"] == "rtl" and after["language"] == "ja"
    assert all(p["vertical"] for panel in after["dialogue_placements"] for p in panel["placements"]
               if p["kind"] != "sfx")
    assert all(l["text"].startswith(STAND_IN_MARK["ja"]) for l in book_lines(after))


def test_the_command_line_translates_and_downloads_the_new_book(japanese, book_runs, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from _cli_runs import mangaflow

    done = mangaflow("translate", japanese["rid"], "--to", "en", "--out", tmp_path / "en", "--json",
                     MANGAFLOW_USER=book_runs.user)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["translated_from"] == japanese["rid"] and summary["language"] == "en"
    assert summary["model_calls"]["image"] == 0
    pdf = pypdf.PdfReader(tmp_path / "en" / "manga.pdf")
    assert pdf.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == "/L2R"
    assert STAND_IN_MARK["en"] in pdf.pages[0].extract_text()
    assert sorted(p.name for p in (tmp_path / "en" / "pages").iterdir()) == ["001.png", "002.png", "003.png"]
    refused = mangaflow("translate", japanese["rid"], "--to", "ja", MANGAFLOW_USER=book_runs.user)
    assert refused.returncode == 2 and "already" in refused.stderr
    stranger = mangaflow("translate", japanese["rid"], "--to", "en", MANGAFLOW_USER="someone-else")
    assert stranger.returncode == 2 and "someone else" in stranger.stderr
    bad = mangaflow("translate", japanese["rid"], "--to", "fr")
    assert bad.returncode == 2


def test_a_replayed_idempotency_key_answers_with_the_same_translation(japanese, book_runs, real_stores):
    rid, key = japanese["rid"], f"t-{uuid.uuid4().hex}"
    body = {"request_id": rid, "to": "en", "idempotency_key": key}
    first = requests.post(f"{book_runs.gateway}/translate", json=body, headers=book_runs.headers, timeout=300)
    again = requests.post(f"{book_runs.gateway}/translate", json=body, headers=book_runs.headers, timeout=300)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json() and first.json()["request_id"] not in (rid, japanese["answer"]["request_id"])
    made = [r for r in real_stores.requests.translations(rid) if r["request_id"] == first.json()["request_id"]]
    assert len(made) == 1
    # The key is the caller's own: another user's same key is a translation of theirs (here: refused, not theirs).
    other = requests.post(f"{book_runs.gateway}/translate", json=body, headers=book_runs.headers | {
        "Authorization": f"Bearer {_token_of('someone-else')}"}, timeout=60)
    assert other.status_code == 403


def _token_of(user: str) -> str:
    from mangaflow_cli.api import auth_headers

    return auth_headers(user)["Authorization"].split(" ", 1)[1]


def test_the_original_lists_its_translations_for_its_owner(japanese, book_runs, stranger):
    rid = japanese["rid"]
    state = book_runs.state(rid)
    listed = state["translations"]
    first = japanese["answer"]["request_id"]
    assert listed[0]["request_id"] == first and listed[0]["language"] == "en" and listed[0]["status"] == "completed"
    assert {t["request_id"] for t in listed} >= {first}
    assert all(t["language"] == "en" for t in listed)
    assert book_runs.state(first)["translations"] == []  # a translation has none of its own
    # Someone else learns nothing of them.
    link = requests.post(f"{book_runs.gateway}/get_status", json={"request_id": rid}, headers=stranger, timeout=60)
    assert link.status_code == 403
