"""The real YAML on the local engine, calling the real functions, writing to the real stores."""
from __future__ import annotations

import io
import re
import threading
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from mangaflow.stores import objects

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JA_STORY = (EXAMPLES / "lantern-festival.ja.txt").read_text(encoding="utf-8")
EN_STORY = (EXAMPLES / "the-last-robot-gardener.en.txt").read_text(encoding="utf-8")


def approve(gate: dict) -> dict:
    return {"decision": "approve", "token": gate["token"], "decided_by": "test"}


def _phase(state: dict, number: int) -> dict:
    return next(p for p in state["phases"] if p["phase"] == number)


def _whole_attempts(state: dict, number: int) -> list[dict]:
    return [a for a in _phase(state, number)["attempts"] if a["panel_id"] is None]


def _lettered_text(state: dict) -> str:
    lettering = objects.get_json(_whole_attempts(state, 6)[-1]["output_uri"])
    lines = []
    for panel in lettering["dialogue_placements"]:
        for placement in panel["placements"]:
            lines.append("".join(placement["lines"]))
    return re.sub(r"\s+", "", "".join(lines))


def _normalise(text: str) -> str:
    """The vertical forms the typesetter may substitute, mapped back, and no spaces."""
    table = str.maketrans({"︑": "、", "︒": "。", "﹁": "「", "﹂": "」", "︙": "…", "︰": "‥", "︱": "ー", "︵": "（", "︶": "）"})
    return re.sub(r"\s+", "", text.translate(table))


@pytest.fixture(scope="module")
def japanese_book(run_pipeline):
    return run_pipeline(JA_STORY, pages=8)


def test_japanese_book_has_every_phase_and_gate(japanese_book):
    state = japanese_book["state"]
    assert state["status"] == "completed"
    for number in range(1, 8):
        phase = _phase(state, number)
        assert _whole_attempts(state, number), f"phase {number} has no attempt"
        assert [g["decision"] for g in phase["gates"]] == ["approve"], phase["gates"]


def test_japanese_book_pages_pdf_and_cbz(japanese_book):
    state = japanese_book["state"]
    assert state["page_count"] == 8
    pdf = objects.get_bytes(state["exports"]["pdf"])
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 8
    assert b"/R2L" in pdf
    with zipfile.ZipFile(io.BytesIO(objects.get_bytes(state["exports"]["cbz"]))) as cbz:
        names = cbz.namelist()
        info = ElementTree.fromstring(cbz.read("ComicInfo.xml"))
    assert sum(1 for n in names if n.lower().endswith(".png")) == 8
    assert info.findtext("Manga") == "YesAndRightToLeft"
    assert info.findtext("PageCount") == "8"


def test_every_quoted_line_is_lettered(japanese_book):
    lettered = _normalise(_lettered_text(japanese_book["state"]))
    quotes = re.findall(r"「(.+?)」", JA_STORY)
    assert len(quotes) == 6
    for quote in quotes:
        assert _normalise(quote) in lettered, quote


def test_every_listed_artifact_exists_in_storage(japanese_book):
    state = japanese_book["state"]
    uris = [uri for phase in state["phases"] for uri in phase["artifacts"]]
    assert len(uris) > 40
    missing = [uri for uri in uris if not objects.exists(uri)]
    assert missing == []


def test_manifest_records_the_run(japanese_book):
    manifest = objects.get_json(japanese_book["state"]["exports"]["manifest"])
    assert manifest["request"]["language"] == "ja"
    assert [p["phase"] for p in manifest["phases"]] == list(range(1, 8))
    assert all(p["gates"] for p in manifest["phases"])
    assert manifest["outputs"]["storyboard"]["reading_direction"] == "rtl"


def test_modify_reruns_the_phase_with_the_feedback(run_pipeline):
    answered = []

    def modify_concept_once(gate):
        answered.append(gate["phase"])
        if gate["phase"] == 1 and answered.count(1) == 1:
            return {"decision": "modify", "feedback": "much brighter and more cheerful", "token": gate["token"]}
        return approve(gate)

    state = run_pipeline(EN_STORY, pages=3, answer=modify_concept_once)["state"]
    attempts = _whole_attempts(state, 1)
    assert len(attempts) == 2
    assert [g["decision"] for g in _phase(state, 1)["gates"]] == ["modify", "approve"]
    first, second = (objects.get_json(a["output_uri"]) for a in attempts)
    assert first != second
    assert state["status"] == "completed"


