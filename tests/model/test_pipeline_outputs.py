"""A real two-page run on the local stack (with a modification at two gates): every phase output it
stored fits its model and its generated JSON Schema, every row the stores return fits its row model
with no column left unnamed, and `get_status` answers in the RequestStatus shape."""
from __future__ import annotations

from pathlib import Path

import pytest

from mangaflow import model
from mangaflow.bootstrap import build
from mangaflow.model import records
from mangaflow.schemas import validate_output
from mangaflow.service.runner import request_inputs
from mangaflow.stores import objects

STORY = (Path(__file__).resolve().parents[2] / "examples" / "lantern-festival.ja.txt").read_text(encoding="utf-8")
MODIFY = {2: ("add_character", "祭りの屋台のおじさんを加えて"), 4: ("camera_angle", "もっとアップで")}


@pytest.fixture(scope="module")
def book(run_pipeline) -> dict:
    modified: set[int] = set()

    def answer(gate: dict) -> dict:
        phase = int(gate["phase"])
        if phase in MODIFY and phase not in modified:
            modified.add(phase)
            option, text = MODIFY[phase]
            return {"decision": "modify", "token": gate["token"], "option": option, "feedback": text,
                    "decided_by": "test"}
        return {"decision": "approve", "token": gate["token"], "decided_by": "test"}

    return run_pipeline(STORY, pages=2, answer=answer)


def _runs(book: dict) -> list[dict]:
    return [run for phase in book["state"]["phases"] for run in phase["attempts"]]


def test_every_stored_output_fits_its_model_and_schema(book):
    checked = []
    for run in _runs(book):
        output = objects.get_json(run["output_uri"])
        panel = run["panel_id"] is not None
        shape = model.output_model(run["phase"], panel=panel)
        shape.model_validate(output)
        validate_output(run["phase"], output, panel=panel)
        checked.append((run["phase"], panel))
    assert {phase for phase, _ in checked} == set(range(1, 8))
    assert (5, True) in checked
    # the modified phases ran again: their second attempts were checked too
    assert sum(1 for phase, panel in checked if phase == 2) >= 2
    assert sum(1 for phase, panel in checked if phase == 4) >= 2


def test_the_modifications_are_in_the_outputs(book):
    runs = {(r["phase"], r["attempt"]): r for r in _runs(book) if r["panel_id"] is None}
    cast = model.Characters.model_validate(objects.get_json(runs[(2, max(a for p, a in runs if p == 2))]["output_uri"]))
    assert cast.processing_metadata.feedback is not None
    assert cast.processing_metadata.feedback.option == "add_character"
    assert any(c.added_by_feedback for c in cast.characters)


def test_every_row_the_stores_return_fits_its_model_and_names_every_column(book):
    stores = build()
    request_id = book["request_id"]
    rows: list[tuple[type[model.Row], dict]] = [(records.GenerationRequest, stores.requests.get(request_id))]
    rows += [(records.PhaseRun, row) for row in stores.phase_runs.list(request_id)]
    rows += [(records.PreviewVersion, row) for row in stores.phase_runs.previews(request_id)]
    rows += [(records.ApprovalGate, row) for row in stores.gates.list(request_id)]
    history = stores.requests.state(request_id)
    rows += [(records.FeedbackRecord, row) for phase in history["phases"] for row in phase["feedback"]]
    assert {shape for shape, _ in rows} == {records.GenerationRequest, records.PhaseRun, records.PreviewVersion,
                                            records.ApprovalGate, records.FeedbackRecord}
    for shape, row in rows:
        assert shape.model_validate(row).model_extra == {}, f"{shape.__name__} lacks fields for columns"
    assert records.RequestHistory.model_validate(history).model_extra == {}
    # and the request as the phases saw it
    seen = records.Request.model_validate(request_inputs(stores, stores.requests.get(request_id)))
    assert (seen.language, seen.pages, seen.text) == ("ja", 2, STORY.strip())


def test_get_status_answers_in_the_request_status_shape(book):
    state = book["state"]
    status = records.RequestStatus.model_validate(state)
    assert status.model_extra == {}
    assert [p.phase for p in status.phases] == list(range(1, 8))
    assert all(p.model_extra == {} for p in status.phases)
    assert status.page_count == 2 and len(status.final_pages) == 2
    assert status.exports["pdf"].startswith("gs://")
    # the first gates of phases 2 and 4 were modified, as the answers said
    assert [g.decision for g in status.phases[1].gates][:1] == ["modify"]
    assert sum(1 for a in status.phases[3].attempts if a.selected) == 1
