"""The CallScope every model call goes through: the seeded fault switch (deterministic by seed, on the offline
provider as on any other), deadlines (a late answer is recorded and never used), retries, the budget, and
the price table. Model calls are recorded in memory here; tests/ai runs the same against PostgreSQL."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest

from mangaflow.config import settings
from mangaflow.errors import ConfigError, UpstreamUnavailable
from mangaflow.phases import phase1_concept, phase2_characters, phase3_plot, phase4_name
from mangaflow.providers import CallScope, OfflineProvider
from mangaflow.providers import pricing
from mangaflow.providers.calls import BudgetExhausted, CallFailed, CallSpec, PermanentError, Reply, TransientError
from mangaflow.providers.faults import FaultSwitch
from mangaflow.providers.images import normalise, similarity
from mangaflow.providers.pricing import Usage
from mangaflow.stores.metering import MemoryModelCalls

STORY = ('Mika found a lantern by the river. "Is anyone there?" she asked. The old ferryman smiled. '
         '"Only the festival," he said, and pushed off into the dark water.')
RID = "r-00000000000000aa"


def scope(calls: MemoryModelCalls | None = None, **config: object) -> CallScope:
    base = {"model_backoff_s": 0.0, "fault_rate": 0.0}
    base.update(config)
    return CallScope(calls if calls is not None else MemoryModelCalls(), request_id=RID, phase=1, attempt=1,
                     config=replace(settings(), **base),
                     faults=FaultSwitch(float(base["fault_rate"]), int(base.get("fault_seed", 0)),
                                        tuple(base.get("fault_kinds", ("429", "500", "503", "timeout", "hang")))))


def text_phases(provider: OfflineProvider) -> dict:
    inputs: dict = {"text": STORY, "pages": 2}
    for key, module in (("concept", phase1_concept), ("characters", phase2_characters), ("plot", phase3_plot),
                        ("storyboard", phase4_name)):
        inputs[key] = module.run(inputs, None, provider)
        inputs[key].pop("processing_metadata")
    return inputs


def faults_recorded(calls: MemoryModelCalls) -> list[tuple[str, int, str | None]]:
    return [(r["call_key"], r["try_number"], r["fault"]) for r in calls.list(RID)]


def seed_where(kind: str, key: str, rate: float = 0.5, kinds: tuple[str, ...] = ()) -> int:
    """A seed under which the first try of `key` gets `kind` and the second none."""
    for seed in range(10_000):
        switch = FaultSwitch(rate, seed, kinds or (kind,))
        if switch.draw(f"{RID}|{key}", 0) == kind and switch.draw(f"{RID}|{key}", 1) is None:
            return seed
    raise AssertionError("no such seed")


# ---------------------------------------------------------------- the fault switch


def test_the_fault_switch_is_deterministic_by_seed_and_fails_the_share_it_is_given():
    keys = [f"r-{i:016x}|5/1/p0{i % 9}-1/panel_image/" for i in range(4000)]
    first = [FaultSwitch(0.2, 7).draw(k, n) for k in keys for n in range(5)]
    again = [FaultSwitch(0.2, 7).draw(k, n) for k in keys for n in range(5)]
    other = [FaultSwitch(0.2, 8).draw(k, n) for k in keys for n in range(5)]
    assert first == again and first != other
    failed = [f for f in first if f is not None]
    assert abs(len(failed) / len(first) - 0.2) < 0.01
    assert set(failed) == {"429", "500", "503", "timeout", "hang"}
    assert all(FaultSwitch(0.0, 7).draw(k, 0) is None for k in keys)


def test_the_offline_provider_takes_the_same_faults_for_the_same_seed_and_gives_the_same_book():
    clean = text_phases(OfflineProvider(scope()))
    runs = []
    for seed in (3, 3, 4):
        calls = MemoryModelCalls()
        out = text_phases(OfflineProvider(scope(calls, fault_rate=0.5, fault_seed=seed,
                                                fault_kinds=("429", "500", "503"))))
        assert out == clean  # every fault was retried away
        runs.append(faults_recorded(calls))
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert any(fault for _, _, fault in runs[0])
    assert [r for r in runs[0] if r[2] is None] == [(f"1/1/-/{op}/", n, None) for op, n in
                                                    [(k.split("/")[3], t) for k, t, f in runs[0] if f is None]]


# ---------------------------------------------------------------- deadlines and late answers


def test_a_try_that_misses_its_deadline_is_retried_and_its_late_answer_is_recorded_and_never_used():
    key = "1/1/-/concept/"
    calls = MemoryModelCalls()
    late = scope(calls, fault_rate=0.5, fault_seed=seed_where("timeout", key), fault_kinds=("timeout",),
                 text_deadline_s=0.3)
    answers = []

    def send() -> Reply:
        answers.append(uuid.uuid4().hex)
        return Reply(answers[-1], response_id=answers[-1])

    spec = CallSpec("concept", "text", "offline", "offline-rules")
    started = time.monotonic()
    outcome = late.call(spec, send)
    assert time.monotonic() - started < 1.0
    assert [r["status"] for r in calls.list(RID)] == ["timeout", "ok"]
    time.sleep(0.6)  # the first try answers now, after its deadline
    rows = calls.list(RID)
    assert [r["status"] for r in rows] == ["timeout", "ok", "late"]
    assert rows[2]["try_number"] == 0 and rows[2]["response_id"] != outcome.reply.response_id
    assert outcome.reply.value == rows[1]["response_id"] and len(answers) == 2
    assert calls.tries(RID, key) == 2  # a late answer is the same try, not another


def test_a_hung_try_is_abandoned_at_its_deadline_and_released_when_the_phase_call_ends():
    key = "1/1/-/concept/"
    hung = scope(fault_rate=0.5, fault_seed=seed_where("hang", key), fault_kinds=("hang",), text_deadline_s=0.2)
    before = threading.active_count()
    outcome = hung.call(CallSpec("concept", "text", "offline", "offline-rules"), lambda: Reply("fine"))
    assert outcome.reply.value == "fine"
    assert threading.active_count() == before + 1  # the hung try still waits
    hung.close()
    time.sleep(0.2)
    assert threading.active_count() == before


def test_the_phase_calls_time_for_model_calls_runs_out_with_a_clear_error():
    short = CallScope(MemoryModelCalls(), request_id=RID, phase=1, attempt=1, deadline_s=0.4,
                      config=replace(settings(), model_backoff_s=0.3, model_retries=10), faults=FaultSwitch())

    def failing() -> Reply:
        raise TransientError(503, "UNAVAILABLE")

    with pytest.raises(CallFailed, match="ran out") as caught:
        short.call(CallSpec("plot", "text", "vertex", "gemini-2.5-flash"), failing)
    assert caught.value.status == 503


def test_a_refusal_is_not_retried():
    calls = MemoryModelCalls()

    def refused() -> Reply:
        raise PermanentError(403, "PERMISSION_DENIED")

    with pytest.raises(UpstreamUnavailable) as caught:
        scope(calls).call(CallSpec("plot", "text", "vertex", "gemini-2.5-flash"), refused)
    assert caught.value.status == 502 and len(calls.list(RID)) == 1


# ---------------------------------------------------------------- the budget


def test_a_call_that_could_pass_the_budget_is_not_made_and_the_model_stays_stopped():
    calls = MemoryModelCalls()
    calls.open_budget(RID, 0.05)
    spend = scope(calls)
    image = CallSpec("panel_image", "image", "vertex", "gemini-2.5-flash-image", most=Usage(500, 100, 1290))
    first = spend.call(image, lambda: Reply(b"png", usage=Usage(480, 0, 1290)))
    assert first.cost_usd == pytest.approx((480 * 0.30 + 1290 * 30.0) / 1e6)
    sent = []
    with pytest.raises(BudgetExhausted, match=r"\$0\.05"):
        spend.call(image, lambda: sent.append(1) or Reply(b"png"))
    assert sent == []
    cheap = CallSpec("plot", "text", "vertex", "gemini-2.5-flash", most=Usage(10, 10, 0))
    with pytest.raises(BudgetExhausted):  # stopped: even a call that would fit is not made
        spend.call(cheap, lambda: Reply({}))
    ledger = calls.budget(RID)
    assert ledger["spent_usd"] <= 0.05 and ledger["reserved_usd"] == pytest.approx(0) and ledger["stopped_at"]
    assert [r["status"] for r in calls.list(RID)] == ["ok", "budget", "budget"]


def test_concurrent_reservations_never_pass_the_budget():
    calls = MemoryModelCalls()
    calls.open_budget(RID, 0.1)
    granted = []
    threads = [threading.Thread(target=lambda: granted.append(calls.reserve(RID, 0.01, "test"))) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 10


# ---------------------------------------------------------------- prices


def test_usage_is_read_from_usage_metadata_and_priced_from_the_one_table():
    metadata = {"promptTokenCount": 1000, "candidatesTokenCount": 1340, "thoughtsTokenCount": 20,
                "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 50},
                                            {"modality": "IMAGE", "tokenCount": 1290}]}
    usage = pricing.usage_of(metadata)
    assert usage == Usage(input=1000, output=70, image=1290)
    assert pricing.cost_usd("gemini-2.5-flash-image", usage) == pytest.approx((1000 * 0.3 + 70 * 2.5 + 1290 * 30) / 1e6)
    assert pricing.cost_usd("offline-rules", usage) == 0
    table = pricing.table()
    assert table["as_of"] and table["sources"][0]["page"].startswith("Vertex AI generative AI pricing")
    with pytest.raises(ConfigError, match="prices.json"):
        pricing.price_of("gemini-9-ultra")
    assert pricing.image_input_tokens(300, 300) == 258 and pricing.image_input_tokens(768, 1152) == 516


# ---------------------------------------------------------------- near prompts


def test_near_prompts_are_at_least_085_alike_and_different_ones_are_not():
    prompt = ("Draw one manga panel, black ink line art. Wide shot of the rooftop garden at dusk: Moss the old "
              "robot waters the tomatoes while Ines watches from the railing.")
    assert similarity(normalise(prompt), normalise(prompt.replace("dusk", "sunset").upper() + "!!")) >= 0.85
    assert similarity(normalise(prompt), normalise("Close-up of a crying child in the rain at night.")) < 0.85
    ja = "雨の夜、祭りの広場。ミカが灯籠を見上げている。渡し守が舟を出す。"
    assert similarity(normalise(ja), normalise(ja.replace("見上げている", "見上げた"))) >= 0.85


def test_a_try_that_finds_no_slot_in_time_fails_the_call():
    from mangaflow.providers.calls import ModelSlots

    class AllTaken:  # someone else holds every slot
        asked = 0

        def take_model_slot(self, request_id: str, limit: int, hold_s: float) -> None:
            self.asked += 1

    admission = AllTaken()
    calls = scope(phase_call_deadline_s=1.0)
    calls.slots = ModelSlots(admission, RID, 1)
    with pytest.raises(CallFailed, match="no model slot came free"):
        calls.call(CallSpec("concept", "text", "offline", "offline-rules"), lambda: Reply({"ok": True}))
    assert admission.asked > 10  # it kept looking until the call's time ran out


def test_the_slot_is_given_back_before_the_try_is_recorded():
    """The slot is held while the model is waited on, not while the try is settled and recorded (database
    writes): when the row is written, the slot is already free for another call."""
    from mangaflow.providers.calls import ModelSlots

    class OneSlot:
        def __init__(self) -> None:
            self.held: set[str] = set()
            self.events: list[str] = []
            self.freed_at: list[float] = []

        def take_model_slot(self, request_id: str, limit: int, hold_s: float) -> str | None:
            if len(self.held) >= limit:
                return None
            token = uuid.uuid4().hex
            self.held.add(token)
            self.events.append("taken")
            return token

        def free_model_slot(self, request_id: str, token: str) -> None:
            self.held.discard(token)
            self.events.append("freed")
            self.freed_at.append(time.time())

    class Watched(MemoryModelCalls):
        def record(self, **fields: object) -> dict:
            admission.events.append(f"recorded with {len(admission.held)} held")
            return super().record(**fields)

    admission = OneSlot()
    calls = scope(Watched())
    calls.slots = ModelSlots(admission, RID, 1)
    for item in ("a", "b"):
        assert calls.call(CallSpec("concept", "text", "offline", "offline-rules", item=item),
                          lambda: Reply({"ok": True})).reply.value == {"ok": True}
    assert admission.events == ["taken", "freed", "recorded with 0 held"] * 2 and not admission.held
    # Each row's time is when its wait ended, before the slot was given back (not when it was written).
    from datetime import datetime

    ended = [datetime.fromisoformat(r["created_at"]).timestamp() for r in calls.model_calls.list(RID)]
    assert len(ended) == 2 and all(e <= f for e, f in zip(ended, admission.freed_at))


def test_a_slot_store_that_is_down_never_stops_the_call(monkeypatch):
    """Redis down: the try goes ahead without a slot, and for a while the process does not ask again."""
    from mangaflow.errors import StoreUnavailable
    from mangaflow.providers.calls import ModelSlots

    class Down:
        asked = 0

        def take_model_slot(self, request_id: str, limit: int, hold_s: float) -> None:
            self.asked += 1
            raise StoreUnavailable("Redis", "redis://127.0.0.1:1")

    monkeypatch.setattr(ModelSlots, "_down_until", 0.0)
    admission = Down()
    for item in ("a", "b"):
        calls = scope()
        calls.slots = ModelSlots(admission, RID, 1)
        assert calls.call(CallSpec("concept", "text", "offline", "offline-rules", item=item),
                          lambda: Reply({"ok": True})).reply.value == {"ok": True}
    assert admission.asked == 1
