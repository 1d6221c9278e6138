"""Edits after the end (issue 12 item 5): a finished 8-page book reopened at a phase gate, same request id, on
the local stack with the real workflow and the Vertex AI stand-in (so every picture is a countable image call).

One request goes through three reopenings in turn: at phase 6 one line is corrected through the bubble
editor (one page re-lettered, no image call, a new PDF, the old one still served); at phase 7 it is approved
as it is (nothing redrawn); at phase 2 one character's look changes (one sheet and exactly the panels that
show the character drawn, everything else reused). Hostile asks are refused with the status and field.
"""
from __future__ import annotations

import io
import uuid

import pypdf
import pytest
import requests

from ai_support import LANTERN, approve, chosen_output
from mangaflow.service.translate import book_lines
from test_text_layer import assert_in_reading_order

pytestmark = pytest.mark.slow

EMPHASIS = "！"


def reopen(runs, request_id: str, phase, headers: dict | None = None, **extra) -> requests.Response:
    body = {"request_id": request_id, "phase": phase, **extra}
    return requests.post(f"{runs.gateway}/reopen", json=body, headers=runs.headers if headers is None else headers,
                         timeout=60)


def follow_reopened(runs, accepted: dict, answer) -> dict:
    from rich.console import Console

    from mangaflow_cli.follow import follow

    return follow(runs.api, accepted["request_id"], answer, execution=accepted["execution"],
                  console=Console(stderr=True, quiet=True), after=accepted["cursor"])


def _whole(state: dict, phase: int) -> list[dict]:
    entry = next((p for p in state["phases"] if p["phase"] == phase), {"attempts": []})
    return [a for a in entry["attempts"] if a.get("panel_id") is None]


def _image_calls(stores, rid: str) -> list[dict]:
    return [c for c in stores.model_calls.list(rid) if c["kind"] == "image"]


@pytest.fixture(scope="module")
def book(book_runs, stand_in) -> dict:
    """An 8-page book drawn through the Vertex stand-in, every gate approved."""
    made = book_runs.run(LANTERN, 8, provider="vertex")
    return {"rid": made["accepted"]["request_id"], "state": made["state"]}


@pytest.fixture(scope="module")
def at_phase_6(book, book_runs, real_stores) -> dict:
    """Reopened at phase 6: one line of page 2 corrected through the bubble editor, then approved. While the
    gate waits, a second reopen (409) and an approval link's holder (403) are tried."""
    runs, rid, seen = book_runs, book["rid"], {}
    images_before = len(_image_calls(real_stores, rid))
    key = f"t-{uuid.uuid4().hex}"
    response = reopen(runs, rid, 6, idempotency_key=key)
    assert response.status_code == 202, response.text
    accepted = response.json()

    def answer(gate: dict) -> dict:
        if int(gate["phase"]) == 6 and "edit" not in seen:
            seen["gate"] = gate
            seen["slots"] = real_stores.admission.active_requests(runs.user)
            seen["while_waiting"] = reopen(runs, rid, 6)
            seen["link_holder"] = reopen(runs, rid, 6, headers={}, gate_id=gate["gate_id"], token=gate["token"])
            seen["replay"] = reopen(runs, rid, 6, idempotency_key=key)
            lettering = chosen_output(runs.state(rid), 6, runs)
            line = next(l for l in book_lines(lettering) if l["id"].startswith("p02-") and l["kind"] == "speech")
            panel_id, index = line["id"].split("/")
            seen["edit"] = {"panel_id": panel_id, "old": line["text"], "new": line["text"] + EMPHASIS}
            return {"decision": "modify", "token": gate["token"], "decided_by": "test",
                    "bubble": {"panel_id": panel_id, "dialogue_index": int(index), "text": seen["edit"]["new"]}}
        return approve(gate)

    final = follow_reopened(runs, accepted, answer)
    assert final["status"] == "completed", final
    return {**seen, "accepted": accepted, "state": runs.state(rid), "images_before": images_before}