def test_skip_approves_every_later_gate(run_pipeline):
    def skip_at_characters(gate):
        if gate["phase"] == 2:
            return {"decision": "skip", "token": gate["token"]}
        return approve(gate)

    state = run_pipeline(EN_STORY, pages=2, answer=skip_at_characters)["state"]
    decisions = {p["phase"]: [g["decision"] for g in p["gates"]] for p in state["phases"]}
    assert decisions[1] == ["approve"]
    assert decisions[2] == ["skip"]
    for number in range(3, 8):
        assert decisions[number] == ["skip"]
        assert _phase(state, number)["gates"][0]["decided_by"] == "workflow:skip"


def test_a_gate_nobody_answers_times_out_and_the_run_continues(run_pipeline):
    def ignore_concept(gate):
        return None if gate["phase"] == 1 else approve(gate)

    state = run_pipeline("A short story. \"Hello,\" said Ann. \"Goodbye,\" said Bob.", pages=1,
                         answer=ignore_concept, timeout=30)["state"]
    gate = _phase(state, 1)["gates"][0]
    assert gate["timed_out"] is True
    assert gate["decision"] == "timeout"
    assert state["status"] == "completed"


def test_a_forged_answer_does_not_pass_the_gate(run_pipeline):
    def forge_then_approve(gate):
        if gate["phase"] == 1:
            for junk in ({"decision": "skip", "token": "123.forged"}, "just a string", [1, 2],
                         {"decision": "maybe", "token": gate["token"]}, {"token": gate["token"]}):
                sent = requests.post(gate["callback_url"], json=junk, timeout=30)
                assert sent.status_code == 200
        return approve(gate)

    state = run_pipeline("Mira walked home in the rain. \"Almost there,\" she said.", pages=1,
                         answer=forge_then_approve)["state"]
    assert [g["decision"] for g in _phase(state, 1)["gates"]] == ["approve"]
    assert [g["decision"] for g in _phase(state, 2)["gates"]] == ["approve"]


def test_approving_an_earlier_attempt_reverts_to_it(run_pipeline, stack, owner, owner_id):
    seen = []

    def modify_then_keep_the_first(gate):
        seen.append(gate["phase"])
        if gate["phase"] == 1 and seen.count(1) == 1:
            return {"decision": "modify", "feedback": "much more serious", "token": gate["token"]}
        if gate["phase"] == 1:
            return {"decision": "approve", "attempt": 1, "token": gate["token"]}
        return approve(gate)

    state = run_pipeline(EN_STORY, pages=1, answer=modify_then_keep_the_first, as_user=owner_id)["state"]
    first, second = _whole_attempts(state, 1)
    manifest = objects.get_json(state["exports"]["manifest"])
    assert manifest["outputs"]["concept"] == objects.get_json(first["output_uri"])
    assert manifest["outputs"]["concept"] != objects.get_json(second["output_uri"])
    listed = requests.post(f"{stack['gateway']}/preview_versions", timeout=30, headers=owner,
                           json={"request_id": state["request_id"], "phase": 1, "compare": [1, 2]}).json()
    assert [v["attempt"] for v in listed["versions"]] == [1, 2]
    assert listed["comparison"]["changed"], "a modification that changed nothing"


def test_story_that_looks_like_code_is_just_text(run_pipeline):
    story = ("<script>alert('x')</script> {{ config }} '; DROP TABLE phase_runs; -- "
             "The clerk read the note aloud. \"<b>Run</b>,\" said Kay.")
    state = run_pipeline(story, pages=1)["state"]
    manifest = objects.get_json(state["exports"]["manifest"])
    assert manifest["story"] == story
    assert "<b>Run</b>" in _lettered_text(state).replace(" ", "")


@pytest.mark.serial
def test_redis_and_postgres_restarting_mid_run_do_not_lose_the_run(run_pipeline):
    from localcloud import supervisor as manager

    restarted = threading.Event()

    def crash_stores_at_characters(gate):
        if gate["phase"] == 2 and not restarted.is_set():
            manager.kill("redis")
            manager.kill("postgres")

            def bring_back():
                time.sleep(1.5)
                manager.restart("postgres")
                manager.restart("redis")
                restarted.set()

            threading.Thread(target=bring_back, daemon=True).start()
            time.sleep(0.2)
        return approve(gate)

    result = run_pipeline(EN_STORY, pages=2, answer=crash_stores_at_characters)
    assert restarted.is_set()
    state = result["state"]
    assert state["status"] == "completed"
    for number in range(1, 8):
        assert _whole_attempts(state, number), f"phase {number} lost"
