"""The Publisher and Subscriber RPCs the official client uses, on the broker. Each RPC checks its
request, calls the broker, and answers; a PubSubError becomes the RPC's status with its message."""
from __future__ import annotations

import asyncio
import base64
import functools
import logging
from typing import Any, AsyncIterator, Callable

import grpc
from google.protobuf import empty_pb2

from . import resources
from .broker import Broker, Stream
from .errors import PubSubError, invalid
from .protocol import message

log = logging.getLogger("localcloud.pubsub")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PULL_WAIT_S = 10.0  # how long a Pull waits for a message when none is due (the service bounds it too)
UPDATABLE_TOPIC_FIELDS = {"labels", "message_retention_duration", "kms_key_name"}
UPDATABLE_SUBSCRIPTION_FIELDS = {"ack_deadline_seconds", "push_config", "dead_letter_policy", "retry_policy",
                                 "message_retention_duration", "labels", "expiration_policy", "detached"}


def rpc(method: Callable) -> Callable:
    """Maps PubSubError to the RPC status; anything else is logged and answered INTERNAL, no traceback."""
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except PubSubError as err:
            await context.abort(err.code, err.message)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("internal error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error in the local Pub/Sub; see its log")
    return wrapper


def _page(items: list[Any], page_size: int, page_token: str) -> tuple[list[Any], str]:
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise invalid(f"page_size is {page_size}; it must be between 0 and {MAX_PAGE_SIZE}.", "page_size")
    try:
        start = int(base64.urlsafe_b64decode(page_token).decode()) if page_token else 0
    except ValueError:
        raise invalid("page_token is not one this server returned.", "page_token") from None
    size = page_size or DEFAULT_PAGE_SIZE
    end = start + size
    return items[start:end], (base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else "")


def _merge(current: Any, change: Any, mask: Any, allowed: set[str], what: str) -> Any:
    if not mask.paths:
        raise invalid(f"update_mask is empty: name the {what} fields to update.", "update_mask")
    for path in mask.paths:
        if path.split(".")[0] not in allowed:
            raise invalid(f"update_mask path '{path}' cannot be updated on a {what} (updatable: "
                          f"{', '.join(sorted(allowed))}).", "update_mask")
    merged = type(current)()
    merged.CopyFrom(current)
    mask.MergeMessage(change, merged, replace_message_field=True, replace_repeated_field=True)
    return merged


class Publisher:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    @rpc
    async def CreateTopic(self, request: Any, context: Any) -> Any:
        return self.broker.create_topic(request)

    @rpc
    async def GetTopic(self, request: Any, context: Any) -> Any:
        return self.broker.topic(request.topic)

    @rpc
    async def UpdateTopic(self, request: Any, context: Any) -> Any:
        current = self.broker.topic(request.topic.name, "topic.name")
        return self.broker.save_topic(_merge(current, request.topic, request.update_mask, UPDATABLE_TOPIC_FIELDS, "topic"))

    @rpc
    async def ListTopics(self, request: Any, context: Any) -> Any:
        resources.project_name(request.project)
        names = sorted(n for n in self.broker.topics if n.startswith(request.project + "/topics/"))
        page, token = _page(names, request.page_size, request.page_token)
        return message("ListTopicsResponse")(topics=[self.broker.topics[n] for n in page], next_page_token=token)

    @rpc
    async def ListTopicSubscriptions(self, request: Any, context: Any) -> Any:
        page, token = _page(self.broker.topic_subscriptions(request.topic), request.page_size, request.page_token)
        return message("ListTopicSubscriptionsResponse")(subscriptions=page, next_page_token=token)

    @rpc
    async def DeleteTopic(self, request: Any, context: Any) -> Any:
        self.broker.delete_topic(request.topic)
        return empty_pb2.Empty()

    @rpc
    async def Publish(self, request: Any, context: Any) -> Any:
        self.broker.topic(request.topic)
        resources.check_messages(request)
        ids = self.broker.publish(request.topic, [(m.data, dict(m.attributes), m.ordering_key) for m in request.messages])
        return message("PublishResponse")(message_ids=ids)


