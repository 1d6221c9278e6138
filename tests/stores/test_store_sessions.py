"""Redis key patterns against the real local Valkey: sessions, progress, rate limit, idempotency."""

from __future__ import annotations

import time
import uuid

import pytest

from mangaflow.config import Settings
from mangaflow.stores import sessions as ss
from mangaflow.stores._retry import StoreUnavailable


@pytest.fixture()
def store(services: dict) -> ss.SessionStore:
    return ss.session_store()


def _rid() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


def test_session_hash_fields_and_ttl_renewed_on_activity(store: ss.SessionStore) -> None:
    rid = _rid()
    deadline = time.time() + 1800
    session = store.open_session(rid, "u-7", current_phase=1, feedback_timeout=deadline)
    raw = store.client.hgetall(f"session:{rid}")
    assert {"user_id", "current_phase", "feedback_timeout", "session_start", "last_activity"} <= set(raw)
    assert session["user_id"] == "u-7" and session["current_phase"] == 1
    assert session["feedback_timeout"] == pytest.approx(deadline)
    assert 3590 <= store.session_ttl(rid) <= 3600
    store.client.expire(f"session:{rid}", 10)
    assert store.touch_session(rid) is True
    assert store.session_ttl(rid) > 3590
    updated = store.update_session(rid, current_phase=3, phase_result=(2, {"score": 0.81, "uri": "gs://b/2.json"}))
    assert updated["current_phase"] == 3 and updated["phase_results"] == {2: {"score": 0.81, "uri": "gs://b/2.json"}}
    assert updated["session_start"] == session["session_start"]
    store.close_session(rid)
    assert store.get_session(rid) is None
    assert store.touch_session(rid) is False
    assert store.client.exists(f"session:{rid}") == 0  # touching a gone session does not recreate it
    with pytest.raises(KeyError, match=f"session:{rid}"):
        store.update_session(rid, current_phase=2)
    with pytest.raises(ss.InvalidSessionValue, match="current_phase"):
        store.open_session(rid, "u", current_phase=9)


def test_progress_is_published_and_kept_for_late_readers(store: ss.SessionStore) -> None:
    rid = _rid()
    live = store.subscribe_progress(rid)
    ids = [store.publish_progress(rid, {"phase": p, "status": "completed", "percent": p * 14}) for p in (1, 2, 3)]
    received = []
    deadline = time.monotonic() + 5
    while len(received) < 3 and time.monotonic() < deadline:
        message = live.get_message(timeout=1.0)
        if message:
            received.append(message["data"])
    live.close()
    assert len(received) == 3 and '"phase": 1' in received[0]
    late = store.read_progress(rid)  # a reader that arrives after everything was published
    assert [e["phase"] for _, e in late] == [1, 2, 3] and [i for i, _ in late] == ids
    assert store.read_progress(rid, ids[1]) == late[2:]
    store.publish_progress(rid, {"phase": 7, "status": "completed"})
    assert [e["phase"] for e in store.follow_progress(rid, block_ms=100)] == [1, 2, 3, 7]


def test_progress_log_is_capped(store: ss.SessionStore) -> None:
    rid = _rid()
    pipe = store.client.pipeline(transaction=False)
    for i in range(ss.PROGRESS_MAXLEN + 5):
        pipe.xadd(f"phase_progress:{rid}", {"event": f'{{"i": {i}}}'})
    pipe.execute()
    store.publish_progress(rid, {"phase": 1, "status": "running"})
    assert store.client.xlen(f"phase_progress:{rid}") == ss.PROGRESS_MAXLEN


def test_rate_limit_denies_the_1001st_request_in_a_minute(store: ss.SessionStore) -> None:
    address = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:4]}"
    answers = [store.check_rate(address) for _ in range(1000)]
    assert all(a.allowed for a in answers) and answers[-1].count == 1000
    denied = store.check_rate(address)
    assert not denied.allowed and denied.reason == "rate_limited" and denied.limit == 1000
    assert 0 < denied.retry_after_s <= 60
    assert store.check_rate(address + "-other").allowed  # per client address


def test_rate_limit_window_slides(store: ss.SessionStore) -> None:
    address = f"slide-{uuid.uuid4().hex[:8]}"
    assert all(store.admit(address, limit_per_minute=3, window_ms=400).allowed for _ in range(3))
    assert not store.admit(address, limit_per_minute=3, window_ms=400).allowed
    time.sleep(0.45)
    assert store.admit(address, limit_per_minute=3, window_ms=400).allowed


