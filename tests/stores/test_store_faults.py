"""Fault tests: PostgreSQL and Redis are SIGKILLed mid-run and restarted; store calls retry with
back-off and succeed, and what was written before the crash is still there."""

from __future__ import annotations

import pytest

import threading
import time
import uuid

from localcloud import services as local
from mangaflow.stores import postgres as pg
from mangaflow.stores import sessions as ss

# Stops, kills or restarts servers the rest of the suite shares: run apart (make test).
pytestmark = pytest.mark.serial


def _restart_later(name: str, delay_s: float, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        try:
            local.restart(name)
        except BaseException as err:  # noqa: BLE001 - surfaced by the test
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_postgres_killed_mid_run_calls_retry_and_rows_survive(services: dict) -> None:
    db = pg.database()
    request = pg.create_request("u-fault", pages=8)
    rid = request["request_id"]
    before = [pg.record_phase_run(rid, 5, 1, panel_id=f"p01-{i}", score=0.8) for i in range(1, 6)]
    old_pid = local.status()[0]["pid"]
    reconnects = db.reconnects

    local.kill("postgres")  # a real SIGKILL of the postmaster and its backends
    assert not [row for row in local.status() if row["name"] == "postgres"][0]["running"]
    errors: list[BaseException] = []
    restarter = _restart_later("postgres", 0.5, errors)
    # This call meets the dead connection, retries with back-off and lands after the restart.
    after = pg.record_phase_run(rid, 5, 1, panel_id="p01-6", score=0.9)
    restarter.join()
    assert not errors

    assert after["panel_id"] == "p01-6"
    assert db.reconnects > reconnects
    assert local.status()[0]["pid"] not in (None, old_pid)
    runs = pg.list_phase_runs(rid, 5)
    assert [r["run_id"] for r in runs[:5]] == [r["run_id"] for r in before]
    assert len(runs) == 6
    # A repeat of an attempt recorded before the crash is still recognised.
    assert pg.record_phase_run(rid, 5, 1, panel_id="p01-3")["run_id"] == before[2]["run_id"]


def test_redis_killed_mid_run_calls_retry_and_session_survives(services: dict) -> None:
    store = ss.session_store()
    rid = f"r-{uuid.uuid4().hex[:10]}"
    store.open_session(rid, "u-fault", current_phase=4)
    store.publish_progress(rid, {"phase": 4, "status": "completed"})
    # appendfsync everysec may hold a write back for up to 2 s; WAITAOF returns once it is on disk.
    assert store.client.execute_command("WAITAOF", 1, 0, 5000)[0] == 1

    local.kill("redis")
    errors: list[BaseException] = []
    restarter = _restart_later("redis", 0.5, errors)
    admitted = store.check_rate(f"fault-{rid}")  # retried until Valkey is back
    restarter.join()
    assert not errors
    assert admitted.allowed
    # What the append-only file held survives the crash.
    assert store.get_session(rid)["current_phase"] == 4
    assert [e["phase"] for _, e in store.read_progress(rid)] == [4]
