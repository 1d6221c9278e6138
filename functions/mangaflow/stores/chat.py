"""Chat about a phase in Firestore: `chat_sessions`, `chat_messages` and `chat_intents` with the
fields of the infrastructure design (5.3, Chat Infrastructure)."""

from __future__ import annotations

import datetime as _dt
import os
import threading
import uuid
from typing import Any

from google.api_core import exceptions as gexc

from mangaflow.config import Settings, settings
from mangaflow.stores._process_wide import ProcessWide
from mangaflow.errors import StoreValueError
from mangaflow.stores._retry import StoreUnavailable, with_retry

# Seconds per RPC; the library's own retries are off so with_retry() decides and names Firestore.
_TIMEOUT = 10.0
MESSAGE_TYPES = ("text", "quick_action", "system")
MAX_MESSAGE_BYTES = 10 * 1024  # "Max Message Size: 10KB"


class InvalidChatValue(StoreValueError):
    """A chat value is out of bounds; the message names the field and the limit."""


def _is_transient(err: BaseException) -> bool:
    return isinstance(err, (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
                            gexc.RetryError, gexc.Aborted, ConnectionError))


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    """Firestore timestamps as ISO strings so results are JSON-friendly."""
    return {k: (v.isoformat() if isinstance(v, _dt.datetime) else v) for k, v in doc.items()}


