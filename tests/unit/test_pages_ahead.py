"""Phase 7 as the workflow calls it: `plan` lists the pages, one `page` call composes and stores each (on
whichever worker takes it), `collect` writes the exports from the stored pages without composing them again.
On in-memory stores (the pipeline tests run the same operations through the engine and the real stores)."""
from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from fakes import Meeting, World, on_threads
from mangaflow import schemas
from mangaflow.errors import DomainError
from mangaflow.phases import phase7_finalize
from mangaflow.service import runner

STORY = ('Mia found a lantern on the shore. "Who left you here?" Mia asked. Tom waved from the pier. '
         '"It is mine," Tom said. They walked home together under the stars. "Thank you," said Tom.')


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", "unit-test-key")
    monkeypatch.setenv("MANGAFLOW_PROVIDER", "offline")
    # These are phase 7's own page calls: phase 5 making the pages as their panels arrive is switched off
    # (tests/unit/test_pages_with_panels.py covers that).
    monkeypatch.setenv("MANGAFLOW_PAGES_WITH_PANELS", "0")


def run(world: World, phase: int, request_id: str, attempt: int = 1, **body: Any) -> dict[str, Any]:
    return runner.run_phase(world.stores, phase, {"request_id": request_id, "attempt": attempt,
                                                  "selected": {str(p): 1 for p in range(1, phase)}, **body})