class Subscriber:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    @rpc
    async def CreateSubscription(self, request: Any, context: Any) -> Any:
        return self.broker.create_subscription(request)

    @rpc
    async def GetSubscription(self, request: Any, context: Any) -> Any:
        return self.broker.subscription(request.subscription).pb

    @rpc
    async def UpdateSubscription(self, request: Any, context: Any) -> Any:
        state = self.broker.subscription(request.subscription.name, "subscription.name")
        merged = _merge(state.pb, request.subscription, request.update_mask, UPDATABLE_SUBSCRIPTION_FIELDS,
                        "subscription")
        return self.broker.replace_subscription(merged)

    @rpc
    async def ModifyPushConfig(self, request: Any, context: Any) -> Any:
        state = self.broker.subscription(request.subscription)
        merged = type(state.pb)()
        merged.CopyFrom(state.pb)
        merged.push_config.CopyFrom(request.push_config)
        self.broker.replace_subscription(merged)
        return empty_pb2.Empty()

    @rpc
    async def ListSubscriptions(self, request: Any, context: Any) -> Any:
        resources.project_name(request.project)
        names = sorted(n for n in self.broker.subscriptions if n.startswith(request.project + "/subscriptions/"))
        page, token = _page(names, request.page_size, request.page_token)
        return message("ListSubscriptionsResponse")(
            subscriptions=[self.broker.subscriptions[n].pb for n in page], next_page_token=token)

    @rpc
    async def DeleteSubscription(self, request: Any, context: Any) -> Any:
        self.broker.delete_subscription(request.subscription)
        return empty_pb2.Empty()

    @rpc
    async def Acknowledge(self, request: Any, context: Any) -> Any:
        state = self.broker.subscription(request.subscription)
        if not request.ack_ids:
            raise invalid("ack_ids is empty.", "ack_ids")
        self.broker.acknowledge(state, list(request.ack_ids))
        return empty_pb2.Empty()

    @rpc
    async def ModifyAckDeadline(self, request: Any, context: Any) -> Any:
        state = self.broker.subscription(request.subscription)
        if not request.ack_ids:
            raise invalid("ack_ids is empty.", "ack_ids")
        self.broker.modify_deadline(state, list(request.ack_ids), request.ack_deadline_seconds)
        return empty_pb2.Empty()

    @rpc
    async def Pull(self, request: Any, context: Any) -> Any:
        state = self.broker.subscription(request.subscription)
        if request.max_messages <= 0:
            raise invalid("max_messages must be at least 1 (No max_messages specified).", "max_messages")
        limit = min(request.max_messages, resources.MAX_PULL_MESSAGES)
        received = self.broker.take(state, limit, state.pb.ack_deadline_seconds)
        if not received and not request.return_immediately:
            remaining = context.time_remaining()
            wait_s = PULL_WAIT_S if remaining is None else max(0.0, min(PULL_WAIT_S, remaining - 0.5))
            loop = asyncio.get_running_loop()
            until = loop.time() + wait_s
            while not received and not state.deleted and (left := until - loop.time()) > 0:
                try:
                    await asyncio.wait_for(state.waiter().wait(), timeout=left)
                except asyncio.TimeoutError:
                    break
                received = self.broker.take(state, limit, state.pb.ack_deadline_seconds)
        return message("PullResponse")(received_messages=received)

    async def StreamingPull(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            return
        try:
            state = self.broker.subscription(first.subscription)
            deadline = first.stream_ack_deadline_seconds
            if not resources.ACK_DEADLINE_RANGE[0] <= deadline <= resources.ACK_DEADLINE_RANGE[1]:
                raise invalid(f"stream_ack_deadline_seconds is {deadline}; it must be between 10 and 600.",
                              "stream_ack_deadline_seconds")
            stream = Stream(deadline, first.max_outstanding_messages, first.max_outstanding_bytes)
            self._apply_stream_request(state, stream, first)
        except PubSubError as err:
            await context.abort(err.code, err.message)
        reader = asyncio.create_task(self._read_stream(state, stream, requests))
        response = message("StreamingPullResponse")
        try:
            while not state.deleted and not reader.done():
                room = stream.room()
                batch = self.broker.take(state, room, stream.ack_deadline_s, holder=stream) if room else []
                if batch:
                    yield response(received_messages=batch)
                    continue
                wake = state.waiter()
                stream.wake = wake  # a freed place in the stream's limits wakes it as a new message does
                await asyncio.wait([asyncio.ensure_future(wake.wait()), reader], return_when=asyncio.FIRST_COMPLETED)
            if state.deleted:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"Subscription does not exist (resource={state.name}).")
            if reader.done() and not reader.cancelled() and isinstance(reader.exception(), PubSubError):
                err = reader.exception()
                await context.abort(err.code, err.message)
        finally:
            reader.cancel()
            for message_id in list(stream.held):  # leases stay until they expire, as in the service
                pending = state.pending.get(message_id)
                if pending is not None and pending.lease is not None and pending.lease.holder is stream:
                    pending.lease.holder = None

    async def _read_stream(self, state: Any, stream: Stream, requests: AsyncIterator[Any]) -> None:
        async for request in requests:
            if state.deleted:
                return
            self._apply_stream_request(state, stream, request)

    def _apply_stream_request(self, state: Any, stream: Stream, request: Any) -> None:
        if request.stream_ack_deadline_seconds:
            stream.ack_deadline_s = request.stream_ack_deadline_seconds
        if request.ack_ids:
            self.broker.acknowledge(state, list(request.ack_ids))
        if len(request.modify_deadline_ack_ids) != len(request.modify_deadline_seconds):
            raise invalid("modify_deadline_seconds and modify_deadline_ack_ids must be the same length.",
                          "modify_deadline_seconds")
        for ack_id, seconds in zip(request.modify_deadline_ack_ids, request.modify_deadline_seconds):
            self.broker.modify_deadline(state, [ack_id], seconds)
