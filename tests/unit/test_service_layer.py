"""The service layer on in-memory stores: what each service function records, publishes and refuses.
No server is started; each test runs in milliseconds (the full-stack tests cover the real stores)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fakes import Meeting, World, on_threads
from mangaflow.auth import Principal
from mangaflow.errors import Conflict, DomainError, Forbidden, NotFound, Unauthenticated
from mangaflow.hitl import tokens
from mangaflow.service import access, gates, runner, versions

STORY = 'Mia found a lantern on the shore. "Who left you here?" Mia asked. Tom waved from the pier.'
ENGINE = "127.0.0.1:7000"
WORKFLOW = "projects/p/locations/local/workflows/manga_pipeline"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", "unit-test-key")
    monkeypatch.setenv("WORKFLOWS_EMULATOR_HOST", ENGINE)
    monkeypatch.setenv("MANGAFLOW_WORKFLOW", WORKFLOW)
    monkeypatch.setenv("MANGAFLOW_PROVIDER", "offline")


@pytest.fixture
def world() -> World:
    return World()


def callback(n: int = 1) -> str:
    return f"http://{ENGINE}/v1/{WORKFLOW}/executions/ex-1/callbacks/cb{n}"


def run(world: World, phase: int, request_id: str, attempt: int = 1, **body: Any) -> dict[str, Any]:
    selected = {str(p): 1 for p in range(1, phase)}
    return runner.run_phase(world.stores, phase, {"request_id": request_id, "attempt": attempt,
                                                  "selected": selected, **body})


def through_phase(world: World, last: int, request_id: str) -> None:
    for phase in range(1, last + 1):
        if phase == 5:
            plan = run(world, 5, request_id, operation="plan")
            for panel_id in plan["panel_ids"]:
                run(world, 5, request_id, operation="panel", panel_id=panel_id)
            run(world, 5, request_id, operation="collect")
        else:
            run(world, phase, request_id)


# ---------------------------------------------------------------------------------------------- runner


def test_a_phase_call_records_its_run_its_preview_and_tells_the_watcher(world: World) -> None:
    request = world.request(STORY)
    answer = run(world, 1, request["request_id"])
    assert answer["idempotent_replay"] is False and 0.0 <= answer["score"] <= 1.0
    [row] = world.phase_runs.list(request["request_id"], 1)
    assert row["output_uri"] == answer["output_uri"] and row["status"] == "succeeded"
    [preview] = world.phase_runs.previews(request["request_id"], 1)
    assert "genre" in world.artifacts.get_json(preview["uri"])["summary"]
    assert world.progress.types(request["request_id"]) == ["phase_started", "phase_done"]
    assert [call[0] for call in world.analytics.calls] == ["record_quality_score"]
    assert world.requests.get(request["request_id"])["status"] == "running"


def test_a_replayed_call_returns_what_was_recorded_and_writes_nothing(world: World) -> None:
    request = world.request(STORY)
    first = run(world, 1, request["request_id"])
    puts = world.artifacts.puts
    again = run(world, 1, request["request_id"])
    assert again["idempotent_replay"] is True and again["output_uri"] == first["output_uri"]
    assert world.artifacts.puts == puts and len(world.phase_runs.list(request["request_id"])) == 1


def test_a_later_phase_without_the_earlier_choice_is_refused_by_field(world: World) -> None:
    request = world.request(STORY)
    with pytest.raises(DomainError) as refused:
        runner.run_phase(world.stores, 3, {"request_id": request["request_id"], "attempt": 1, "selected": {"1": 1}})
    assert refused.value.field == "selected.1" or refused.value.field == "selected.2"
    with pytest.raises(NotFound):
        runner.run_phase(world.stores, 1, {"request_id": "r-00000000000000aa", "attempt": 1})


def test_phase_five_is_plan_panel_and_collect(world: World) -> None:
    request = world.request(STORY, pages=1)
    rid = request["request_id"]
    through_phase(world, 4, rid)
    plan = run(world, 5, rid, operation="plan")
    assert plan["panel_ids"] and all(p.startswith("p01-") for p in plan["panel_ids"])
    with pytest.raises(Conflict):  # nothing drawn yet
        run(world, 5, rid, operation="collect")
    for panel_id in plan["panel_ids"]:
        drawn = run(world, 5, rid, operation="panel", panel_id=panel_id)
        assert drawn["panel_id"] == panel_id and drawn["score"] == 1.0
    collected = run(world, 5, rid, operation="collect")
    images = world.artifacts.get_json(collected["output_uri"])["image_descriptions"]
    assert [i["panel_id"] for i in images] == plan["panel_ids"]
    assert all(world.artifacts.exists(i["image_uri"]) for i in images)
    with pytest.raises(DomainError) as unnamed:
        run(world, 5, rid, attempt=2)
    assert unnamed.value.field == "operation"


def test_panel_calls_read_the_earlier_phases_runs_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded run never changes, so where phases 1-4 left their outputs is read once per process, not by
    every panel call; a run not yet recorded is looked up again (the refusal is not remembered)."""
    request = world.request(STORY, pages=1)
    rid = request["request_id"]
    through_phase(world, 4, rid)
    plan = run(world, 5, rid, operation="plan")
    looked_up: list[tuple[int, int, str | None]] = []
    find = world.stores.phase_runs.find

    def counted(request_id: str, phase: int, attempt: int, *, panel_id: str | None = None) -> Any:
        looked_up.append((phase, attempt, panel_id))
        return find(request_id, phase, attempt, panel_id=panel_id)

    monkeypatch.setattr(world.stores.phase_runs, "find", counted)
    for panel_id in plan["panel_ids"]:
        run(world, 5, rid, operation="panel", panel_id=panel_id)
    earlier = [key for key in looked_up if key[2] is None and key[0] < 5]
    assert earlier == [], earlier  # plan read them already
    assert len(plan["panel_ids"]) >= 2 and len(looked_up) == len(plan["panel_ids"])  # each panel's own replay check
    with pytest.raises(DomainError) as missing:
        runner.run_phase(world.stores, 5, {"request_id": rid, "attempt": 1, "selected": {"1": 1, "2": 1, "3": 1, "4": 9},
                                           "operation": "plan"})
    assert missing.value.field == "selected.4" and missing.value.status == 409
    with pytest.raises(DomainError):  # asked again, not answered from memory
        runner.run_phase(world.stores, 5, {"request_id": rid, "attempt": 1, "selected": {"1": 1, "2": 1, "3": 1, "4": 9},
                                           "operation": "plan"})
    assert looked_up.count((4, 9, None)) == 2