@pytest.fixture
def lettered() -> tuple[World, str]:
    """A 3-page request through phases 1-6 on in-memory stores."""
    world = World()
    request_id = world.request(STORY, pages=3)["request_id"]
    for phase in range(1, 7):
        if phase == 5:
            for panel_id in run(world, 5, request_id, operation="plan")["panel_ids"]:
                run(world, 5, request_id, operation="panel", panel_id=panel_id)
            run(world, 5, request_id, operation="collect")
        else:
            run(world, phase, request_id)
    return world, request_id


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The page numbers composed (in any operation), in order."""
    done: list[int] = []
    original = phase7_finalize.Book.compose

    def counted(self, page, art, lettered=True):  # type: ignore[no-untyped-def]
        done.append(int(page["page"]))
        return original(self, page, art, lettered)

    monkeypatch.setattr(phase7_finalize.Book, "compose", counted)
    return done


def output_of(world: World, answer: dict[str, Any]) -> dict[str, Any]:
    return world.artifacts.get_json(answer["output_uri"])


def test_pages_composed_ahead_are_collected_as_stored_and_the_book_is_the_same(lettered, composed, monkeypatch):
    world, request_id = lettered
    plan = run(world, 7, request_id, operation="plan")
    assert plan["pages"] == [1, 2, 3]
    answers = [run(world, 7, request_id, operation="page", page=n) for n in reversed(plan["pages"])]
    assert [(a["page"], a["composed"]) for a in answers] == [(3, True), (2, True), (1, True)]
    assert composed == [3, 2, 1]
    puts = world.artifacts.puts

    collected = run(world, 7, request_id, operation="collect")
    output = output_of(world, collected)
    assert composed == [3, 2, 1]   # collect composed nothing
    prefix = f"gs://fake-final_products/requests/{request_id}/attempt-1"
    assert [(p["page"], p["uri"], p["preview_uri"]) for p in output["pages"]] == [
        (n, f"{prefix}/pages/{n:03d}.png", f"{prefix}/previews/{n:03d}.webp") for n in (1, 2, 3)]
    assert not any("reused_from" in entry for entry in output["pages_composed"])
    # The attempt's span starts with its first page call (what `get_status` and `--json` report as its time).
    row = world.phase_runs.find(request_id, 7, 1)
    noted = [world.artifacts.get_json(uri)["started_at"] for uri in world.artifacts.objects if "/composed/" in uri]
    assert len(noted) == 3 and row["started_at"].isoformat() == output["processing_metadata"]["started_at"] == min(noted)
    assert row["started_at"] < row["finished_at"]
    # The PDF, the CBZ, the manifest, the run's output and its preview: no page or preview stored twice.
    assert world.artifacts.puts - puts == 5
    # A call again (a retried page call) draws nothing; after collect it is a replay.
    assert run(world, 7, request_id, operation="page", page=2)["idempotent_replay"] is True

    # The same book composed in one call (no page calls, nothing to reuse) has the same bytes.
    monkeypatch.setattr(phase7_finalize, "StoredPages", lambda ctx: None)
    whole = output_of(world, run(world, 7, request_id, attempt=2))
    # (its pages are composed on one thread per core: in any order)
    assert composed[:3] == [3, 2, 1] and sorted(composed[3:]) == [1, 2, 3]
    for kind in ("pdf", "cbz"):
        assert world.artifacts.get_bytes(whole["exports"][kind]) == world.artifacts.get_bytes(output["exports"][kind])
    with zipfile.ZipFile(io.BytesIO(world.artifacts.get_bytes(output["exports"]["cbz"]))) as cbz:
        pages = [name for name in cbz.namelist() if name.endswith(".png")]
    assert len(pages) == 3


def test_a_page_is_composed_once_however_often_it_is_asked_and_collect_fills_in_what_is_missing(lettered, composed):
    world, request_id = lettered
    first = run(world, 7, request_id, operation="page", page=2)
    again = run(world, 7, request_id, operation="page", page=2)
    assert (first["composed"], again["composed"]) == (True, False)
    assert first["inputs_sha256"] == again["inputs_sha256"] and composed == [2]
    events = [event["type"] for _, event in world.progress.events[request_id]]
    assert events.count("page_done") == 2
    # Pages 1 and 3 never had their call (a lost branch): collect composes them.
    output = output_of(world, run(world, 7, request_id, operation="collect"))
    assert sorted(composed) == [1, 2, 3] and [p["page"] for p in output["pages"]] == [1, 2, 3]


def test_a_later_attempt_copies_unchanged_pages_and_composes_a_changed_option_again(lettered, composed):
    world, request_id = lettered
    for n in (1, 2, 3):
        run(world, 7, request_id, operation="page", page=n)
    run(world, 7, request_id, operation="collect")
    # Attempt 2 with the same inputs: every page call finds attempt 1's page; collect copies it.
    assert [run(world, 7, request_id, attempt=2, operation="page", page=n)["composed"] for n in (1, 2, 3)] == \
        [False] * 3
    copied = output_of(world, run(world, 7, request_id, attempt=2, operation="collect"))
    assert [e.get("reused_from") for e in copied["pages_composed"]] == [1, 1, 1] and composed == [1, 2, 3]
    # Page numbers switched off change every page: attempt 3 composes them all again.
    feedback = {"option": "final_touches", "text": "no page numbers"}
    for n in (1, 2, 3):
        assert run(world, 7, request_id, attempt=3, operation="page", page=n, feedback=feedback)["composed"] is True
    # A CBZ without lettering draws each page both ways in collect: the plan has no page calls.
    clean = {"option": "format", "text": "a CBZ without lettering"}
    assert run(world, 7, request_id, attempt=4, operation="plan", feedback=clean)["pages"] == []


@pytest.mark.parametrize("body, status, field", [
    ({"operation": "page"}, 400, "page"),
    ({"operation": "page", "page": 9}, 404, "page"),
    ({"operation": "panel", "panel_id": "p01-1"}, 422, "operation"),
])
def test_a_bad_page_call_names_its_field(lettered, body, status, field):
    world, request_id = lettered
    with pytest.raises(DomainError) as refused:
        run(world, 7, request_id, **body)
    assert (refused.value.status, refused.value.field) == (status, field)


@pytest.mark.parametrize("page", [0, 65, "1", 1.5, None, True, -1, 10**12])
def test_the_schema_keeps_page_a_small_positive_whole_number(page):
    with pytest.raises(DomainError) as refused:
        schemas.validate("http/phase_call", {"request_id": "r-0123456789abcdef", "attempt": 1,
                                              "operation": "page", "page": page})
    assert refused.value.field == "page" and refused.value.status in (400, 422)
    schemas.validate("http/phase_call", {"request_id": "r-0123456789abcdef", "attempt": 1, "operation": "page",
                                         "page": 64})


def test_page_calls_compose_on_the_process_page_threads_as_many_at_once_as_configured(lettered, monkeypatch):
    """Page calls on two request threads of one process with MANGAFLOW_PAGES_AT_ONCE=2: two compositions
    meet (a barrier of two), never three, and always on the page-composing threads (a page being composed
    holds its pixels and its panels'; one, the default, per worker process)."""
    from mangaflow.config import settings

    monkeypatch.setenv("MANGAFLOW_PAGES_AT_ONCE", "2")
    assert settings().pages_at_once == 2
    world, request_id = lettered
    meeting = Meeting(phase7_finalize.Book.compose)   # a lone composition (one thread) breaks the barrier
    monkeypatch.setattr(phase7_finalize.Book, "compose", lambda self, *args, **kwargs: meeting(self, *args, **kwargs))
    failures = on_threads(lambda number: run(world, 7, request_id, operation="page", page=number), [1, 2])
    assert not failures and meeting.most == 2, (failures, meeting.most)
    assert meeting.threads == {"page-composing"}, meeting.threads
    monkeypatch.delenv("MANGAFLOW_PAGES_AT_ONCE")
    assert settings().pages_at_once == 1
    monkeypatch.setenv("MANGAFLOW_PAGES_AT_ONCE", "0")
    with pytest.raises(Exception, match="MANGAFLOW_PAGES_AT_ONCE"):
        settings()
