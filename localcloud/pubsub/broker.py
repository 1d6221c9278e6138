"""Topics, subscriptions and delivery: at-least-once, each delivery leased for an ack deadline; an
expired lease or a nack makes the message due again (after the subscription's retry backoff), its
delivery count kept; with a dead-letter policy, a message that failed max_delivery_attempts times is
forwarded to the dead-letter topic instead. All on one asyncio loop; every change is written through
to the SQLite store before the RPC that made it returns."""
from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import resources
from .errors import already_exists, invalid, not_found
from .protocol import message
from .store import MessageRow, PubSubStore

log = logging.getLogger("localcloud.pubsub")

PubsubMessage = message("PubsubMessage")
ReceivedMessage = message("ReceivedMessage")
GC_INTERVAL_S = 60.0
RETENTION_SWEEP_S = 30.0
# Push without a retry policy backs off on its own, as the service does: 100 ms doubling up to 60 s.
PUSH_BACKOFF_S = (0.1, 60.0)


@dataclass
class Message:
    """A published message, shared by every subscription that owes it."""

    id: int
    topic: str
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    publish_time: float
    _pb: Any = None

    def pb(self) -> Any:
        if self._pb is None:
            self._pb = PubsubMessage(data=self.data, attributes=self.attributes, message_id=str(self.id),
                                     ordering_key=self.ordering_key)
            self._pb.publish_time.FromDatetime(dt.datetime.fromtimestamp(self.publish_time, dt.timezone.utc))
        return self._pb

    def row(self) -> MessageRow:
        return (self.id, self.topic, self.data, self.attributes, self.ordering_key, self.publish_time)


@dataclass
class Lease:
    token: str
    expires: float  # loop time
    holder: "Stream | None" = None


@dataclass
class Pending:
    """A message a subscription owes: how often it was delivered, when it is due, who holds it now."""

    message: Message
    attempts: int = 0
    due: float = 0.0
    lease: Lease | None = None


@dataclass
class Stream:
    """One StreamingPull stream's flow control: what it holds against its limits."""

    ack_deadline_s: int
    max_messages: int
    max_bytes: int
    held: dict[int, int] = field(default_factory=dict)  # message id -> bytes
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def room(self) -> int:
        if self.max_bytes and sum(self.held.values()) >= self.max_bytes:
            return 0
        return max(0, self.max_messages - len(self.held)) if self.max_messages else 1000

    def release(self, message_id: int) -> None:
        if self.held.pop(message_id, None) is not None:
            self.wake.set()


class SubscriptionState:
    def __init__(self, pb: Any) -> None:
        self.pb = pb
        self.pending: dict[int, Pending] = {}
        self.ready: deque[int] = deque()
        self.deleted = False
        self._waiters: set[asyncio.Event] = set()

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.add(event)
        return event

    def notify(self) -> None:
        for event in self._waiters:
            event.set()
        self._waiters.clear()

    @property
    def name(self) -> str:
        return self.pb.name

    @property
    def is_push(self) -> bool:
        return bool(self.pb.push_config.push_endpoint)


def _ack_id(message_id: int, token: str) -> str:
    return f"{message_id}-{token}"


def parse_ack_id(ack_id: str, field: str = "ack_ids") -> tuple[int, str]:
    head, _, token = ack_id.partition("-")
    if not head.isdigit() or not token or len(ack_id) > 100:
        raise invalid(f"Invalid ack id (ack_id={ack_id[:100]}): {field} must hold ack ids this server handed out.", field)
    return int(head), token


