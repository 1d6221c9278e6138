"""Pages composed as their panels arrive: the phase 5 call that records a page's last panel letters and composes
the page as phases 6 and 7 would, and phase 7 finds it by its key instead of composing it (issue 16, goal 1).
On in-memory stores; the pipeline tests run the same through the engine, the real stores and the gateway."""
from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from fakes import World
from test_pages_ahead import STORY   # the same 3-page story as phase 7's own page calls are tested on
from mangaflow.config import settings
from mangaflow.phases import phase5_images, phase7_finalize
from mangaflow.service import runner



@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", "unit-test-key")
    monkeypatch.setenv("MANGAFLOW_PROVIDER", "offline")


def run(world: World, phase: int, request_id: str, attempt: int = 1, selected: dict | None = None,
        **body: Any) -> dict[str, Any]:
    chosen = {str(p): 1 for p in range(1, phase)}
    chosen.update(selected or {})
    return runner.run_phase(world.stores, phase, {"request_id": request_id, "attempt": attempt, "selected": chosen,
                                                  **body})


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Every page composition, in order: (page number, the thread's name prefix)."""
    import threading

    done: list[tuple[int, str]] = []
    original = phase7_finalize.Book.compose

    def counted(self, page, art, lettered=True):  # type: ignore[no-untyped-def]
        done.append((int(page["page"]), threading.current_thread().name.rsplit("_", 1)[0]))
        return original(self, page, art, lettered)

    monkeypatch.setattr(phase7_finalize.Book, "compose", counted)
    return done


def draw_panels(world: World, request_id: str, attempt: int = 1, **body: Any) -> list[str]:
    panel_ids = run(world, 5, request_id, attempt, operation="plan", **body)["panel_ids"]
    for panel_id in panel_ids:
        run(world, 5, request_id, attempt, operation="panel", panel_id=panel_id, **body)
    run(world, 5, request_id, attempt, operation="collect", **body)
    return panel_ids


def book(world: World, pages: int = 3) -> str:
    """A request through phases 1-6 (phase 5 one panel call at a time, as the workflow fans them out)."""
    request_id = world.request(STORY, pages=pages)["request_id"]
    for phase in range(1, 7):
        if phase == 5:
            draw_panels(world, request_id)
        else:
            run(world, phase, request_id)
    return request_id


def notes(world: World, request_id: str) -> list[str]:
    return [uri for uri in world.artifacts.objects if f"/{request_id}/with-panels/composed/" in uri]


def collected(world: World, request_id: str, attempt: int = 1, **body: Any) -> dict[str, Any]:
    """Phase 7 as the workflow runs it: plan, a page call for each planned page, collect."""
    plan = run(world, 7, request_id, attempt, operation="plan", **body)
    for number in plan["pages"]:
        run(world, 7, request_id, attempt, operation="page", page=number, **body)
    answer = run(world, 7, request_id, attempt, operation="collect", **body)
    return {"plan": plan["pages"], **world.artifacts.get_json(answer["output_uri"])}


def test_phase_5_makes_each_page_once_with_its_last_panel_and_phase_7_only_collects_it(composed):
    world = World()
    request_id = book(world)
    # Each page composed exactly once, in phase 5, on the drawing thread (never beside a drawing).
    assert sorted(number for number, _ in composed) == [1, 2, 3]
    assert {thread for _, thread in composed} == {"panel-drawing"}
    assert len(notes(world, request_id)) == 3
    output = collected(world, request_id)
    assert output["plan"] == [] and len(composed) == 3   # no page call needed, collect composed nothing
    assert [p["page"] for p in output["pages"]] == [1, 2, 3]
    assert [e.get("made_with_panels") for e in output["pages_composed"]] == [True, True, True]
    assert "3 composed as their panels arrived" in phase7_finalize.Final().summarise(output)
    assert all(f"/{request_id}/with-panels/" in p["uri"] and f"/{request_id}/with-panels/" in p["preview_uri"]
               for p in output["pages"])
    # The span is phase 7's own: no page call, so it starts with collect.
    row = world.phase_runs.find(request_id, 7, 1)
    assert "started_at" not in output["processing_metadata"]
    assert row["started_at"] < row["finished_at"]

    # The same book with the pages composed by phase 7 has the same bytes, page by page and in its exports.
    other = World()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MANGAFLOW_PAGES_WITH_PANELS", "0")
        assert settings().pages_with_panels == 0
        other_id = book(other)
        assert notes(other, other_id) == [] and len(composed) == 3
        late = collected(other, other_id)
    assert late["plan"] == [1, 2, 3] and sorted(n for n, _ in composed[3:]) == [1, 2, 3]
    for mine, theirs in zip(output["pages"], late["pages"]):
        assert mine["inputs_sha256"] == theirs["inputs_sha256"]
        assert world.artifacts.get_bytes(mine["uri"]) == other.artifacts.get_bytes(theirs["uri"])
        assert world.artifacts.get_bytes(mine["preview_uri"]) == other.artifacts.get_bytes(theirs["preview_uri"])
    for kind in ("pdf", "cbz"):
        assert world.artifacts.get_bytes(output["exports"][kind]) == other.artifacts.get_bytes(late["exports"][kind])
    with zipfile.ZipFile(io.BytesIO(world.artifacts.get_bytes(output["exports"]["cbz"]))) as cbz:
        assert len([name for name in cbz.namelist() if name.endswith(".png")]) == 3


def test_a_page_waits_for_its_last_panel(composed):
    world = World()
    request_id = world.request(STORY, pages=3)["request_id"]
    for phase in range(1, 5):
        run(world, phase, request_id)
    storyboard = runner.load_inputs(world.stores, world.requests.get(request_id), {str(p): 1 for p in range(1, 5)},
                                    5)["storyboard"]
    first = storyboard["pages"][0]
    panel_ids = [p["panel_id"] for p in first["panels"]]
    assert len(panel_ids) >= 2
    run(world, 5, request_id, operation="plan")
    for panel_id in reversed(panel_ids):   # out of order: the page is made by whichever call comes last
        assert composed == [] and notes(world, request_id) == []
        run(world, 5, request_id, operation="panel", panel_id=panel_id)
    assert composed == [(int(first["page"]), "panel-drawing")] and len(notes(world, request_id)) == 1
    # A replayed panel call (the engine's retry) makes nothing again.
    assert run(world, 5, request_id, operation="panel", panel_id=panel_ids[0])["idempotent_replay"] is True
    assert len(composed) == 1


def test_bubbles_edited_at_gate_6_leave_only_their_page_to_phase_7(composed):
    world = World()
    request_id = book(world)
    lettering = world.artifacts.get_json(world.phase_runs.find(request_id, 6, 1)["output_uri"])
    spoken = next(p for p in lettering["dialogue_placements"] if p["placements"])
    page_of = {p["panel_id"]: int(page["page"]) for page in lettering["pages"] for p in page["panels"]}
    feedback = {"option": "move_bubble", "panel_id": spoken["panel_id"], "dialogue_index": 0, "direction": "down",
                "amount": 0.1, "base_attempt": 1}
    relettered = world.artifacts.get_json(run(world, 6, request_id, attempt=2, feedback=feedback)["output_uri"])
    assert relettered["lettering"]["relettered_pages"] == [page_of[spoken["panel_id"]]]
    output = collected(world, request_id, selected={"6": 2})
    assert output["plan"] == [page_of[spoken["panel_id"]]]
    assert [n for n, _ in composed[3:]] == [page_of[spoken["panel_id"]]]
    assert composed[3][1] == "page-composing"
    assert [bool(e.get("made_with_panels")) for e in output["pages_composed"]] == \
        [e["page"] != page_of[spoken["panel_id"]] for e in output["pages_composed"]]
    edited = next(p for p in output["pages"] if p["page"] == page_of[spoken["panel_id"]])
    assert "/attempt-1/pages/" in edited["uri"]
    assert all("/with-panels/" in p["uri"] for p in output["pages"] if p is not edited)


def test_page_numbers_switched_off_at_gate_7_compose_every_page_again(composed):
    world = World()
    request_id = book(world)
    collected(world, request_id)
    again = collected(world, request_id, attempt=2, feedback={"option": "final_touches", "page_numbers": False,
                                                              "base_attempt": 1})
    assert again["plan"] == [1, 2, 3] and sorted(n for n, _ in composed[3:]) == [1, 2, 3]
    assert not any("/with-panels/" in p["uri"] for p in again["pages"])


def test_a_panel_redrawn_at_gate_5_makes_only_its_own_page_again(composed):
    world = World()
    request_id = book(world)
    lettering = world.artifacts.get_json(world.phase_runs.find(request_id, 6, 1)["output_uri"])
    page = lettering["pages"][1]
    target = page["panels"][0]["panel_id"]
    feedback = {"option": "regenerate_panel", "value": target, "base_attempt": 1, "hints": ["a wider shot"]}
    draw_panels(world, request_id, attempt=2, feedback=feedback)
    redrawn = world.artifacts.get_json(world.phase_runs.find(request_id, 5, 2, panel_id=target)["output_uri"])
    before = world.artifacts.get_json(world.phase_runs.find(request_id, 5, 1, panel_id=target)["output_uri"])
    if redrawn["image_uri"] == before["image_uri"]:
        pytest.fail("the redone panel kept its picture: the test needs a panel whose art changes")
    # The pages whose panels were kept are found as made; only the redrawn panel's page is composed again.
    assert [n for n, _ in composed[3:]] == [int(page["page"])]
    run(world, 6, request_id, attempt=2, selected={"5": 2})
    output = collected(world, request_id, selected={"5": 2, "6": 2})
    assert output["plan"] == [] and len(composed) == 4


def test_a_page_that_cannot_be_made_with_its_panels_is_left_to_phase_7(composed, monkeypatch, capsys):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(phase7_finalize, "make_page_ahead", broken)
    world = World()
    request_id = book(world)   # the panel calls succeed
    assert composed == [] and notes(world, request_id) == []
    logged = capsys.readouterr().out   # the service's JSON log lines
    assert logged.count("a page could not be made with its panels") == 3 and "disk full" in logged
    output = collected(world, request_id)
    assert output["plan"] == [1, 2, 3] and sorted(n for n, _ in composed) == [1, 2, 3]


def test_a_note_without_its_page_is_composed_by_phase_7(composed):
    """A note whose page file is gone (a lifecycle rule, a half-cleaned request): collect composes the page."""
    world = World()
    request_id = book(world)
    for uri in [u for u in world.artifacts.objects if f"/{request_id}/with-panels/" in u and "/composed/" not in u]:
        del world.artifacts.objects[uri]   # the pages and previews, not the notes
    output = collected(world, request_id)
    assert output["plan"] == [] and sorted(n for n, _ in composed[3:]) == [1, 2, 3]
    assert [p["page"] for p in output["pages"]] == [1, 2, 3]


@pytest.mark.parametrize("value", ["2", "-1", "yes"])
def test_the_setting_is_zero_or_one(monkeypatch, value):
    monkeypatch.setenv("MANGAFLOW_PAGES_WITH_PANELS", value)
    with pytest.raises(Exception, match="MANGAFLOW_PAGES_WITH_PANELS"):
        settings()


def test_finish_page_of_a_panel_not_in_the_storyboard_makes_nothing(composed):
    world = World()
    request_id = book(world)
    inputs = runner.load_inputs(world.stores, world.requests.get(request_id), {str(p): 1 for p in range(1, 5)}, 5)
    ctx = phase5_images.PhaseContext(world.stores, world.requests.get(request_id), inputs, None, 1, None)
    assert phase5_images.Images().finish_page_of(ctx, "p99-9") is None and len(composed) == 3