def test_concurrent_requests_per_user(store: ss.SessionStore) -> None:
    user, address = f"u-{uuid.uuid4().hex[:8]}", f"a-{uuid.uuid4().hex[:8]}"
    rids = [_rid() for _ in range(4)]
    first_three = [store.admit(address, user_id=user, request_id=r) for r in rids[:3]]
    assert all(a.allowed for a in first_three) and first_three[-1].active == 3
    fourth = store.admit(address, user_id=user, request_id=rids[3])
    assert not fourth.allowed and fourth.reason == "too_many_concurrent"
    assert store.admit(address, user_id=user, request_id=rids[0]).allowed  # same request again: idempotent
    assert store.release(user, rids[0]) is True
    assert store.release(user, rids[0]) is False
    assert store.admit(address, user_id=user, request_id=rids[3]).allowed
    assert sorted(store.active_requests(user)) == sorted(rids[1:])
    with pytest.raises(ss.InvalidSessionValue, match="request_id"):
        store.admit(address, user_id=user)


def test_idempotency_key_returns_the_stored_response(store: ss.SessionStore) -> None:
    key = f"start-{uuid.uuid4().hex}"
    first = store.claim(key)
    assert first.claimed
    second = store.claim(key)
    assert not second.claimed and second.in_progress
    store.store_response(first, {"execution": "e-1", "request_id": "r-1"})
    third = store.claim(key)
    assert third.response == {"execution": "e-1", "request_id": "r-1"} and not third.in_progress
    assert 0 < store.client.ttl(f"idem:{key}") <= ss.IDEMPOTENCY_TTL_S
    other = store.claim(key + "-b")
    store.abandon(other)
    assert store.claim(key + "-b").claimed  # given back after a failure
    with pytest.raises(ss.InvalidSessionValue, match="not claimed"):
        store.store_response(second, {})


def test_unreachable_redis_names_it(services: dict) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = ss.SessionStore(Settings(redis_url=f"redis://127.0.0.1:{port}/0"), retry_deadline_s=0.3)
    with pytest.raises(StoreUnavailable, match="Redis .*mangaflow services up"):
        store.check_rate("1.2.3.4")


def test_model_slots_hold_a_request_to_its_limit_and_free_themselves(store: ss.SessionStore) -> None:
    rid = _rid()
    first, second = store.take_model_slot(rid, 2, 30), store.take_model_slot(rid, 2, 30)
    assert first and second and first != second
    assert store.take_model_slot(rid, 2, 30) is None  # both taken
    assert store.take_model_slot(_rid(), 2, 30) is not None  # another request's slots are its own
    store.free_model_slot(rid, first)
    third = store.take_model_slot(rid, 2, 30)
    assert third is not None and store.take_model_slot(rid, 2, 30) is None
    # A slot never given back (its process died) frees itself after its hold time.
    other = _rid()
    assert store.take_model_slot(other, 1, 0.2) is not None
    assert store.take_model_slot(other, 1, 0.2) is None
    time.sleep(0.3)
    assert store.take_model_slot(other, 1, 0.2) is not None
    assert 0 < store.client.pttl(f"model_slots:{other}") <= 61_000


def test_model_slots_bound_the_calls_in_flight_across_scopes(store: ss.SessionStore) -> None:
    """Six phase calls (each its own scope, as in six panel calls) on the real Redis slots with a limit of 2:
    never more than 2 model calls at once, and each slot is given back when its try ends."""
    import threading
    from dataclasses import replace

    from mangaflow.config import settings
    from mangaflow.providers.calls import CallScope, CallSpec, ModelSlots, Reply
    from mangaflow.stores.metering import MemoryModelCalls

    request_id = f"r-{uuid.uuid4().hex[:16]}"
    admission = store
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def send() -> Reply:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply({"ok": True})

    def one(n: int) -> None:
        calls = CallScope(MemoryModelCalls(), request_id=request_id, phase=5, attempt=1, panel_id=f"p01-{n}",
                          config=replace(settings(), model_backoff_s=0.0, fault_rate=0.0),
                          slots=ModelSlots(admission, request_id, 2))
        calls.call(CallSpec("concept", "text", "offline", "offline-rules", item=str(n)), send)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert state["most"] == 2 and state["now"] == 0
    assert admission.client.zcard(f"model_slots:{request_id}") == 0


def test_a_slot_given_back_wakes_a_waiter_in_the_process(store: ss.SessionStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A try waiting for a model slot is woken when another thread of the process gives one back, not at its
    next look: with the look for slots freed elsewhere set to once a minute, the waiter still gets the slot
    freed here, after exactly one more look."""
    import threading

    from mangaflow.providers.calls import ModelSlots

    monkeypatch.setattr(ModelSlots, "POLL_S", 60.0)
    request_id = _rid()
    looks: list[bool] = []
    take = store.take_model_slot

    def counted(rid: str, limit: int, hold_s: float) -> str | None:
        token = take(rid, limit, hold_s)
        looks.append(token is not None)
        return token

    monkeypatch.setattr(store, "take_model_slot", counted)
    slots = ModelSlots(store, request_id, 1)
    give_back = slots.hold(30.0, 1.0)
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (slots.hold(30.0, 120.0)(), got.set()), daemon=True)
    waiter.start()
    while len(looks) < 2:  # the waiter looked once and found none
        time.sleep(0.01)
    give_back()
    waiter.join(30)
    assert got.is_set() and looks == [True, False, True]
