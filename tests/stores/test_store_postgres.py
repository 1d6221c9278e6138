"""PostgreSQL repository against the real local server: migrations, every table, idempotency."""

from __future__ import annotations

import os
import threading
import uuid

import pg8000.native
import pytest

from mangaflow.config import Settings
from mangaflow.stores import postgres as pg
from mangaflow.stores._retry import StoreUnavailable


@pytest.fixture()
def request_row(services: dict) -> dict:
    return pg.create_request(f"user-{uuid.uuid4().hex[:6]}", language="ja", pages=8, style="shonen")


def _admin(services: dict, database: str = "postgres") -> pg8000.native.Connection:
    return pg8000.native.Connection("postgres", host="127.0.0.1", port=services["postgres"]["port"], database=database)


def test_migrations_apply_once_on_a_fresh_database_even_concurrently(services: dict) -> None:
    name = f"mf_mig_{uuid.uuid4().hex[:8]}"
    admin = _admin(services)
    admin.run(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql://postgres@127.0.0.1:{services['postgres']['port']}/{name}"
        results: list[list[str]] = []
        errors: list[BaseException] = []

        def migrate() -> None:
            try:
                results.append(pg.Database(Settings(database_url=url)).migrate())
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        threads = [threading.Thread(target=migrate) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        expected = [p.stem.split("_")[0] for p in pg.migration_files()]
        # Exactly one process applied the migrations; the others found them done.
        assert sorted(results, key=len)[-1] == expected
        assert sum(len(r) for r in results) == len(expected)
        again = pg.Database(Settings(database_url=url))
        assert again.migrate() == []
        versions = again.run("SELECT version FROM schema_migrations ORDER BY version")
        assert [v["version"] for v in versions] == expected
        tables = {r["table_name"] for r in again.run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        assert {"generation_requests", "phase_runs", "approval_gates", "feedback", "preview_versions",
                "schema_migrations"} <= tables
        again.close()
    finally:
        admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_generation_request_round_trip(services: dict) -> None:
    rid = f"r-{uuid.uuid4().hex[:12]}"
    row = pg.create_request("u-1", request_id=rid, language="en", pages=4, options={"mode": "review"},
                            hitl_timeout_s=5, client_address="10.0.0.1")
    assert row["request_id"] == rid and row["status"] == "pending"
    assert row["hitl_timeout_s"] == 30  # bounded below at 30 s
    assert row["options"] == {"mode": "review"}
    again = pg.create_request("u-other", request_id=rid)  # a retried create writes nothing
    assert again["user_id"] == "u-1"
    updated = pg.update_request(rid, status="completed", current_phase=7, result_uri="gs://b/manga.pdf")
    assert updated["status"] == "completed" and updated["completed_at"] is not None
    assert pg.get_request(rid)["result_uri"] == "gs://b/manga.pdf"
    with pytest.raises(KeyError, match=rid + "x"):
        pg.get_request(rid + "x")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"language": "fr"}, "language"), ({"pages": 0}, "pages"), ({"pages": 201}, "pages")],
)
def test_bad_request_fields_are_named(services: dict, kwargs: dict, field: str) -> None:
    with pytest.raises(pg.InvalidRecord, match=field):
        pg.create_request("u", **kwargs)


def test_phase_run_recorded_once_per_attempt_and_panel(services: dict, request_row: dict) -> None:
    rid = request_row["request_id"]
    first = pg.record_phase_run(rid, 4, 1, score=0.55, decision="retry", output_uri="gs://b/a.json",
                                hints=["add a splash panel"], duration_ms=120)
    repeat = pg.record_phase_run(rid, 4, 1, score=0.99, decision="pass")
    assert repeat == first  # same row back, nothing overwritten
    second = pg.record_phase_run(rid, 4, 2, score=0.81, decision="pass")
    assert second["run_id"] != first["run_id"]
    panels = [pg.record_phase_run(rid, 5, 1, panel_id=f"p01-{i}", output_uri=f"gs://b/{i}.png") for i in range(1, 4)]
    panels_again = [pg.record_phase_run(rid, 5, 1, panel_id=f"p01-{i}") for i in range(1, 4)]
    assert [p["run_id"] for p in panels] == [p["run_id"] for p in panels_again]
    assert len(pg.list_phase_runs(rid)) == 5
    assert pg.find_phase_run(rid, 5, 1, panel_id="p01-2")["output_uri"] == "gs://b/2.png"
    assert pg.find_phase_run(rid, 5, 2, panel_id="p01-2") is None
    with pytest.raises(pg.InvalidRecord, match="score"):
        pg.record_phase_run(rid, 1, 1, score=1.5)
    with pytest.raises(pg.InvalidRecord, match="phase"):
        pg.record_phase_run(rid, 8, 1)