class ChatStore:
    """One Firestore client per process, created on first use (FIRESTORE_EMULATOR_HOST locally)."""

    def __init__(self, config: Settings | None = None, retry_deadline_s: float = 20.0) -> None:
        self._config = config or settings()
        self.retry_deadline_s = retry_deadline_s
        self._client: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                from google.cloud import firestore

                # The library reads FIRESTORE_EMULATOR_HOST once, in the constructor, to pick the
                # emulator (insecure channel, no credentials); set it just for that moment.
                host = self._config.firestore_emulator_host
                previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
                if host:
                    os.environ["FIRESTORE_EMULATOR_HOST"] = host
                else:
                    os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
                try:
                    self._client = firestore.Client(project=self._config.google_cloud_project)
                finally:
                    if previous is None:
                        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
                    else:
                        os.environ["FIRESTORE_EMULATOR_HOST"] = previous
                self._pid = os.getpid()
            return self._client

    def _call(self, operation: Any) -> Any:
        return with_retry(
            operation, is_transient=_is_transient, service="Firestore",
            where=lambda: self._config.firestore_emulator_host or "Firestore", deadline_s=self.retry_deadline_s,
        )

    def open_session(self, request_id: str, user_id: str, *, session_id: str | None = None) -> dict[str, Any]:
        """Creates a chat session for a request (or returns the one with this session_id)."""
        if not request_id or not user_id:
            raise InvalidChatValue("request_id and user_id must not be empty")
        sid = session_id or f"cs-{uuid.uuid4().hex[:16]}"
        ref = self.client.collection("chat_sessions").document(sid)

        def op() -> dict[str, Any]:
            snap = ref.get(retry=None, timeout=_TIMEOUT)
            if snap.exists:
                return _plain(snap.to_dict())
            now = _now()
            doc = {"session_id": sid, "request_id": request_id, "user_id": user_id,
                   "created_at": now, "last_activity": now}
            ref.set(doc, retry=None, timeout=_TIMEOUT)
            return _plain(doc)

        return self._call(op)

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        snap = self._call(lambda: self.client.collection("chat_sessions").document(session_id).get(retry=None, timeout=_TIMEOUT))
        return _plain(snap.to_dict()) if snap.exists else None

    def add_message(
        self,
        session_id: str,
        phase: int,
        content: str,
        *,
        message_type: str = "text",
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """Stores a message about a phase (processed=False) and renews the session's last_activity.
        A retried call with the same message_id overwrites the same document, never a second one."""
        if not isinstance(phase, int) or not 1 <= phase <= 7:
            raise InvalidChatValue(f"phase must be an integer 1..7, got {phase!r}")
        if message_type not in MESSAGE_TYPES:
            raise InvalidChatValue(f"message_type must be one of {', '.join(MESSAGE_TYPES)}, got {message_type!r}")
        size = len(content.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise InvalidChatValue(f"content must be at most {MAX_MESSAGE_BYTES} bytes, got {size}")
        mid = message_id or f"cm-{uuid.uuid4().hex[:16]}"
        now = _now()
        doc = {"message_id": mid, "session_id": session_id, "phase": phase, "content": content,
               "message_type": message_type, "created_at": now, "processed": False}

        def op() -> None:
            batch = self.client.batch()
            batch.set(self.client.collection("chat_messages").document(mid), doc)
            batch.set(self.client.collection("chat_sessions").document(session_id), {"last_activity": now}, merge=True)
            batch.commit(retry=None, timeout=_TIMEOUT)

        self._call(op)
        return _plain(doc)

    def list_messages(self, session_id: str, phase: int | None = None) -> list[dict[str, Any]]:
        """The session's messages, oldest first (optionally only those about one phase)."""
        from google.cloud import firestore

        def op() -> list[dict[str, Any]]:
            query = self.client.collection("chat_messages").where(
                filter=firestore.FieldFilter("session_id", "==", session_id)
            )
            docs = [d.to_dict() for d in query.stream(retry=None, timeout=_TIMEOUT)]
            docs.sort(key=lambda d: (d["created_at"], d["message_id"]))
            return [_plain(d) for d in docs if phase is None or d["phase"] == phase]

        return self._call(op)

    def record_intent(
        self,
        message_id: str,
        parsed_intent: dict[str, Any],
        confidence_score: float,
        *,
        applied: bool = False,
        intent_id: str | None = None,
    ) -> dict[str, Any]:
        """Stores the intent parsed from a message with its confidence and marks the message processed."""
        if not 0.0 <= float(confidence_score) <= 1.0:
            raise InvalidChatValue(f"confidence_score must be between 0.0 and 1.0, got {confidence_score!r}")
        iid = intent_id or f"ci-{message_id}"
        doc = {"intent_id": iid, "message_id": message_id, "parsed_intent": parsed_intent,
               "confidence_score": float(confidence_score), "applied": applied}

        def op() -> None:
            batch = self.client.batch()
            batch.set(self.client.collection("chat_intents").document(iid), doc)
            batch.set(self.client.collection("chat_messages").document(message_id), {"processed": True}, merge=True)
            batch.commit(retry=None, timeout=_TIMEOUT)

        self._call(op)
        return dict(doc)

    def mark_intent_applied(self, intent_id: str) -> None:
        self._call(
            lambda: self.client.collection("chat_intents").document(intent_id).set(
                {"applied": True}, merge=True, retry=None, timeout=_TIMEOUT
            )
        )

    def get_intent(self, intent_id: str) -> dict[str, Any] | None:
        snap = self._call(lambda: self.client.collection("chat_intents").document(intent_id).get(retry=None, timeout=_TIMEOUT))
        return _plain(snap.to_dict()) if snap.exists else None

    def intents_for_message(self, message_id: str) -> list[dict[str, Any]]:
        from google.cloud import firestore

        def op() -> list[dict[str, Any]]:
            query = self.client.collection("chat_intents").where(
                filter=firestore.FieldFilter("message_id", "==", message_id)
            )
            return [_plain(d.to_dict()) for d in query.stream(retry=None, timeout=_TIMEOUT)]

        return self._call(op)


# The process-wide ChatStore (lazily created from settings()). `reset_chat_store()` forgets it after the environment changed (tests).
chat_store = ProcessWide(ChatStore)
reset_chat_store = chat_store.reset

__all__ = ["ChatStore", "InvalidChatValue", "StoreUnavailable", "chat_store", "reset_chat_store"]
