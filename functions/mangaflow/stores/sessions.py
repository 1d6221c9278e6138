"""Redis (Memorystore locally: Valkey) state: HITL sessions `session:{request_id}`, progress events on
`phase_progress:{request_id}`, the rate limiter and per-user concurrency, and idempotency keys."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import redis
import redis.exceptions

from mangaflow.config import Settings, settings
from mangaflow.stores._process_wide import ProcessWide
from mangaflow.errors import StoreValueError
from mangaflow.stores._retry import StoreUnavailable, with_retry

SESSION_TTL_S = 3600  # one hour after the last activity (infrastructure design 5.3)
PROGRESS_MAXLEN = 1000  # events kept per request for late readers
PROGRESS_TTL_S = 24 * 3600
RATE_WINDOW_MS = 60_000
CONCURRENCY_LEASE_S = 6 * 3600  # a crashed worker's slot frees itself after this
IDEMPOTENCY_TTL_S = 24 * 3600


class InvalidSessionValue(StoreValueError):
    """A value passed to the session store is out of bounds; the message names the field."""


def _is_transient(err: BaseException) -> bool:
    return isinstance(
        err, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError)
    ) or (isinstance(err, redis.exceptions.ResponseError) and str(err).startswith("LOADING"))


class SessionStore:
    """One redis client (and its small connection pool) per process; every call is retried with
    back-off on connection errors until `retry_deadline_s`."""

    def __init__(self, config: Settings | None = None, retry_deadline_s: float = 20.0) -> None:
        self._config = config or settings()
        self.retry_deadline_s = retry_deadline_s
        self._client: redis.Redis | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._admit_script: Any = None

    def where(self) -> str:
        return self._config.redis_url or "REDIS_URL (unset)"

    @property
    def client(self) -> redis.Redis:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                if not self._config.redis_url:
                    raise StoreUnavailable("Redis", "REDIS_URL (unset)")
                self._client = redis.Redis.from_url(
                    self._config.redis_url,
                    decode_responses=True,
                    socket_connect_timeout=2,
                    socket_timeout=5,
                    health_check_interval=30,
                    retry_on_timeout=False,
                )
                self._pid = os.getpid()
                self._admit_script = self._client.register_script(_ADMIT_LUA)
            return self._client

    def _reset(self, _err: BaseException) -> None:
        # Drop pooled sockets that point at a dead server; the pool reconnects on next use.
        with self._lock:
            if self._client is not None:
                self._client.connection_pool.disconnect()

    def call(self, operation: Any) -> Any:
        """Runs `operation(client)` with retries; only for operations safe to repeat."""
        return with_retry(
            lambda: operation(self.client),
            is_transient=_is_transient,
            on_retry=self._reset,
            service="Redis",
            where=self.where,
            deadline_s=self.retry_deadline_s,
        )

    # -- HITL sessions -----------------------------------------------------------------------

    def open_session(
        self, request_id: str, user_id: str, *, current_phase: int = 1, feedback_timeout: float | None = None
    ) -> dict[str, Any]:
        """Creates (or refreshes) `session:{request_id}`: user, current phase, feedback deadline
        (epoch seconds), session start; TTL one hour, renewed on each activity."""
        if not request_id or not user_id:
            raise InvalidSessionValue("request_id and user_id must not be empty")
        now = time.time()
        key = f"session:{request_id}"

        def op(c: redis.Redis) -> None:
            pipe = c.pipeline(transaction=True)
            pipe.hsetnx(key, "session_start", repr(now))
            pipe.hset(
                key,
                mapping={
                    "user_id": user_id,
                    "current_phase": str(_phase(current_phase)),
                    "feedback_timeout": repr(feedback_timeout) if feedback_timeout is not None else "",
                    "last_activity": repr(now),
                },
            )
            pipe.expire(key, SESSION_TTL_S)
            pipe.execute()

        self.call(op)
        return self.get_session(request_id) or {}

    def update_session(
        self,
        request_id: str,
        *,
        current_phase: int | None = None,
        feedback_timeout: float | None = None,
        phase_result: tuple[int, Any] | None = None,
    ) -> dict[str, Any]:
        """Sets the given fields and renews the TTL; `phase_result=(phase, result)` stores the
        result of one phase. KeyError when the session expired or never existed."""
        key = f"session:{request_id}"
        fields: dict[str, str] = {"last_activity": repr(time.time())}
        if current_phase is not None:
            fields["current_phase"] = str(_phase(current_phase))
        if feedback_timeout is not None:
            fields["feedback_timeout"] = repr(feedback_timeout)
        if phase_result is not None:
            fields[f"phase_result:{_phase(phase_result[0])}"] = json.dumps(phase_result[1], ensure_ascii=False)

        flat = [item for pair in fields.items() for item in pair]

        def op(c: redis.Redis) -> int:
            # Set only if the session still exists: an expired session is not resurrected as a fragment.
            return int(c.eval(_UPDATE_IF_EXISTS_LUA, 1, key, SESSION_TTL_S, *flat))

        if not self.call(op):
            raise KeyError(f"session:{request_id} not found (expired after {SESSION_TTL_S} s or never opened)")
        return self.get_session(request_id) or {}

    def touch_session(self, request_id: str) -> bool:
        """Records activity: renews the one-hour TTL. False when the session is gone."""
        key = f"session:{request_id}"

        def op(c: redis.Redis) -> int:
            return int(c.eval(_UPDATE_IF_EXISTS_LUA, 1, key, SESSION_TTL_S, "last_activity", repr(time.time())))

        return bool(self.call(op))

    def get_session(self, request_id: str) -> dict[str, Any] | None:
        """The session as a dict (phase_results keyed by phase number), or None."""
        raw = self.call(lambda c: c.hgetall(f"session:{request_id}"))
        if not raw:
            return None
        results = {
            int(name.split(":", 1)[1]): json.loads(value) for name, value in raw.items() if name.startswith("phase_result:")
        }
        return {
            "request_id": request_id,
            "user_id": raw.get("user_id"),
            "current_phase": int(raw["current_phase"]) if raw.get("current_phase") else None,
            "feedback_timeout": float(raw["feedback_timeout"]) if raw.get("feedback_timeout") else None,
            "session_start": float(raw["session_start"]) if raw.get("session_start") else None,
            "last_activity": float(raw["last_activity"]) if raw.get("last_activity") else None,
            "phase_results": results,
        }

    def session_ttl(self, request_id: str) -> int:
        """Seconds left before the session expires (-2 when it is gone)."""
        return int(self.call(lambda c: c.ttl(f"session:{request_id}")))

    def close_session(self, request_id: str) -> None:
        self.call(lambda c: c.delete(f"session:{request_id}"))

    # -- progress ----------------------------------------------------------------------------

    def publish_progress(self, request_id: str, event: dict[str, Any]) -> str:
        """Publishes an event on the pub/sub channel `phase_progress:{request_id}` and appends it
        to the capped stream of the same name, so a reader that arrives late can catch up.
        Returns the stream id."""
        payload = json.dumps({"ts": time.time(), **event}, ensure_ascii=False)
        key = f"phase_progress:{request_id}"

        def op(c: redis.Redis) -> str:
            pipe = c.pipeline(transaction=True)
            pipe.xadd(key, {"event": payload}, maxlen=PROGRESS_MAXLEN, approximate=False)
            pipe.expire(key, PROGRESS_TTL_S)
            pipe.publish(key, payload)
            return pipe.execute()[0]

        return str(self.call(op))

    def read_progress(
        self, request_id: str, after_id: str = "0", *, block_ms: int | None = None, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """Events after `after_id` ("0" = from the start), oldest first; with block_ms waits that
        long for new ones. Pass the last id returned to continue."""
        key = f"phase_progress:{request_id}"
        answer = self.call(lambda c: c.xread({key: after_id}, count=count, block=block_ms))
        events: list[tuple[str, dict[str, Any]]] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                events.append((entry_id, json.loads(fields["event"])))
        return events

    def follow_progress(self, request_id: str, *, block_ms: int = 1000) -> Iterator[dict[str, Any]]:
        """Every event from the first, then new ones as they come; stops after an event whose
        status is 'completed' or 'failed' (the CLI's progress bars use this)."""
        last = "0"
        while True:
            for last, event in self.read_progress(request_id, last, block_ms=block_ms):
                yield event
                if event.get("status") in ("completed", "failed") and event.get("phase") in (None, 7, "pipeline"):
                    return

    def subscribe_progress(self, request_id: str) -> redis.client.PubSub:
        """A pub/sub subscription on `phase_progress:{request_id}` (live events only)."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(f"phase_progress:{request_id}")
        return pubsub

    # -- rate limit and concurrency -------------------------------------------------------------

    def admit(
        self,
        client_address: str,
        *,
        user_id: str | None = None,
        request_id: str | None = None,
        limit_per_minute: int | None = None,
        max_concurrent: int | None = None,
        lease_s: int = CONCURRENCY_LEASE_S,
        window_ms: int = RATE_WINDOW_MS,
    ) -> "Admission":
        """One atomic decision: the client address is under its requests-per-minute limit
        (a sliding 60 s log) and, when user_id and request_id are given, the user holds fewer
        than `max_concurrent` running requests — then the request is counted and its slot taken.
        Taking the slot again for the same request_id is idempotent (it renews the lease)."""
        if not client_address:
            raise InvalidSessionValue("client_address must not be empty")
        if window_ms < 1:
            raise InvalidSessionValue(f"window_ms must be >= 1, got {window_ms}")
        if (user_id is None) != (request_id is None):
            raise InvalidSessionValue("user_id and request_id must be given together")
        limit = limit_per_minute or self._config.rate_limit_per_minute
        concurrent = max_concurrent or self._config.max_concurrent_requests_per_user
        member = uuid.uuid4().hex
        keys = [f"ratelimit:{client_address}", f"concurrency:{user_id or ''}"]
        args = [limit, window_ms, member, concurrent, request_id or "", lease_s * 1000]
        _ = self.client  # make sure the script object exists
        allowed, reason, count, retry_after_ms, active = self.call(
            lambda c: self._admit_script(keys=keys, args=args, client=c)
        )
        return Admission(bool(allowed), str(reason), int(count), int(limit), int(retry_after_ms) / 1000.0, int(active))

    def check_rate(self, client_address: str, *, limit_per_minute: int | None = None) -> "Admission":
        """Counts one request of the address against the per-minute limit."""
        return self.admit(client_address, limit_per_minute=limit_per_minute)

    def release(self, user_id: str, request_id: str) -> bool:
        """Frees the user's slot held by request_id; True when it was held."""
        return bool(self.call(lambda c: c.zrem(f"concurrency:{user_id}", request_id)))

    def active_requests(self, user_id: str) -> list[str]:
        key = f"concurrency:{user_id}"
        return list(self.call(lambda c: c.zrangebyscore(key, _now_ms(), "+inf")))

    def slot_ages(self, user_id: str, lease_s: int = CONCURRENCY_LEASE_S) -> dict[str, float]:
        """The user's held slots and how many seconds ago each was taken (or last renewed)."""
        key = f"concurrency:{user_id}"
        now = _now_ms()
        held = self.call(lambda c: c.zrangebyscore(key, now, "+inf", withscores=True))
        return {member: max(0.0, (lease_s * 1000 - (score - now)) / 1000) for member, score in held}

    # -- model slots ------------------------------------------------------------------------------

    def take_model_slot(self, request_id: str, limit: int, hold_s: float) -> str | None:
        """One of the request's `limit` model slots (one model call at a time each, in every process), as a
        token to give back; None when all are taken. A slot not given back (its process died) frees itself
        after `hold_s`."""
        token = uuid.uuid4().hex
        now = _now_ms()
        taken = self.call(lambda c: c.eval(_TAKE_SLOT_LUA, 1, f"model_slots:{request_id}", now,
                                           now + int(hold_s * 1000), int(limit), token))
        return token if int(taken) else None

    def free_model_slot(self, request_id: str, token: str) -> None:
        self.call(lambda c: c.zrem(f"model_slots:{request_id}", token))

    # -- idempotency keys -------------------------------------------------------------------------

    def claim(self, key: str, *, ttl_s: int = IDEMPOTENCY_TTL_S) -> "Claim":
        """SET NX on `idem:{key}`. The first caller gets claimed=True and must call
        `store_response` (or `abandon`); later callers get the stored response, or
        in_progress=True while the first is still working."""
        if not key:
            raise InvalidSessionValue("idempotency key must not be empty")
        token = f"pending:{uuid.uuid4().hex}"
        name = f"idem:{key}"

        def op(c: redis.Redis) -> str | None:
            if c.set(name, token, nx=True, ex=ttl_s):
                return token
            return c.get(name)

        value = self.call(op)
        if value == token:  # ours, also when a retry after a lost reply finds our own token
            return Claim(key, True, False, None, token)
        if value is None:  # expired between the two commands: try once more
            return self.claim(key, ttl_s=ttl_s)
        if value.startswith("pending:"):
            return Claim(key, False, True, None, None)
        return Claim(key, False, False, json.loads(value), None)

    def store_response(self, claim: "Claim", response: Any, *, ttl_s: int = IDEMPOTENCY_TTL_S) -> None:
        """Stores the response of a claimed key so repeats get it back."""
        if not claim.claimed:
            raise InvalidSessionValue(f"idempotency key {claim.key!r} was not claimed by this caller")
        payload = json.dumps(response, ensure_ascii=False)
        self.call(lambda c: c.set(f"idem:{claim.key}", payload, ex=ttl_s))

    def abandon(self, claim: "Claim") -> None:
        """Gives the key back after a failure so a retry can run (only if still our token)."""
        name = f"idem:{claim.key}"

        def op(c: redis.Redis) -> None:
            if claim.token and c.get(name) == claim.token:
                c.delete(name)

        self.call(op)


@dataclass(frozen=True)
class Admission:
    """The rate limiter's answer. reason: ok | rate_limited | too_many_concurrent."""

    allowed: bool
    reason: str
    count: int  # requests of this address in the last 60 s, this one included when allowed
    limit: int
    retry_after_s: float
    active: int  # the user's running requests after this decision


@dataclass(frozen=True)
class Claim:
    key: str
    claimed: bool
    in_progress: bool
    response: Any
    token: str | None


def _phase(phase: int) -> int:
    if not isinstance(phase, int) or not 1 <= phase <= 7:
        raise InvalidSessionValue(f"current_phase must be an integer 1..7, got {phase!r}")
    return phase


def _now_ms() -> int:
    return int(time.time() * 1000)


_UPDATE_IF_EXISTS_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""

# Sliding-log limiter: a sorted set per address holds one member per admitted request scored by
# its server time in ms; entries older than the window are trimmed first. Server time (TIME) is
# used so workers with skewed clocks agree. The concurrency slot is a sorted set per user whose
# members are request ids scored by lease expiry, so a slot of a crashed worker frees itself.
# The slots still held (expired ones dropped); a new one only under the limit. The key outlives its
# last slot by a minute.
_TAKE_SLOT_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - tonumber(ARGV[1]) + 60000)
return 1
"""

_ADMIT_LUA = """
local rate_key, slot_key = KEYS[1], KEYS[2]
local limit, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local max_active, request_id, lease = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - window)
local count = redis.call('ZCARD', rate_key)
local active = 0
if request_id ~= '' then
  redis.call('ZREMRANGEBYSCORE', slot_key, '-inf', now)
  active = redis.call('ZCARD', slot_key)
end
if count >= limit then
  local oldest = redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')
  local wait = window
  if oldest[2] then wait = tonumber(oldest[2]) + window - now end
  return {0, 'rate_limited', count, wait, active}
end
if request_id ~= '' then
  local held = redis.call('ZSCORE', slot_key, request_id)
  if (not held) and active >= max_active then
    return {0, 'too_many_concurrent', count, 0, active}
  end
  redis.call('ZADD', slot_key, now + lease, request_id)
  redis.call('PEXPIRE', slot_key, lease)
  if not held then active = active + 1 end
end
redis.call('ZADD', rate_key, now, now .. ':' .. member)
redis.call('PEXPIRE', rate_key, window)
return {1, 'ok', count + 1, 0, active}
"""

# The process-wide SessionStore (lazily created from settings()). `reset_session_store()` forgets it after the environment changed (tests).
session_store = ProcessWide(SessionStore)
reset_session_store = session_store.reset