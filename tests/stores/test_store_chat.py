"""Firestore chat collections against the real local emulator."""

from __future__ import annotations

import uuid

import pytest

from mangaflow.stores import chat


def test_chat_session_messages_and_intents_round_trip(services: dict) -> None:
    store = chat.chat_store()
    rid = f"r-{uuid.uuid4().hex[:8]}"
    session = store.open_session(rid, "u-1")
    assert {"session_id", "request_id", "user_id", "created_at", "last_activity"} <= set(session)
    assert store.open_session(rid, "u-1", session_id=session["session_id"]) == session
    m1 = store.add_message(session["session_id"], 1, "もっと明るい雰囲気にして")
    m2 = store.add_message(session["session_id"], 4, "panel_layout", message_type="quick_action")
    listed = store.list_messages(session["session_id"])
    assert [m["message_id"] for m in listed] == [m1["message_id"], m2["message_id"]]
    assert listed[0]["content"] == "もっと明るい雰囲気にして" and listed[0]["processed"] is False
    assert [m["phase"] for m in store.list_messages(session["session_id"], phase=4)] == [4]
    intent = store.record_intent(m1["message_id"], {"target": "tone", "direction": "brighter"}, 0.86)
    assert store.get_intent(intent["intent_id"])["confidence_score"] == 0.86
    assert store.list_messages(session["session_id"], phase=1)[0]["processed"] is True
    store.mark_intent_applied(intent["intent_id"])
    assert store.intents_for_message(m1["message_id"])[0]["applied"] is True
    assert store.get_session(session["session_id"])["last_activity"] >= session["last_activity"]


def test_chat_limits_are_named(services: dict) -> None:
    store = chat.chat_store()
    with pytest.raises(chat.InvalidChatValue, match="content must be at most 10240 bytes"):
        store.add_message("s", 1, "あ" * 4000)
    with pytest.raises(chat.InvalidChatValue, match="message_type"):
        store.add_message("s", 1, "x", message_type="voice")
    with pytest.raises(chat.InvalidChatValue, match="confidence_score"):
        store.record_intent("m", {}, 1.2)


def test_unreachable_firestore_names_it(services: dict) -> None:
    import os
    import socket

    from mangaflow.config import Settings
    from mangaflow.stores._retry import StoreUnavailable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    running = os.environ["FIRESTORE_EMULATOR_HOST"]
    store = chat.ChatStore(Settings(firestore_emulator_host=f"127.0.0.1:{port}"), retry_deadline_s=0.3)
    with pytest.raises(StoreUnavailable, match="Firestore .*mangaflow services up"):
        store.open_session("r", "u")
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == running  # the process environment is untouched