def test_a_process_draws_panels_on_its_own_drawing_threads(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Panel calls on four threads of one process, two drawing threads: two drawings meet (a barrier of two),
    never three, and always on the drawing threads (each drawing holds a canvas of tens of MB, and the
    memory a thread's malloc arena grew to stays with it)."""
    from mangaflow.render import panel_art

    monkeypatch.setenv("MANGAFLOW_DRAWINGS_AT_ONCE", "2")
    request = world.request(STORY, pages=1)
    rid = request["request_id"]
    through_phase(world, 4, rid)
    panel_ids = run(world, 5, rid, operation="plan")["panel_ids"]
    assert len(panel_ids) >= 4, panel_ids
    meeting = Meeting(panel_art.draw_panel)   # a lone drawing (one slot) breaks the barrier
    monkeypatch.setattr(panel_art, "draw_panel", meeting)
    failures = on_threads(lambda panel_id: run(world, 5, rid, operation="panel", panel_id=panel_id), panel_ids[:4])
    assert not failures and meeting.most == 2, (failures, meeting.most)
    assert meeting.threads == {"panel-drawing"}, meeting.threads


def test_a_pass_with_a_warning_is_shown_at_the_gate(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from mangaflow.phases import registry

    concept = registry.phase(1)
    monkeypatch.setattr(type(concept), "evaluate", lambda self, output, inputs: {
        "score": 0.65, "hints": ["say more"], "checks": {}, "warning": "the theme is thin"})
    request = world.request(STORY)
    answer = run(world, 1, request["request_id"])
    assert answer["decision"] == "warn"
    [preview] = world.phase_runs.previews(request["request_id"], 1)
    assert "quality warning: the theme is thin" in world.artifacts.get_json(preview["uri"])["summary"]
    done = [e for _, e in world.progress.events[request["request_id"]] if e["type"] == "phase_done"]
    assert done[0]["warning"] == "the theme is thin"


# ---------------------------------------------------------------------------------------------- gates


def open_first_gate(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    request = world.request(STORY)
    run(world, 1, request["request_id"])
    opened = gates.open_gate(world.stores, {"request_id": request["request_id"], "phase": 1, "attempt": 1,
                                            "callback_url": callback()})
    event = [e for _, e in world.progress.events[request["request_id"]] if e["type"] == "gate_open"][-1]
    return opened, event


def decide(world: World, event: dict[str, Any], answer: Any, **body: Any) -> dict[str, Any]:
    return gates.record_decision(world.stores, {"request_id": event["request_id"], "phase": event["phase"],
                                                "gate_id": event["gate_id"], "callback": answer, **body})


def test_opening_a_gate_announces_a_link_with_the_token_in_its_fragment(world: World) -> None:
    opened, event = open_first_gate(world)
    assert opened["decision"] is None and opened["timeout_seconds"] >= 30
    query, _, fragment = event["approval_url"].partition("#")
    assert "token" not in query and fragment == f"token={event['token']}"
    assert world.requests.get(event["request_id"])["status"] == "waiting"


def test_a_gate_refuses_a_callback_url_of_anything_but_this_workflow(world: World) -> None:
    request = world.request(STORY)
    run(world, 1, request["request_id"])
    for url in ("http://evil.example/v1/x", callback().replace(ENGINE, "127.0.0.1:7001"), callback() + "/../x"):
        with pytest.raises(DomainError) as refused:
            gates.open_gate(world.stores, {"request_id": request["request_id"], "phase": 1, "attempt": 1,
                                           "callback_url": url})
        assert refused.value.field == "callback_url"


@pytest.mark.parametrize("answer", [None, "", [], {"decision": "approve"}, {"decision": "approve", "token": "1.é"},
                                    {"decision": "approve", "token": "²³.x"}, {"decision": "maybe", "token": "1.a"},
                                    {"decision": "modify", "feedback": "a\x00b", "token": "1.a"}])
def test_a_malformed_answer_is_invalid_and_the_gate_keeps_waiting(world: World, answer: Any) -> None:
    _, event = open_first_gate(world)
    outcome = decide(world, event, answer)
    assert outcome["decision"] == "invalid" and outcome["remaining_seconds"] >= 30
    assert world.gates.get(event["gate_id"])["decided_at"] is None
    assert world.progress.types(event["request_id"])[-1] == "gate_rejected_answer"


def test_only_the_engines_timeout_at_the_deadline_is_a_timeout(world: World) -> None:
    _, event = open_first_gate(world)
    early = decide(world, event, None, timed_out=True)
    assert early["decision"] == "invalid" and "before the gate's deadline" in early["reason"]
    world.gates.rows[event["gate_id"]]["deadline"] = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    late = decide(world, event, None, timed_out=True)
    assert late["decision"] == "timeout" and world.gates.get(event["gate_id"])["timed_out"] is True


def test_a_modify_records_the_feedback_and_the_fourth_round_approves(world: World) -> None:
    _, event = open_first_gate(world)
    outcome = decide(world, event, {"decision": "modify", "feedback": "much brighter please", "token": event["token"]})
    assert outcome["decision"] == "modify" and outcome["feedback"]["option"] == "brighter"
    assert world.gates.feedback[-1]["quick_option"] == "brighter"
    gate = world.gates.open(event["request_id"], 1, round=3, callback_url=callback(2))
    token = tokens.sign(event["request_id"], 1, gate["gate_id"], gates.deadline_epoch(gate))
    last = decide(world, {**event, "gate_id": gate["gate_id"]}, {"decision": "modify", "feedback": "more",
                                                               "token": token})
    assert last["decision"] == "approve"  # three modifications were made already


def test_a_decision_whose_call_died_before_its_follow_up_is_finished_when_asked_again(world: World) -> None:
    """The gateway killed between recording a decision and what follows it (the request running again): the
    workflow retries `record_decision`, which finds the gate decided and finishes the follow-up, once."""
    _, event = open_first_gate(world)
    rid = event["request_id"]
    world.gates.decide(event["gate_id"], "approve", decided_by="cli:review")   # ... and the call died here
    assert world.requests.get(rid)["status"] == "waiting"
    again = decide(world, event, {"decision": "approve", "token": event["token"]})
    assert again["decision"] == "approve"
    assert world.requests.get(rid)["status"] == "running"
    assert world.progress.types(rid).count("gate_decided") == 1
    # Asked a third time, nothing is done again.
    assert decide(world, event, {"decision": "approve", "token": event["token"]})["decision"] == "approve"
    assert world.progress.types(rid).count("gate_decided") == 1 and world.requests.get(rid)["status"] == "running"


def test_the_last_gate_decided_by_a_call_that_died_completes_the_request_when_asked_again(world: World) -> None:
    request = world.request(STORY)
    rid = request["request_id"]
    gate = world.gates.open(rid, 7, callback_url=callback())
    world.requests.update(rid, status="waiting", current_phase=7)
    world.gates.decide(gate["gate_id"], "approve", decided_by="cli:review")   # the follow-up never ran
    token = tokens.sign(rid, 7, gate["gate_id"], gates.deadline_epoch(gate))
    answer = gates.record_decision(world.stores, {"request_id": rid, "phase": 7, "gate_id": gate["gate_id"],
                                                  "callback": {"decision": "approve", "token": token}})
    assert answer["decision"] == "approve"
    assert world.requests.get(rid)["status"] == "completed"
    assert world.progress.types(rid).count("completed") == 1


def test_reverting_needs_a_finished_earlier_attempt(world: World) -> None:
    _, event = open_first_gate(world)
    missing = decide(world, event, {"decision": "approve", "attempt": 2, "token": event["token"]})
    assert missing["decision"] == "invalid" and "no finished attempt 2" in missing["reason"]
    kept = decide(world, event, {"decision": "approve", "attempt": 1, "token": event["token"]})
    assert kept["decision"] == "approve" and kept["attempt"] == 1


# ---------------------------------------------------------------------------------------------- access


def test_the_owner_or_a_link_holder_and_nobody_else(world: World) -> None:
    _, event = open_first_gate(world)
    rid = event["request_id"]
    owner = access.authorize(world.stores, rid, Principal("ana", "local"))
    assert owner.is_owner and owner.gate is None
    link = access.authorize(world.stores, rid, None, event["gate_id"], event["token"])
    assert not link.is_owner and link.gate["gate_id"] == event["gate_id"]
    with pytest.raises(Forbidden):
        access.authorize(world.stores, rid, Principal("bob", "local"))
    with pytest.raises(Unauthenticated):
        access.authorize(world.stores, rid, None)
    other = world.request("Another story.", user="bob")
    with pytest.raises(Forbidden):  # a link of one request opens no other request
        access.authorize(world.stores, other["request_id"], None, event["gate_id"], event["token"])


# ---------------------------------------------------------------------------------------------- versions


def test_versions_are_listed_and_compared_by_field(world: World) -> None:
    request = world.request(STORY)
    rid = request["request_id"]
    run(world, 1, rid)
    run(world, 1, rid, attempt=2, feedback={"option": "more_serious", "intensity": 0.9, "text": "darker"})
    listed = versions.preview_versions(world.stores, {"request_id": rid, "phase": 1, "compare": [1, 2]})
    assert [v["attempt"] for v in listed["versions"]] == [1, 2]
    assert listed["comparison"]["changed"], "a modification that changed nothing"
    with pytest.raises(NotFound):
        versions.preview_versions(world.stores, {"request_id": rid, "phase": 1, "compare": [1, 3]})


def test_the_review_page_states_the_cost_so_far_and_the_budget(world: World) -> None:
    from mangaflow.review import model as review_model
    from mangaflow.service.review import cost_line

    request = world.request("Ivo painted the fence.")
    request = {**request, "options": {"provider": "vertex"}}
    calls = world.stores.model_calls
    calls.open_budget(request["request_id"], 2.0)
    for kind, status, usd in (("text", "ok", 0.0012), ("image", "ok", 0.0387), ("image", "cache", 0.0)):
        calls.record(request_id=request["request_id"], phase=5, attempt=1, operation="panel_image", kind=kind,
                     call_key=f"k-{kind}-{status}", provider="vertex", model="m", status=status, cost_usd=usd)
    line = cost_line(world.stores, request, review_model.WORDS["en"])
    assert line == ("cost so far $0.0399 at list price (vertex: 1 text and 1 image calls, 1 from the cache), "
                    "budget $2.00")
    assert "$0.0399" in cost_line(world.stores, request, review_model.WORDS["ja"])
