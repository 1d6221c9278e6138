"""The image cache on PostgreSQL and the real Vertex AI stand-in: an exact prompt and an exact set of inputs
are reused at no cost; a prompt at least 0.85 alike with the same references is reused and recorded as a
near match; nothing is reused across people, after 24 hours, inside one attempt, or when a person asked
for a change. The budget ledger on PostgreSQL never lets concurrent reservations pass the budget."""
from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest

from mangaflow.config import settings
from mangaflow.providers import CallScope, ImageJob
from mangaflow.providers.faults import FaultSwitch
from mangaflow.providers.images import Painter, inputs_key, reference, seed_of
from mangaflow.providers.vertex import VertexProvider

PROMPT = ("Draw one manga panel, black ink line art with screentone shading. Wide shot of the rooftop garden at "
          "dusk: Moss the old robot waters the tomatoes while Ines watches from the railing.")


@pytest.fixture
def request_row(real_stores):
    user = f"cache-{uuid.uuid4().hex[:8]}"
    row = real_stores.requests.create(user, request_id=real_stores.requests.new_id(), language="en", pages=1,
                                      options={"provider": "vertex"})
    real_stores.model_calls.open_budget(row["request_id"], 2.0)
    return row


def painter_for(real_stores, row, attempt: int = 1, feedback=None) -> Painter:
    scope = CallScope(real_stores.model_calls, request_id=row["request_id"], phase=5, attempt=attempt,
                      panel_id="p01-1", config=replace(settings(), model_backoff_s=0.01), faults=FaultSwitch())
    return Painter(real_stores, row, attempt, VertexProvider(scope=scope), feedback)


def job(prompt: str = PROMPT, item: str = "p01-1", refs=()) -> ImageJob:
    seed = seed_of(inputs_key("panel", "gemini-2.5-flash-image", {"prompt": prompt}))  # the exact key holds the seed
    return ImageJob("panel", item, prompt, (1000, 700), tuple(refs), seed)


def paint(painter: Painter, the_job: ImageJob, key: str | None = None):
    return painter.paint(the_job, key=key or inputs_key("panel", painter.model, {"item": the_job.item,
                                                                                  "prompt": the_job.prompt}),
                         simple_prompt="Draw a quiet panel.", prefix=f"requests/{painter.request_id}/panels")


def test_exact_and_near_prompts_are_reused_and_recorded_at_no_cost(real_stores, request_row, stand_in):
    first = paint(painter_for(real_stores, request_row, attempt=1), job())
    assert first.provenance["source"] == "model" and first.uri
    later = painter_for(real_stores, request_row, attempt=2)
    exact = paint(later, job(item="p02-1"))
    assert exact.uri == first.uri and exact.provenance["cache"]["match"] == "prompt"
    assert exact.provenance["cost_usd"] == 0 and exact.provenance["cache"]["similarity"] == 1.0
    near = paint(later, job(PROMPT.replace("dusk", "sunset") + " Soft light.", item="p02-2"))
    assert near.uri == first.uri and near.provenance["cache"]["match"] == "near"
    assert 0.85 <= near.provenance["cache"]["similarity"] < 1.0
    other = paint(later, job("Close-up of a crying child alone in the rain at night, neon signs behind.", "p02-3"))
    assert other.provenance["source"] == "model" and other.uri != first.uri
    rows = real_stores.model_calls.list(request_row["request_id"])
    assert [r["status"] for r in rows] == ["ok", "cache", "cache", "ok"]
    assert [r["cache_of"]["match"] for r in rows if r["status"] == "cache"] == ["prompt", "near"]
    assert len(stand_in.images(request_row["request_id"])) == 2  # only the two model answers were asked for


def test_a_near_match_needs_the_same_references(real_stores, request_row):
    sheet_a = reference("c1", _png((64, 64), "white"))
    sheet_b = reference("c2", _png((64, 64), "black"))
    paint(painter_for(real_stores, request_row, 1), job(refs=[sheet_a]))
    again = painter_for(real_stores, request_row, 2)
    assert paint(again, job(PROMPT + " Soft light.", "p02-1", [sheet_a])).provenance["cache"]["match"] == "near"
    assert paint(again, job(PROMPT + " Soft light.", "p02-2", [sheet_b])).provenance["source"] == "model"


