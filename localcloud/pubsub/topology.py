"""ensure(): the topics and subscriptions of infra/pubsub.yaml, created (or brought in line) through the
official `google-cloud-pubsub` client, idempotently. The client finds the server as it always does:
PUBSUB_EMULATOR_HOST locally, the real service otherwise.

A subscription is a pull subscription unless its entry names `push_function: <function>`; then it
pushes to that function's URL from `function_urls`. Nothing is ever deleted: a subscription holds
messages, so one that must move to another topic is reported, not recreated.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from mangaflow.errors import DomainError


class PubSubFileError(DomainError):
    """infra/pubsub.yaml says something ensure() cannot carry out; `field` is the path in the file."""

    status = 422


# The subscription fields ensure() owns; the rest (labels, expiration...) is left as it is.
MANAGED_FIELDS = ("ack_deadline_seconds", "dead_letter_policy", "push_config", "message_retention_duration")


@dataclass(frozen=True)
class SubscriptionPlan:
    name: str
    topic: str
    ack_deadline_s: int
    dead_letter: bool
    push_function: str | None


@dataclass(frozen=True)
class Topology:
    topics: list[str]
    subscriptions: list[SubscriptionPlan]
    dead_letter_topic: str
    max_delivery_attempts: int
    dead_letter_retention_s: int


def _need(condition: bool, message: str, field: str) -> None:
    if not condition:
        raise PubSubFileError(message, field=field)


def load_topology(path: str | Path) -> Topology:
    """The file's topics and subscriptions, each field checked (errors name the entry and field)."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise PubSubFileError(f"cannot read {path}: {err}", field="topics") from None
    _need(isinstance(document, dict) and isinstance(document.get("topics"), list), f"{path} needs a list 'topics'",
          "topics")
    dead = document.get("dead_letter")
    _need(isinstance(dead, dict) and isinstance(dead.get("topic"), str), f"{path}: dead_letter.topic is missing",
          "dead_letter.topic")
    attempts, retention = dead.get("max_delivery_attempts", 5), dead.get("message_retention_s", 604800)
    _need(isinstance(attempts, int) and 5 <= attempts <= 100,
          f"{path}: dead_letter.max_delivery_attempts must be 5..100", "dead_letter.max_delivery_attempts")
    _need(isinstance(retention, int) and 600 <= retention <= 31 * 86400,
          f"{path}: dead_letter.message_retention_s must be 600..2678400", "dead_letter.message_retention_s")
    topics, subscriptions = [], []
    for t_index, topic in enumerate(document["topics"]):
        where = f"topics[{t_index}]"
        _need(isinstance(topic, dict) and isinstance(topic.get("name"), str), f"{path}: {where}.name is missing",
              f"{where}.name")
        topics.append(topic["name"])
        for s_index, sub in enumerate(topic.get("subscriptions") or []):
            at = f"{where}.subscriptions[{s_index}]"
            _need(isinstance(sub, dict) and isinstance(sub.get("name"), str), f"{path}: {at}.name is missing",
                  f"{at}.name")
            deadline = sub.get("ack_deadline_s", 10)
            _need(isinstance(deadline, int) and 10 <= deadline <= 600,
                  f"{path}: {at}.ack_deadline_s must be 10..600 seconds", f"{at}.ack_deadline_s")
            push = sub.get("push_function")
            _need(push is None or (isinstance(push, str) and push), f"{path}: {at}.push_function must be a function name",
                  f"{at}.push_function")
            subscriptions.append(SubscriptionPlan(sub["name"], topic["name"], deadline, bool(sub.get("dead_letter")),
                                                  push))
    _need(dead["topic"] in topics, f"{path}: dead_letter.topic '{dead['topic']}' is not one of the topics",
          "dead_letter.topic")
    names = [s.name for s in subscriptions]
    _need(len(set(names)) == len(names) and len(set(topics)) == len(topics), f"{path}: names repeat", "topics")
    return Topology(topics, subscriptions, dead["topic"], attempts, retention)


def _wanted_subscription(plan: SubscriptionPlan, topology: Topology, project: str, function_urls: Mapping[str, str],
                         service_account: str | None) -> dict[str, Any]:
    from google.protobuf import duration_pb2

    wanted: dict[str, Any] = {"name": f"projects/{project}/subscriptions/{plan.name}",
                              "topic": f"projects/{project}/topics/{plan.topic}",
                              "ack_deadline_seconds": plan.ack_deadline_s}
    if plan.dead_letter:
        wanted["dead_letter_policy"] = {"dead_letter_topic": f"projects/{project}/topics/{topology.dead_letter_topic}",
                                        "max_delivery_attempts": topology.max_delivery_attempts}
    if plan.topic == topology.dead_letter_topic:
        wanted["message_retention_duration"] = duration_pb2.Duration(seconds=topology.dead_letter_retention_s)
    if plan.push_function:
        url = function_urls[plan.push_function]
        wanted["push_config"] = {"push_endpoint": url}
        if service_account:
            wanted["push_config"]["oidc_token"] = {"service_account_email": service_account, "audience": url}
    return wanted


def ensure(pubsub_file: str | Path, function_urls: Mapping[str, str], project: str = "mangaflow-local",
           service_account: str | None = None) -> dict[str, dict[str, list[str]]]:
    """Creates what is missing and updates what differs; returns
    {"topics": {"created", "left"}, "subscriptions": {"created", "updated", "left"}} (ids)."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1
    from google.protobuf import field_mask_pb2

    topology = load_topology(pubsub_file)
    for index, plan in enumerate(topology.subscriptions):
        if plan.push_function and plan.push_function not in function_urls:
            raise PubSubFileError(f"no URL for function '{plan.push_function}' (subscription {plan.name}.push_function)",
                                  field=f"subscriptions[{index}].push_function")
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    result = {"topics": {"created": [], "left": []}, "subscriptions": {"created": [], "updated": [], "left": []}}
    for topic in topology.topics:
        wanted_topic: dict[str, Any] = {"name": publisher.topic_path(project, topic)}
        try:
            publisher.create_topic(request=wanted_topic)
            result["topics"]["created"].append(topic)
        except exceptions.AlreadyExists:
            result["topics"]["left"].append(topic)
    for plan in topology.subscriptions:
        wanted = pubsub_v1.types.Subscription(
            _wanted_subscription(plan, topology, project, function_urls, service_account))
        try:
            subscriber.create_subscription(request=wanted)
            result["subscriptions"]["created"].append(plan.name)
            continue
        except exceptions.AlreadyExists:
            current = subscriber.get_subscription(subscription=wanted.name)
        if current.topic != wanted.topic:
            raise PubSubFileError(f"subscription {plan.name} is attached to {current.topic}, the file says {wanted.topic}; "
                                  "delete it by hand (its messages go with it) to move it", field=plan.name)
        changed = _differing(current, wanted)
        if changed:
            subscriber.update_subscription(subscription=wanted, update_mask=field_mask_pb2.FieldMask(paths=changed))
            result["subscriptions"]["updated"].append(plan.name)
        else:
            result["subscriptions"]["left"].append(plan.name)
    return result


def _differing(current: Any, wanted: Any) -> list[str]:
    """The managed fields where the server's subscription is not what the file says."""
    have, want = type(current).pb(current), type(wanted).pb(wanted)
    changed = []
    for field in MANAGED_FIELDS:
        if field == "ack_deadline_seconds" or want.HasField(field):
            if getattr(have, field) != getattr(want, field):
                changed.append(field)
        elif field != "message_retention_duration" and have.HasField(field):
            changed.append(field)  # the file no longer has it (a dead-letter policy or push removed)
    return changed
