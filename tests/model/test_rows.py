"""The PostgreSQL adapters hand on only rows that fit their models: every kind of row (a timed-out gate,
a failed run, a panel run with its fallback, feedback with its intent) fits, a row that does not is a 500
naming the column, and the models' vocabularies are the store's and the SQL's own."""
from __future__ import annotations

import re
import uuid
from typing import get_args

import pytest

from mangaflow.bootstrap import build
from mangaflow.errors import DomainError
from mangaflow.model import base, records
from mangaflow.stores import postgres as pg


@pytest.fixture()
def request_id(services) -> str:
    return build().requests.create(f"user-{uuid.uuid4().hex[:6]}", request_id=pg.new_request_id(), language="ja",
                                   pages=2, style="shojo", options={"hitl_mode": "review"})["request_id"]


def _no_unnamed_columns(shape: type[records.Row], row: dict) -> None:
    assert shape.model_validate(row).model_extra == {}, f"{shape.__name__}: {sorted(row)}"


def test_every_kind_of_row_fits_its_model(request_id):
    stores = build()
    _no_unnamed_columns(records.GenerationRequest, stores.requests.update(request_id, status="failed", error="boom"))
    runs = [stores.phase_runs.record(request_id, 1, 1, score=0.41, decision="retry", hints=["condense narration"],
                                     duration_ms=12, started_at="2026-07-01T09:30:00+00:00"),
            stores.phase_runs.record(request_id, 2, 1, status="failed", error="the provider gave up"),
            stores.phase_runs.record(request_id, 5, 1, panel_id="p01-1", fallback="placeholder", score=0.5,
                                     decision="warn")]
    for row in runs + stores.phase_runs.list(request_id):
        _no_unnamed_columns(records.PhaseRun, row)
    _no_unnamed_columns(records.PreviewVersion, stores.phase_runs.add_preview(request_id, 1, "gs://b/p.json",
                                                                             attempt=1))
    gate = stores.gates.open(request_id, 1, callback_url="http://127.0.0.1/cb", timeout_s=30)
    _no_unnamed_columns(records.ApprovalGate, stores.gates.decide(gate["gate_id"], None, timed_out=True))
    modified = stores.gates.open(request_id, 2, callback_url="http://127.0.0.1/cb", round=1)
    _no_unnamed_columns(records.ApprovalGate, stores.gates.decide(modified["gate_id"], "modify", decided_by="chat",
                                                                   feedback="more cheerful"))
    _no_unnamed_columns(records.FeedbackRecord, stores.gates.record_feedback(
        request_id, 2, text="more cheerful", quick_option="brighter", parsed_intent={"option": "brighter"},
        intensity=0.8, confidence=0.9, gate_id=modified["gate_id"], applied=True))
    history = records.RequestHistory.model_validate(stores.requests.state(request_id))
    assert [p.phase for p in history.phases] == [1, 2, 5]
    assert history.phases[0].decisions == ["timeout"]


def test_a_row_that_does_not_fit_is_a_500_naming_the_column(request_id):
    stores = build()
    stores.phase_runs.record(request_id, 3, 1)
    # the SQL has no CHECK on a run's decision; the model knows the quality gate's four
    pg.database().run("UPDATE phase_runs SET decision = 'maybe' WHERE request_id = :rid AND phase = 3",
                      rid=request_id)
    with pytest.raises(DomainError) as caught:
        stores.phase_runs.find(request_id, 3, 1)
    assert caught.value.status == 500 and caught.value.field == "decision"
    assert "PhaseRun" in str(caught.value)


def _check_values(table: str, column: str) -> set[str]:
    definition = pg.database().run(
        "SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
        f" WHERE c.conrelid = '{table}'::regclass AND c.contype = 'c' AND a.attname = :column",
        column=column)[0]["definition"]
    return set(re.findall(r"'([a-z_]+)'::text", definition))


def test_the_vocabularies_are_the_stores_and_the_sqls(services):
    assert base.RUN_STATUSES == pg.RUN_STATUSES
    assert base.GATE_DECISIONS == pg.GATE_DECISIONS
    assert _check_values("phase_runs", "status") == set(base.RUN_STATUSES)
    assert _check_values("approval_gates", "decision") == set(base.GATE_DECISIONS)
    assert _check_values("generation_requests", "status") == set(get_args(base.RequestStatusName))
    assert _check_values("generation_requests", "language") == set(base.LANGUAGES)