class Broker:
    """Every topic and subscription this server holds, keyed by full name."""

    def __init__(self, store: PubSubStore) -> None:
        self.store = store
        self.topics: dict[str, Any] = store.load("topics", resources.Topic)
        self.subscriptions: dict[str, SubscriptionState] = {
            name: SubscriptionState(pb) for name, pb in store.load("subscriptions", resources.Subscription).items()}
        self._ids = itertools.count(store.last_message_id() + 1)
        self._timers: list[tuple[float, int, str, int, str]] = []  # (when, seq, subscription, message id, token)
        self._timer_seq = itertools.count()
        self._timers_changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.on_subscription_change: list[Any] = []  # callbacks(SubscriptionState), e.g. the pusher
        self._load_pending()

    def _load_pending(self) -> None:
        messages: dict[int, Message] = {}
        now = time.time()
        expired: dict[str, list[int]] = {}
        for sub_name, attempts, row in self.store.pending():
            state = self.subscriptions.get(sub_name)
            if state is None:
                continue
            msg = messages.setdefault(row[0], Message(*row))
            if self._past_retention(state, msg, now):
                expired.setdefault(sub_name, []).append(msg.id)
                continue
            state.pending[msg.id] = Pending(msg, attempts)
            state.ready.append(msg.id)
        for sub_name, ids in expired.items():
            self.store.forget(sub_name, ids)
        self.store.collect_garbage()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep_time()), asyncio.create_task(self._housekeeping())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for state in self.subscriptions.values():
            state.deleted = True
            state.notify()
        self.store.close()

    # --- topics -------------------------------------------------------------------------------------

    def topic(self, name: str, field: str = "topic") -> Any:
        resources.topic_name(name, field)
        topic = self.topics.get(name)
        if topic is None:
            raise not_found(f"Topic not found (resource={name}).", field)
        return topic

    def create_topic(self, topic: Any) -> Any:
        resources.check_topic(topic)
        if topic.name in self.topics:
            raise already_exists(f"Topic already exists (resource={topic.name}).", "name")
        topic.state = type(topic).State.Value("ACTIVE")
        self.topics[topic.name] = topic
        self.store.save("topics", topic.name, topic)
        return topic

    def save_topic(self, topic: Any) -> Any:
        resources.check_topic(topic)
        self.topics[topic.name] = topic
        self.store.save("topics", topic.name, topic)
        return topic

    def delete_topic(self, name: str) -> None:
        self.topic(name)
        del self.topics[name]
        self.store.delete_topic(name)
        for state in self.subscriptions.values():
            if state.pb.topic == name:  # as the service does: the subscription stays, detached from any topic
                state.pb.topic = resources.DELETED_TOPIC
                self.store.save("subscriptions", state.name, state.pb)

    def topic_subscriptions(self, name: str) -> list[str]:
        self.topic(name)
        return sorted(s.name for s in self.subscriptions.values() if s.pb.topic == name)

    def publish(self, topic_name: str, items: list[tuple[bytes, dict[str, str], str]]) -> list[str]:
        """Stores the messages for every subscription of the topic (committed), then wakes their readers."""
        self.topic(topic_name)
        now = time.time()
        messages = [Message(next(self._ids), topic_name, data, dict(attrs), key, now) for data, attrs, key in items]
        targets = [s for s in self.subscriptions.values() if s.pb.topic == topic_name]
        self.store.publish([m.row() for m in messages], [s.name for s in targets])
        for state in targets:
            for msg in messages:
                state.pending[msg.id] = Pending(msg)
                state.ready.append(msg.id)
            state.notify()
        return [str(m.id) for m in messages]

    # --- subscriptions ------------------------------------------------------------------------------

    def subscription(self, name: str, field: str = "subscription") -> SubscriptionState:
        resources.subscription_name(name, field)
        state = self.subscriptions.get(name)
        if state is None:
            raise not_found(f"Subscription does not exist (resource={name}).", field)
        return state

    def _check_topics_exist(self, pb: Any) -> None:
        if pb.HasField("dead_letter_policy") and pb.dead_letter_policy.dead_letter_topic not in self.topics:
            raise not_found(f"Dead letter topic not found (resource={pb.dead_letter_policy.dead_letter_topic}).",
                            "dead_letter_policy.dead_letter_topic")

    def create_subscription(self, pb: Any) -> Any:
        resources.fill_subscription_defaults(pb)
        resources.check_subscription(pb)
        if pb.name in self.subscriptions:
            raise already_exists(f"Subscription already exists (resource={pb.name}).", "name")
        if pb.topic not in self.topics:
            raise not_found(f"Subscription topic does not exist (resource={pb.topic}).", "topic")
        self._check_topics_exist(pb)
        state = SubscriptionState(pb)
        self.subscriptions[pb.name] = state
        self.store.save("subscriptions", pb.name, pb)
        self._changed(state)
        return pb

    def replace_subscription(self, pb: Any) -> Any:
        """An updated subscription (merged by the caller): same messages, new settings."""
        state = self.subscription(pb.name)
        resources.fill_subscription_defaults(pb)
        resources.check_subscription(pb)
        self._check_topics_exist(pb)
        state.pb = pb
        self.store.save("subscriptions", pb.name, pb)
        state.notify()
        self._changed(state)
        return pb

    def delete_subscription(self, name: str) -> None:
        state = self.subscription(name)
        del self.subscriptions[name]
        self.store.delete_subscription(name)
        state.deleted = True
        for pending in state.pending.values():
            if pending.lease and pending.lease.holder:
                pending.lease.holder.release(pending.message.id)
        state.pending.clear()
        state.notify()
        self._changed(state)

    def _changed(self, state: SubscriptionState) -> None:
        for callback in self.on_subscription_change:
            callback(state)

    # --- delivery -----------------------------------------------------------------------------------

    def take(self, state: SubscriptionState, limit: int, deadline_s: int, holder: Stream | None = None) -> list[Any]:
        """Leases up to `limit` due messages for `deadline_s`; returns them as ReceivedMessages."""
        now, wall = asyncio.get_running_loop().time(), time.time()
        received, counted, expired = [], [], []
        with_attempts = state.pb.HasField("dead_letter_policy")
        while state.ready and len(received) < limit:
            message_id = state.ready.popleft()
            pending = state.pending.get(message_id)
            if pending is None or pending.lease is not None or pending.due > now:
                continue  # acked, already leased, or waiting out a backoff (its timer puts it back)
            if self._past_retention(state, pending.message, wall):
                del state.pending[message_id]
                expired.append(message_id)
                continue
            pending.attempts += 1
            token = f"{pending.attempts}.{secrets.token_hex(4)}"
            pending.lease = Lease(token, now + deadline_s, holder)
            if holder is not None:
                holder.held[message_id] = len(pending.message.data)
            self._set_timer(pending.lease.expires, state.name, message_id, token)
            counted.append((message_id, pending.attempts))
            received.append(ReceivedMessage(ack_id=_ack_id(message_id, token), message=pending.message.pb(),
                                            delivery_attempt=pending.attempts if with_attempts else 0))
        if counted:
            self.store.count_attempts(state.name, counted)
        if expired:
            self.store.forget(state.name, expired)
        return received

    def acknowledge(self, state: SubscriptionState, ack_ids: list[str]) -> None:
        done = []
        for ack_id in ack_ids:
            message_id, token = parse_ack_id(ack_id)
            pending = state.pending.get(message_id)
            # An ack of an expired lease still counts, unless the message is now leased to someone else.
            if pending is None or (pending.lease is not None and pending.lease.token != token):
                continue
            self._drop_lease(pending)
            del state.pending[message_id]
            done.append(message_id)
        if done:
            self.store.forget(state.name, done)

    def modify_deadline(self, state: SubscriptionState, ack_ids: list[str], seconds: int) -> None:
        low, high = resources.MODIFY_DEADLINE_RANGE
        if not low <= seconds <= high:
            raise invalid(f"ack_deadline_seconds is {seconds}; it must be between {low} and {high}.",
                          "ack_deadline_seconds")
        now = asyncio.get_running_loop().time()
        for ack_id in ack_ids:
            message_id, token = parse_ack_id(ack_id)
            pending = state.pending.get(message_id)
            if pending is None or pending.lease is None or pending.lease.token != token:
                continue
            if seconds == 0:
                self.fail(state, pending)
            else:
                pending.lease.expires = now + seconds
                self._set_timer(pending.lease.expires, state.name, message_id, token)

    def fail(self, state: SubscriptionState, pending: Pending) -> None:
        """A nack, an expired lease or a refused push: due again after the backoff, or dead-lettered."""
        self._drop_lease(pending)
        policy = state.pb.dead_letter_policy if state.pb.HasField("dead_letter_policy") else None
        if policy is not None and pending.attempts >= policy.max_delivery_attempts \
                and policy.dead_letter_topic in self.topics:
            self._dead_letter(state, pending, policy.dead_letter_topic)
            return
        delay = self._backoff_s(state, pending.attempts)
        now = asyncio.get_running_loop().time()
        pending.due = now + delay
        if delay > 0:
            self._set_timer(pending.due, state.name, pending.message.id, "")
        else:
            state.ready.append(pending.message.id)
            state.notify()

    def _backoff_s(self, state: SubscriptionState, attempts: int) -> float:
        if state.pb.HasField("retry_policy"):
            low = state.pb.retry_policy.minimum_backoff.ToTimedelta().total_seconds()
            high = state.pb.retry_policy.maximum_backoff.ToTimedelta().total_seconds()
        elif state.is_push:
            low, high = PUSH_BACKOFF_S
        else:
            return 0.0  # no retry policy: redelivered as soon as possible
        return min(high, low * 2 ** max(0, attempts - 1))

    def _dead_letter(self, state: SubscriptionState, pending: Pending, dead_letter_topic: str) -> None:
        msg = pending.message
        project, sub_id = state.name.split("/")[1], state.name.rsplit("/", 1)[-1]
        attributes = {**msg.attributes,
                      "CloudPubSubDeadLetterSourceDeliveryCount": str(pending.attempts),
                      "CloudPubSubDeadLetterSourceSubscription": sub_id,
                      "CloudPubSubDeadLetterSourceSubscriptionProject": project,
                      "CloudPubSubDeadLetterSourceTopicPublishTime": msg.pb().publish_time.ToJsonString()}
        # Published before it is forgotten: a crash in between dead-letters it twice, never loses it.
        self.publish(dead_letter_topic, [(msg.data, attributes, msg.ordering_key)])
        del state.pending[msg.id]
        self.store.forget(state.name, [msg.id])
        log.info("message %s of %s dead-lettered to %s after %d attempts", msg.id, state.name, dead_letter_topic,
                 pending.attempts)

    def _drop_lease(self, pending: Pending) -> None:
        if pending.lease is not None and pending.lease.holder is not None:
            pending.lease.holder.release(pending.message.id)
        pending.lease = None

    @staticmethod
    def _past_retention(state: SubscriptionState, msg: Message, wall_now: float) -> bool:
        retention = state.pb.message_retention_duration.ToTimedelta().total_seconds() or resources.DEFAULT_RETENTION_S
        return msg.publish_time + retention < wall_now

    # --- time ---------------------------------------------------------------------------------------

    def _set_timer(self, when: float, subscription: str, message_id: int, token: str) -> None:
        if not self._timers or when < self._timers[0][0]:
            self._timers_changed.set()
        heapq.heappush(self._timers, (when, next(self._timer_seq), subscription, message_id, token))

    async def _keep_time(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._timers_changed.clear()
            now = loop.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, sub_name, message_id, token = heapq.heappop(self._timers)
                self._timer_fired(sub_name, message_id, token, now)
            wait = self._timers[0][0] - now if self._timers else 3600.0
            try:
                await asyncio.wait_for(self._timers_changed.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    def _timer_fired(self, sub_name: str, message_id: int, token: str, now: float) -> None:
        state = self.subscriptions.get(sub_name)
        pending = state.pending.get(message_id) if state else None
        if state is None or pending is None:
            return
        if token:  # a lease timer: still this lease, and not extended since?
            if pending.lease is not None and pending.lease.token == token and pending.lease.expires <= now:
                self.fail(state, pending)
        elif pending.lease is None and pending.due <= now:  # a backoff timer
            state.ready.append(message_id)
            state.notify()

    async def _housekeeping(self) -> None:
        """Drops messages past their subscription's retention and stored messages nobody is owed."""
        last_gc = 0.0
        while True:
            await asyncio.sleep(RETENTION_SWEEP_S)
            wall = time.time()
            for state in list(self.subscriptions.values()):
                old = [mid for mid, p in state.pending.items() if p.lease is None and self._past_retention(state, p.message, wall)]
                for mid in old:
                    del state.pending[mid]
                if old:
                    self.store.forget(state.name, old)
            if wall - last_gc >= GC_INTERVAL_S:
                self.store.collect_garbage()
                last_gc = wall