def test_reopened_at_phase_6_one_corrected_line_reletters_one_page_and_draws_nothing(book, at_phase_6, book_runs,
                                                                                   real_stores):
    rid, before, after = book["rid"], book["state"], at_phase_6["state"]
    accepted = at_phase_6["accepted"]
    assert accepted["request_id"] == rid and accepted["reopened_from_phase"] == 6
    assert accepted["kept_phases"] == [1, 2, 3, 4, 5]
    # Phases 1-5 never ran again; phase 6's gate opened on the finished run's attempt, the edit made one more.
    for phase in range(1, 6):
        assert [(a["attempt"], a["output_uri"]) for a in _whole(after, phase)] == \
            [(a["attempt"], a["output_uri"]) for a in _whole(before, phase)]
    assert len(_whole(after, 6)) == len(_whole(before, 6)) + 1
    assert at_phase_6["gate"]["attempt"] == _whole(before, 6)[-1]["attempt"]
    corrected = chosen_output(after, 6, book_runs)
    assert corrected["lettering"]["relettered_pages"] == [2]
    assert len(_image_calls(real_stores, rid)) == at_phase_6["images_before"]  # 0 image calls
    assert [c for c in real_stores.model_calls.list(rid) if c["phase"] in (6, 7)] == []
    # Phase 7 composed page 2 only: every other page is the finished run's, found by its inputs' hash as phase 5
    # made it when its last panel was drawn (the same file).
    finished = chosen_output(after, 7, book_runs)
    first = chosen_output(before, 7, book_runs)
    assert {e["page"]: bool(e.get("made_with_panels")) for e in finished["pages_composed"]} == \
        {n: n != 2 for n in range(1, 9)}
    assert not any(e.get("reused_from") for e in finished["pages_composed"])
    assert [p["uri"] == q["uri"] for p, q in zip(finished["pages"], first["pages"])] == [n != 2 for n in range(1, 9)]
    # A new PDF with the corrected line; the old book's files are still served, unchanged.
    assert after["exports"]["pdf"] != before["exports"]["pdf"]
    pdf = pypdf.PdfReader(io.BytesIO(book_runs.artifact(rid, after["exports"]["pdf"])))
    assert_in_reading_order(pdf.pages[1].extract_text(), [at_phase_6["edit"]["new"]])
    old_pdf = pypdf.PdfReader(io.BytesIO(book_runs.artifact(rid, before["exports"]["pdf"])))
    assert at_phase_6["edit"]["new"] not in old_pdf.pages[1].extract_text()
    for uri in before["exports"].values():
        assert book_runs.artifact(rid, uri)
    # get_status tells the story: two runs, the second from phase 6, finished again.
    assert after["status"] == "completed" and after["reopened_from_phase"] == 6
    assert [e["start_phase"] for e in after["executions"]] == [1, 6]
    assert after["executions"][1]["execution"] == accepted["execution"] != after["executions"][0]["execution"]


def test_while_reopened_it_cannot_be_reopened_again_and_a_link_holder_may_not(at_phase_6):
    waiting = at_phase_6["while_waiting"]
    assert waiting.status_code == 409 and waiting.json()["field"] == "request_id"
    assert "already reopened at phase 6" in waiting.json()["error"]
    holder = at_phase_6["link_holder"]
    assert holder.status_code == 403 and "owner" in holder.json()["error"]
    replay = at_phase_6["replay"]  # the same key while the run goes on: the same execution, no second run
    assert replay.status_code == 202 and replay.json()["execution"] == at_phase_6["accepted"]["execution"]


def test_a_reopened_run_holds_a_run_slot_until_it_finishes(at_phase_6, book, book_runs, real_stores):
    assert book["rid"] in at_phase_6["slots"]  # taken while the reopened run waited at its gate
    assert book["rid"] not in real_stores.admission.active_requests(book_runs.user)  # given back when done