def test_approval_gate_first_decision_wins_and_timeouts(services: dict, request_row: dict) -> None:
    rid = request_row["request_id"]
    gate = pg.open_gate(rid, 2, callback_url="http://127.0.0.1/cb/1", preview_uri="gs://b/p.webp")
    assert gate["decision"] is None and gate["callback_url"].endswith("/cb/1")
    assert pg.open_gate(rid, 2)["gate_id"] == gate["gate_id"]
    decided = pg.decide_gate(gate["gate_id"], "modify", decided_by="editor", feedback="more dramatic")
    assert decided["decision"] == "modify" and decided["decided_by"] == "editor" and decided["decided_at"]
    assert pg.decide_gate(gate["gate_id"], "approve")["decision"] == "modify"
    late = pg.open_gate(rid, 3, timeout_s=30)
    timed = pg.decide_gate(late["gate_id"], None, timed_out=True)
    assert timed["timed_out"] is True and timed["decision"] is None
    with pytest.raises(pg.InvalidRecord, match="decision"):
        pg.decide_gate(gate["gate_id"], "maybe")
    with pytest.raises(pg.InvalidRecord, match="round"):
        pg.open_gate(rid, 2, round=4)
    # An open gate past its deadline shows up for the sweeper.
    pg.database().run("UPDATE approval_gates SET deadline = now() - interval '1 second' WHERE gate_id = :g",
                      g=pg.open_gate(rid, 4)["gate_id"])
    assert f"g-{rid}-4-0" in {g["gate_id"] for g in pg.expired_gates()}


def test_feedback_with_parsed_intent(services: dict, request_row: dict) -> None:
    rid = request_row["request_id"]
    gate = pg.open_gate(rid, 1)
    row = pg.record_feedback(rid, 1, text="もっと明るく", quick_option="brighter", parsed_intent={"tone": "+bright"},
                             intensity=0.7, confidence=0.9, gate_id=gate["gate_id"], feedback_id=f"f-{rid}")
    assert pg.record_feedback(rid, 1, text="other", feedback_id=f"f-{rid}") == row
    listed = pg.list_feedback(rid, 1)
    assert len(listed) == 1 and listed[0]["parsed_intent"] == {"tone": "+bright"} and listed[0]["intensity"] == 0.7
    with pytest.raises(pg.InvalidRecord, match="intensity"):
        pg.record_feedback(rid, 1, intensity=2.0)


def test_preview_versions_number_retry_and_revert(services: dict, request_row: dict) -> None:
    rid = request_row["request_id"]
    v1 = pg.add_preview_version(rid, 4, "gs://b/v1.webp", attempt=1)
    assert pg.add_preview_version(rid, 4, "gs://b/v1.webp")["version"] == 1  # retried add
    v2 = pg.add_preview_version(rid, 4, "gs://b/v2.webp", attempt=2)
    reverted = pg.add_preview_version(rid, 4, "gs://b/v1.webp", label="revert to 1")
    assert (v1["version"], v2["version"], reverted["version"]) == (1, 2, 3)
    assert [v["uri"] for v in pg.list_preview_versions(rid, 4)] == ["gs://b/v1.webp", "gs://b/v2.webp", "gs://b/v1.webp"]


def test_request_state_gathers_each_phase(services: dict, request_row: dict) -> None:
    rid = request_row["request_id"]
    pg.record_phase_run(rid, 1, 1, score=0.5, decision="retry", output_uri="gs://b/1a.json")
    pg.record_phase_run(rid, 1, 2, score=0.8, decision="pass", output_uri="gs://b/1b.json")
    gate = pg.open_gate(rid, 1, preview_uri="gs://b/1b.webp")
    pg.decide_gate(gate["gate_id"], "approve", decided_by="u")
    pg.add_preview_version(rid, 1, "gs://b/1b.webp")
    state = pg.request_state(rid)
    assert state["request_id"] == rid
    assert [p["phase"] for p in state["phases"]] == [1]
    phase1 = state["phases"][0]
    assert [a["attempt"] for a in phase1["attempts"]] == [1, 2]
    assert phase1["scores"] == [0.5, 0.8] and phase1["best_score"] == 0.8
    assert phase1["decisions"] == ["approve"]
    assert phase1["artifacts"] == ["gs://b/1a.json", "gs://b/1b.json"]
    assert phase1["previews"][0]["version"] == 1


def test_unreachable_database_names_it_and_the_start_command(services: dict) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = pg.Database(Settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/x"), retry_deadline_s=0.3)
    with pytest.raises(StoreUnavailable) as err:
        db.run("SELECT 1")
    assert "PostgreSQL" in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert "mangaflow services up" in str(err.value)


class _DbApiDatabase(pg.Database):
    """Opens a pg8000 DB-API connection, the kind the Cloud SQL connector returns, to exercise the
    same adapter path the cloud uses (named parameters over the shared pg8000 core)."""

    def _open(self) -> object:
        import pg8000.dbapi

        conn = pg8000.dbapi.connect("postgres", host="127.0.0.1", port=self._port, database="mangaflow")
        conn.autocommit = True
        return conn


def test_dbapi_connection_path_used_with_cloud_sql(services: dict) -> None:
    db = _DbApiDatabase(Settings(database_url=os.environ["DATABASE_URL"]))
    db._port = services["postgres"]["port"]
    row = pg.create_request("u-dbapi", language="en", options={"k": [1, 2]}, db=db)
    assert pg.get_request(row["request_id"], db=db)["options"] == {"k": [1, 2]}
    run = pg.record_phase_run(row["request_id"], 2, 1, score=0.7, db=db)
    assert pg.record_phase_run(row["request_id"], 2, 1, db=db)["run_id"] == run["run_id"]
    db.close()
