"""Push subscriptions: each due message is POSTed to the push endpoint in the standard push envelope
(or unwrapped, with pushConfig.noWrapper); a 102, 200, 201, 202 or 204 answer acknowledges it, anything
else, no answer within the ack deadline or no connection is a nack (backoff, then redelivery or the
dead-letter topic)."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from typing import Any

import aiohttp

from .broker import Broker, Pending, SubscriptionState, parse_ack_id

log = logging.getLogger("localcloud.pubsub")

ACK_STATUSES = {102, 200, 201, 202, 204}
MAX_IN_FLIGHT = 16  # concurrent pushes per subscription


def envelope(state: SubscriptionState, received: Any) -> dict[str, Any]:
    """The push request body: {"message": {...}, "subscription": ..., "deliveryAttempt"?: n}."""
    msg = received.message
    publish_time = msg.publish_time.ToJsonString()
    body: dict[str, Any] = {"message": {"data": base64.b64encode(msg.data).decode("ascii"),
                                        "messageId": msg.message_id, "message_id": msg.message_id,
                                        "publishTime": publish_time, "publish_time": publish_time},
                            "subscription": state.name}
    if msg.attributes:
        body["message"]["attributes"] = dict(msg.attributes)
    if msg.ordering_key:
        body["message"]["orderingKey"] = msg.ordering_key
    if received.delivery_attempt:
        body["deliveryAttempt"] = received.delivery_attempt
    return body


def _identity_token(service_account: str) -> str | None:
    """Locally the OIDC token is a developer identity for the push account (mangaflow.auth), if a key is set."""
    if not service_account or not os.environ.get("MANGAFLOW_SIGNING_KEY"):
        return None
    from mangaflow.auth import issue_local_token

    return issue_local_token(service_account)


class Pusher:
    """One delivery loop per push subscription, started and stopped as subscriptions change."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._loops: dict[str, asyncio.Task] = {}
        self._session: aiohttp.ClientSession | None = None
        broker.on_subscription_change.append(self._follow)

    async def start(self) -> None:
        # A fresh connection per push: a kept-alive one the endpoint closes while idle (gunicorn after
        # 2 s) would fail the delivery before it reached the function, and cost it one of its attempts.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                                              connector=aiohttp.TCPConnector(force_close=True))
        for state in self.broker.subscriptions.values():
            self._follow(state)

    async def stop(self) -> None:
        loops = list(self._loops.values())
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _follow(self, state: SubscriptionState) -> None:
        running = self._loops.get(state.name)
        if running is not None and (state.deleted or not state.is_push):
            running.cancel()
            del self._loops[state.name]
        elif (running is None or running.done()) and state.is_push and not state.deleted and self._session:
            self._loops[state.name] = asyncio.create_task(self._deliver_forever(state))

    async def _deliver_forever(self, state: SubscriptionState) -> None:
        in_flight: set[asyncio.Task] = set()
        try:
            while not state.deleted and state.is_push:
                room = MAX_IN_FLIGHT - len(in_flight)
                batch = self.broker.take(state, room, state.pb.ack_deadline_seconds) if room else []
                for received in batch:
                    task = asyncio.create_task(self._push_one(state, received))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if batch:
                    continue
                wake = state.waiter()
                if in_flight:
                    await asyncio.wait([asyncio.ensure_future(wake.wait()), *in_flight],
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    await wake.wait()
        finally:
            for task in in_flight:
                task.cancel()

    async def _push_one(self, state: SubscriptionState, received: Any) -> None:
        config = state.pb.push_config
        headers = {"User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"}
        if config.HasField("no_wrapper"):
            body = bytes(received.message.data)
            if config.no_wrapper.write_metadata:
                headers.update({f"x-goog-pubsub-{k}": v for k, v in received.message.attributes.items()})
                headers["x-goog-pubsub-message-id"] = received.message.message_id
                headers["x-goog-pubsub-subscription-name"] = state.name
        else:
            body = json.dumps(envelope(state, received)).encode("utf-8")
            headers["Content-Type"] = "application/json"
        token = _identity_token(config.oidc_token.service_account_email)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        assert self._session is not None
        acked, outcome = False, ""
        try:
            async with self._session.post(config.push_endpoint, data=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=state.pb.ack_deadline_seconds)) as answer:
                await answer.read()
                acked, outcome = answer.status in ACK_STATUSES, f"HTTP {answer.status}"
        except asyncio.TimeoutError:
            outcome = "no answer within the ack deadline"
        except aiohttp.ClientError as err:
            outcome = f"{type(err).__name__}: {err}"
        message_id, token_part = parse_ack_id(received.ack_id)
        pending: Pending | None = state.pending.get(message_id)
        if pending is None or pending.lease is None or pending.lease.token != token_part:
            return  # the lease already ran out (and was dealt with) or the subscription went away
        if acked:
            self.broker.acknowledge(state, [received.ack_id])
        else:
            log.info("push of message %s to %s failed (%s)", message_id, config.push_endpoint, outcome)
            self.broker.fail(state, pending)
