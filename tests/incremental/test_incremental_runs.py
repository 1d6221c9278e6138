"""Change one thing, redo only what depends on it (issue 12), on the local stack with the real workflow and
the Vertex AI stand-in (so every picture is an image call that can be counted):

- one corrected line of dialogue at the phase 6 gate re-letters exactly one page, and neither that nor the
  export after it makes an image call or touches the panel art;
- the same book made again by the same person with one character's look changed at the phase 2 gate draws
  that character's sheet and exactly the panels the storyboard puts them in; every other sheet and panel
  (inputs unchanged, content hashes equal) is reused, and phase 5 says which.
"""
from __future__ import annotations

import io
import json

import pypdf
import pytest

from ai_support import LANTERN, approve, chosen_output
from mangaflow.service.translate import book_lines
from test_text_layer import assert_in_reading_order

pytestmark = pytest.mark.slow

EMPHASIS = "！"  # the correction: a line said with more force (the story's words kept, so quality holds)


def _attempts(state: dict, phase: int) -> list[dict]:
    entry = next(p for p in state["phases"] if p["phase"] == phase)
    return [a for a in entry["attempts"] if a.get("panel_id") is None]


@pytest.fixture(scope="module")
def first_book(book_runs, stand_in) -> dict:
    """An 8-page book; at the phase 6 gate one line of page 2 is corrected through the bubble editor."""
    runs, edit = book_runs, {}

    def answer(gate: dict) -> dict:
        if int(gate["phase"]) == 6 and not edit:
            lettering = chosen_output(runs.state(accepted["request_id"]), 6, runs)
            line = next(l for l in book_lines(lettering) if l["id"].startswith("p02-") and l["kind"] == "speech")
            panel_id, index = line["id"].split("/")
            edit.update(panel_id=panel_id, dialogue_index=int(index), old=line["text"], new=line["text"] + EMPHASIS)
            return {"decision": "modify", "token": gate["token"], "decided_by": "test",
                    "bubble": {"panel_id": panel_id, "dialogue_index": int(index), "text": edit["new"]}}
        return approve(gate)

    accepted = runs.start(LANTERN, 8, provider="vertex")
    final = runs.follow(accepted, answer)
    assert final["status"] == "completed", final
    return {"rid": accepted["request_id"], "state": runs.state(accepted["request_id"]), "edit": edit}


def test_one_corrected_line_reletters_one_page_and_draws_nothing(first_book, book_runs, real_stores):
    state, edit = first_book["state"], first_book["edit"]
    assert len(_attempts(state, 5)) == 1 and len(_attempts(state, 6)) == 2  # phase 5 never ran again
    corrected = chosen_output(state, 6, book_runs)
    assert corrected["lettering"]["relettered_pages"] == [2]
    before = json.loads(book_runs.artifact(first_book["rid"], _attempts(state, 6)[0]["output_uri"]))
    changed = [p["panel_id"] for p, q in zip(before["dialogue_placements"], corrected["dialogue_placements"]) if p != q]
    assert changed == [edit["panel_id"]]
    calls = real_stores.model_calls.list(first_book["rid"])
    assert [c for c in calls if c["phase"] in (6, 7)] == []  # lettering and export ask no model at all
    images = [c for c in calls if c["kind"] == "image"]
    assert images and {c["phase"] for c in images} <= {2, 5}
    # The same panel art both times: phase 6 and 7 carry phase 5's pictures through untouched.
    assert [d["image_uri"] for d in corrected["image_descriptions"]] == \
        [d["image_uri"] for d in chosen_output(state, 5, book_runs)["image_descriptions"]]
    pdf = pypdf.PdfReader(io.BytesIO(book_runs.artifact(first_book["rid"], state["exports"]["pdf"])))
    page_two = pdf.pages[1].extract_text()
    assert_in_reading_order(page_two, [edit["new"]])


@pytest.fixture(scope="module")
def restyled(first_book, book_runs, stand_in) -> dict:
    """The same story again by the same person; at the phase 2 gate the protagonist gets red hair."""
    runs, target = book_runs, {}

    def answer(gate: dict) -> dict:
        if int(gate["phase"]) == 2 and not target:
            characters = chosen_output(runs.state(accepted["request_id"]), 2, runs)
            main = next(c for c in characters["characters"] if c["role"] == "protagonist")
            target.update(main)
            return {"decision": "modify", "token": gate["token"], "decided_by": "test",
                    "feedback": f"make {main['name']}'s hair red"}
        return approve(gate)

    accepted = runs.start(LANTERN, 8, provider="vertex")
    final = runs.follow(accepted, answer)
    assert final["status"] == "completed", final
    return {"rid": accepted["request_id"], "state": runs.state(accepted["request_id"]), "target": target}


def test_a_changed_look_redraws_that_sheet_and_exactly_the_panels_showing_the_character(restyled, first_book,
                                                                                       book_runs, real_stores):
    rid, state, target = restyled["rid"], restyled["state"], restyled["target"]
    characters = chosen_output(state, 2, book_runs)
    changed = next(c for c in characters["characters"] if c["id"] == target["id"])
    assert changed["palette"]["hair"] != target["palette"]["hair"]
    others = [c for c in characters["characters"] if c["id"] != target["id"]]
    assert others == [c for c in chosen_output(first_book["state"], 2, book_runs)["characters"] if c["id"] != target["id"]]

    calls = [c for c in real_stores.model_calls.list(rid) if c["kind"] == "image"]
    attempt2 = [c for c in calls if c["phase"] == 2 and c["attempt"] == 2]
    assert [(c["panel_id"], c["status"]) for c in attempt2 if c["status"] != "cache"] == [(None, "ok")]
    sheets = {r["character_id"]: r for r in characters["reference_images"]}
    assert sheets[target["id"]]["provenance"]["source"] == "model"
    assert all(r["provenance"]["source"] == "cache" for cid, r in sheets.items() if cid != target["id"])

    storyboard = chosen_output(state, 4, book_runs)
    showing = sorted(p["panel_id"] for page in storyboard["pages"] for p in page["panels"]
                     if target["id"] in (p.get("characters") or []))
    drawn = sorted(c["panel_id"] for c in calls if c["phase"] == 5 and c["status"] == "ok")
    assert 0 < len(showing) < sum(len(page["panels"]) for page in storyboard["pages"])
    assert drawn == showing  # exactly the panels that show the character, each drawn once

    images = chosen_output(state, 5, book_runs)
    reuse = images["reuse"]
    assert sorted(reuse["redrawn_panels"]) == showing
    assert reuse["reused"] == len(images["image_descriptions"]) - len(showing) == len(reuse["reused_panels"])
    assert reuse["from_requests"] == [first_book["rid"]]
    first_art = {d["panel_id"]: d for d in chosen_output(first_book["state"], 5, book_runs)["image_descriptions"]}
    for panel in images["image_descriptions"]:
        earlier = first_art[panel["panel_id"]]
        if panel["panel_id"] in showing:
            assert panel["inputs_sha256"] != earlier["inputs_sha256"] and panel["image_uri"] != earlier["image_uri"]
        else:
            assert panel["inputs_sha256"] == earlier["inputs_sha256"] and panel["image_uri"] == earlier["image_uri"]
    summary = next(p for p in state["phases"] if p["phase"] == 5)
    assert summary  # the gate's summary says it too:
    preview = book_runs.artifact(rid, next(v["uri"] for v in summary["previews"]))
    assert f"reused {reuse['reused']} panels" in preview.decode()