@pytest.fixture(scope="module")
def at_phase_7(at_phase_6, book, book_runs, real_stores) -> dict:
    rid = book["rid"]
    calls_before = len(real_stores.model_calls.list(rid))
    key = f"t-{uuid.uuid4().hex}"
    first = reopen(book_runs, rid, 7, idempotency_key=key, hitl_mode="auto")  # the gate decides itself
    again = reopen(book_runs, rid, 7, idempotency_key=key, hitl_mode="auto")
    assert first.status_code == 202, first.text
    final = follow_reopened(book_runs, first.json(), approve)
    assert final["status"] == "completed", final
    return {"accepted": first.json(), "replayed": again, "state": book_runs.state(rid), "calls_before": calls_before}


def test_reopened_at_phase_7_and_approved_nothing_is_made_again(at_phase_7, at_phase_6, book, real_stores):
    before, after = at_phase_6["state"], at_phase_7["state"]
    assert after["status"] == "completed" and after["reopened_from_phase"] == 7
    for phase in range(1, 8):
        assert len(_whole(after, phase)) == len(_whole(before, phase))
    assert after["exports"] == before["exports"]
    assert len(real_stores.model_calls.list(book["rid"])) == at_phase_7["calls_before"]
    replayed = at_phase_7["replayed"]
    assert replayed.status_code == 202 and replayed.json()["execution"] == at_phase_7["accepted"]["execution"]
    assert [e["start_phase"] for e in after["executions"]] == [1, 6, 7]  # the replay started nothing
    assert after["executions"][-1]["hitl_mode"] == "auto"
    # Each run has gates of its own: the first run's phase 7 gate, the phase 6 reopening's, this one's (run 2).
    gates = next(p for p in after["phases"] if p["phase"] == 7)["gates"]
    assert [(g["gate_id"].removeprefix(f"g-{book['rid']}-"), g["run"], g["decision"]) for g in gates] == \
        [("7-0", 0, "approve"), ("7-0-1", 1, "approve"), ("7-0-2", 2, "skip")]


@pytest.fixture(scope="module")
def at_phase_2(at_phase_7, book, book_runs, real_stores) -> dict:
    """Reopened at phase 2: the protagonist gets red hair; every later gate approved."""
    runs, rid, target = book_runs, book["rid"], {}
    before = {(c["phase"], c["attempt"], c["panel_id"], c["status"]) for c in _image_calls(real_stores, rid)}
    response = reopen(runs, rid, 2)
    assert response.status_code == 202, response.text

    def answer(gate: dict) -> dict:
        if int(gate["phase"]) == 2 and not target:
            characters = chosen_output(runs.state(rid), 2, runs)
            target.update(next(c for c in characters["characters"] if c["role"] == "protagonist"))
            return {"decision": "modify", "token": gate["token"], "decided_by": "test",
                    "feedback": f"make {target['name']}'s hair red"}
        return approve(gate)

    final = follow_reopened(runs, response.json(), answer)
    assert final["status"] == "completed", final
    new = [c for c in _image_calls(real_stores, rid)
           if (c["phase"], c["attempt"], c["panel_id"], c["status"]) not in before]
    return {"state": runs.state(rid), "target": target, "new_image_calls": new}


def test_reopened_at_phase_2_a_changed_look_draws_one_sheet_and_exactly_its_panels(at_phase_2, at_phase_7,
                                                                                  book_runs):
    state, target, calls = at_phase_2["state"], at_phase_2["target"], at_phase_2["new_image_calls"]
    drawn = [c for c in calls if c["status"] == "ok"]
    sheets = [c for c in drawn if c["phase"] == 2]
    assert len(sheets) == 1 and sheets[0]["panel_id"] is None
    storyboard = chosen_output(state, 4, book_runs)
    showing = sorted(p["panel_id"] for page in storyboard["pages"] for p in page["panels"]
                     if target["id"] in (p.get("characters") or []))
    every = sum(len(page["panels"]) for page in storyboard["pages"])
    assert 0 < len(showing) < every
    assert sorted(c["panel_id"] for c in drawn if c["phase"] == 5) == showing
    assert len(drawn) == 1 + len(showing)
    images = chosen_output(state, 5, book_runs)
    assert sorted(images["reuse"]["redrawn_panels"]) == showing
    assert images["reuse"]["reused"] == every - len(showing)
    assert state["status"] == "completed" and [e["start_phase"] for e in state["executions"]] == [1, 6, 7, 2]
    assert state["exports"]["pdf"] != at_phase_7["state"]["exports"]["pdf"]