def test_nothing_is_reused_across_people_inside_one_attempt_after_a_day_or_when_a_change_was_asked(real_stores,
                                                                                                  request_row):
    from mangaflow.stores import postgres

    paint(painter_for(real_stores, request_row, 1), job())
    same_attempt = paint(painter_for(real_stores, request_row, 1), job(item="p01-2"))
    assert same_attempt.provenance["source"] == "model"  # one book never shows one picture twice
    changed = paint(painter_for(real_stores, request_row, 2, feedback={"text": "make it brighter"}),
                    job(PROMPT + " Brighter.", "p02-1"))
    assert changed.provenance["source"] == "model"  # a person asked for a change: no near match
    stranger = dict(request_row, user_id=f"other-{uuid.uuid4().hex[:6]}")
    assert paint(painter_for(real_stores, stranger, 2), job(item="p02-2")).provenance["source"] == "model"
    assert paint(painter_for(real_stores, request_row, 3), job(item="p03-1")).provenance["source"] == "cache"
    postgres.database().run("UPDATE image_cache SET created_at = now() - interval '24 hours 1 second'"
                            " WHERE user_id = :uid", uid=request_row["user_id"])
    assert paint(painter_for(real_stores, request_row, 4), job(item="p04-1")).provenance["source"] == "model"


def test_inputs_hits_bring_back_the_description_that_went_with_the_picture(real_stores, request_row):
    the_job = job()
    key = inputs_key("panel", "gemini-2.5-flash-image", {"panel": "p01-1", "v": 1})
    described = {"panel_id": "p01-1", "description": "Moss waters the tomatoes."}
    painter_for(real_stores, request_row, 1).paint(the_job, key=key, simple_prompt="x", description=described,
                                                   prefix=f"requests/{request_row['request_id']}/panels")
    hit = painter_for(real_stores, request_row, 2).cached(the_job, key)
    assert hit.description == described and hit.provenance["cache"]["match"] == "inputs"


def test_concurrent_reservations_on_postgresql_never_pass_the_budget(real_stores, request_row):
    rid = f"r-{uuid.uuid4().hex[:16]}"
    real_stores.requests.create(request_row["user_id"], request_id=rid, language="en", pages=1)
    real_stores.model_calls.open_budget(rid, 0.39)
    granted = []
    threads = [threading.Thread(target=lambda: granted.append(real_stores.model_calls.reserve(rid, 0.0387, "t")))
               for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 10
    ledger = real_stores.model_calls.budget(rid)
    assert float(ledger["reserved_usd"]) <= 0.39 and ledger["stopped_at"] is not None


def test_a_model_call_row_keeps_the_time_its_try_ended(real_stores, request_row):
    """A try's row says when its wait ended (the slot is given back before the row is written); a row given no
    time is stamped by PostgreSQL; a time that is not ISO 8601 is refused before the database."""
    import datetime as dt

    rid = f"r-{uuid.uuid4().hex[:16]}"
    real_stores.requests.create(request_row["user_id"], request_id=rid, language="en", pages=1)
    row = {"request_id": rid, "phase": 1, "attempt": 1, "operation": "concept", "kind": "text", "call_key": "k",
           "try_number": 0, "provider": "vertex", "model": "gemini-2.5-flash", "status": "ok", "latency_ms": 1000}
    ended = "2026-01-02T03:04:05.678901+00:00"
    def when(value: object) -> dt.datetime:
        return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))

    kept = real_stores.model_calls.record(**row, created_at=ended)
    assert when(kept["created_at"]) == dt.datetime.fromisoformat(ended)
    before = dt.datetime.now(dt.timezone.utc)
    stamped = real_stores.model_calls.record(**{**row, "try_number": 1})
    assert when(stamped["created_at"]) >= before - dt.timedelta(seconds=5)
    with pytest.raises(ValueError):
        real_stores.model_calls.record(**{**row, "try_number": 2}, created_at="yesterday")
    assert len(real_stores.model_calls.list(rid)) == 2


def _png(size, colour) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()