def test_bad_reopens_are_refused_with_status_and_field(book, book_runs, stranger):
    rid = book["rid"]
    refused = reopen(book_runs, rid, 6, headers=stranger)
    assert refused.status_code == 403 and refused.json()["field"] == "request_id"
    assert reopen(book_runs, rid, 6, headers={}).status_code == 401
    for phase in (0, 8, "x", 10**12, -1, 6.5, None, [6], "6"):
        answer = reopen(book_runs, rid, phase)
        assert answer.status_code == 422 and answer.json()["field"] == "phase", (phase, answer.text)
    huge = reopen(book_runs, rid, 10**30)  # past the body parser's bound on digits: refused before the schema
    assert huge.status_code == 400 and "digits" in huge.json()["error"]
    missing = reopen(book_runs, "r-" + "0" * 16, 6)
    assert missing.status_code == 404 and missing.json()["field"] == "request_id"
    assert reopen(book_runs, rid, 6, hitl_mode="sometimes").json()["field"] == "hitl_mode"


def test_a_running_request_cannot_be_reopened(book_runs):
    accepted = book_runs.start(LANTERN, 1)
    try:
        refused = reopen(book_runs, accepted["request_id"], 1)
        assert refused.status_code == 409 and refused.json()["field"] == "request_id"
        assert "only a finished book can be reopened" in refused.json()["error"]
    finally:
        requests.post(f"{book_runs.gateway}/cancel_generation", headers=book_runs.headers, timeout=60,
                      json={"request_id": accepted["request_id"], "execution": accepted["execution"]})
    state = book_runs.state(accepted["request_id"])
    assert len(state["executions"]) == 1 and state["reopened_from_phase"] is None


def test_the_command_line_reopens_follows_and_downloads_the_book_again(at_phase_2, book, book_runs, tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from _cli_runs import mangaflow

    rid = book["rid"]
    done = mangaflow("reopen", rid, "--phase", "6", "--auto-approve", "--out", tmp_path / "again", "--json",
                     MANGAFLOW_USER=book_runs.user)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["request_id"] == rid and summary["reopened_from_phase"] == 6 and summary["pages"] == 8
    assert "reopened at phase 6" in done.stderr
    state = book_runs.state(rid)
    assert state["executions"][-1]["execution"] == summary["execution"] and state["status"] == "completed"
    assert [e["start_phase"] for e in state["executions"]][-1] == 6
    pdf = pypdf.PdfReader(tmp_path / "again" / "manga.pdf")
    assert len(pdf.pages) >= 8 and (tmp_path / "again" / "manga.cbz").stat().st_size > 0
    assert book_runs.artifact(rid, state["exports"]["pdf"]) == (tmp_path / "again" / "manga.pdf").read_bytes()
    # Refusals: not the owner, a phase outside 1-7 (the command line's own check, before any call).
    stranger = mangaflow("reopen", rid, "--phase", "6", "--auto-approve", "--out", tmp_path / "theirs",
                         MANGAFLOW_USER="someone-else", timeout=120)
    assert stranger.returncode == 2 and "someone else" in stranger.stderr
    bad = mangaflow("reopen", rid, "--phase", "8", timeout=60)
    assert bad.returncode == 2 and "--phase" in bad.stderr
