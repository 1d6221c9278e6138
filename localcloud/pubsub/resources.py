"""The rules the Pub/Sub API sets on names, topics, subscriptions and published messages, each broken
rule an INVALID_ARGUMENT (or UNIMPLEMENTED for what this stand-in does not do) that names the field
and its limit. Limits are those of the Pub/Sub reference ("Resource limits")."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import grpc

from .errors import PubSubError, invalid, unimplemented
from .protocol import message

Topic = message("Topic")
Subscription = message("Subscription")

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$")
_PROJECT = re.compile(r"^projects/([a-z0-9][a-z0-9\-:.]{0,127})$")
DELETED_TOPIC = "_deleted-topic_"

MAX_PUBLISH_BYTES = 10 * 1024 * 1024
MAX_MESSAGES_PER_PUBLISH = 1000
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_ORDERING_KEY_BYTES = 1024
ACK_DEADLINE_RANGE = (10, 600)
DEFAULT_ACK_DEADLINE = 10
MODIFY_DEADLINE_RANGE = (0, 600)
RETENTION_RANGE_S = (600, 31 * 86400)
DEFAULT_RETENTION_S = 7 * 86400
DEFAULT_EXPIRATION_TTL_S = 31 * 86400
DELIVERY_ATTEMPTS_RANGE = (5, 100)
DEFAULT_DELIVERY_ATTEMPTS = 5
BACKOFF_RANGE_S = (0, 600)
DEFAULT_RETRY_POLICY_S = (10, 600)
MAX_PULL_MESSAGES = 1000


def _check_name(name: str, kind: str, field: str) -> str:
    """The project of a `projects/{project}/{kind}/{id}` name."""
    parts = name.split("/")
    ok = (len(parts) == 4 and parts[0] == "projects" and parts[2] == kind and bool(_PROJECT.match(f"projects/{parts[1]}"))
          and bool(_ID.match(parts[3])) and not parts[3].lower().startswith("goog"))
    if not ok:
        raise invalid(f"Invalid [{kind}] name: (name={name[:300]}). {field} must be projects/PROJECT/{kind}/ID, the ID "
                      "3 to 255 letters, digits or - _ . ~ + %, starting with a letter and not with 'goog'.", field)
    return parts[1]


def topic_name(name: str, field: str = "topic") -> str:
    return _check_name(name, "topics", field)


def subscription_name(name: str, field: str = "subscription") -> str:
    return _check_name(name, "subscriptions", field)


def project_name(name: str, field: str = "project") -> str:
    match = _PROJECT.match(name)
    if not match:
        raise invalid(f"Invalid project: (name={name[:300]}). {field} must be projects/PROJECT_ID.", field)
    return match.group(1)


def check_topic(topic: Any) -> None:
    topic_name(topic.name, "name")
    if topic.HasField("message_retention_duration"):
        _retention(topic.message_retention_duration, "message_retention_duration")
    for field in ("schema_settings", "ingestion_data_source_settings"):
        if topic.HasField(field):
            raise unimplemented(f"{field}: the local Pub/Sub does not support it.", field)
    if topic.message_transforms:
        raise unimplemented("message_transforms: the local Pub/Sub does not support them.", "message_transforms")


def _retention(duration: Any, field: str) -> None:
    seconds = duration.ToTimedelta().total_seconds()
    low, high = RETENTION_RANGE_S
    if not low <= seconds <= high:
        raise invalid(f"{field} is {seconds:g}s; it must be between {low}s (10 minutes) and {high}s (31 days).", field)


def check_subscription(subscription: Any) -> None:
    """The subscription's own fields (the topics it names are checked by the broker, which knows them)."""
    subscription_name(subscription.name, "name")
    topic_name(subscription.topic, "topic")
    low, high = ACK_DEADLINE_RANGE
    if not low <= subscription.ack_deadline_seconds <= high:
        raise invalid(f"ack_deadline_seconds is {subscription.ack_deadline_seconds}; it must be between {low} and "
                      f"{high} seconds.", "ack_deadline_seconds")
    _retention(subscription.message_retention_duration, "message_retention_duration")
    if subscription.HasField("dead_letter_policy"):
        policy = subscription.dead_letter_policy
        topic_name(policy.dead_letter_topic, "dead_letter_policy.dead_letter_topic")
        low, high = DELIVERY_ATTEMPTS_RANGE
        if not low <= policy.max_delivery_attempts <= high:
            # The code Google's own emulator answers with for this field.
            raise PubSubError(grpc.StatusCode.OUT_OF_RANGE,
                              f"The value for dead_letter_policy.max_delivery_attempts is out of range: you passed "
                              f"{policy.max_delivery_attempts}; it must be between {low} and {high}.",
                              "dead_letter_policy.max_delivery_attempts")
    if subscription.HasField("retry_policy"):
        low_s, high_s = (subscription.retry_policy.minimum_backoff.ToTimedelta().total_seconds(),
                         subscription.retry_policy.maximum_backoff.ToTimedelta().total_seconds())
        for value, field in ((low_s, "retry_policy.minimum_backoff"), (high_s, "retry_policy.maximum_backoff")):
            if not BACKOFF_RANGE_S[0] <= value <= BACKOFF_RANGE_S[1]:
                raise invalid(f"{field} is {value:g}s; it must be between 0s and 600s.", field)
        if low_s > high_s:
            raise invalid(f"retry_policy.minimum_backoff ({low_s:g}s) is longer than retry_policy.maximum_backoff "
                          f"({high_s:g}s).", "retry_policy.minimum_backoff")
    endpoint = subscription.push_config.push_endpoint
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid(f"push_config.push_endpoint '{endpoint[:300]}' must be an http:// or https:// URL.",
                          "push_config.push_endpoint")
    for field, what in (("filter", "filters"), ("enable_message_ordering", "message ordering"),
                        ("enable_exactly_once_delivery", "exactly-once delivery"),
                        ("retain_acked_messages", "retaining acknowledged messages (seek)"),
                        ("bigquery_config", "BigQuery subscriptions"),
                        ("cloud_storage_config", "Cloud Storage subscriptions")):
        value = getattr(subscription, field)
        if (subscription.HasField(field) if hasattr(value, "ListFields") else bool(value)):
            raise unimplemented(f"{field}: the local Pub/Sub does not support {what}.", field)
    if subscription.message_transforms:
        raise unimplemented("message_transforms: the local Pub/Sub does not support them.", "message_transforms")


def fill_subscription_defaults(subscription: Any) -> None:
    """What the service reports for fields left unset."""
    if not subscription.ack_deadline_seconds:
        subscription.ack_deadline_seconds = DEFAULT_ACK_DEADLINE
    if not subscription.HasField("message_retention_duration"):
        subscription.message_retention_duration.FromSeconds(DEFAULT_RETENTION_S)
    if not subscription.HasField("expiration_policy"):
        subscription.expiration_policy.ttl.FromSeconds(DEFAULT_EXPIRATION_TTL_S)
    if subscription.HasField("dead_letter_policy") and not subscription.dead_letter_policy.max_delivery_attempts:
        subscription.dead_letter_policy.max_delivery_attempts = DEFAULT_DELIVERY_ATTEMPTS
    if subscription.HasField("retry_policy"):
        policy = subscription.retry_policy
        if not policy.HasField("minimum_backoff"):
            policy.minimum_backoff.FromSeconds(DEFAULT_RETRY_POLICY_S[0])
        if not policy.HasField("maximum_backoff"):
            policy.maximum_backoff.FromSeconds(max(DEFAULT_RETRY_POLICY_S[1], policy.minimum_backoff.seconds))
    subscription.state = type(subscription).State.Value("ACTIVE")


def check_messages(request: Any) -> None:
    """A PublishRequest's messages against the API's limits."""
    if not request.messages:
        raise invalid("No messages to publish: messages is empty.", "messages")
    if len(request.messages) > MAX_MESSAGES_PER_PUBLISH:
        raise invalid(f"A Publish request may hold at most {MAX_MESSAGES_PER_PUBLISH} messages; this one holds "
                      f"{len(request.messages)}.", "messages")
    size = request.ByteSize()
    if size > MAX_PUBLISH_BYTES:
        raise invalid(f"Request payload size exceeds the limit: {MAX_PUBLISH_BYTES} bytes (this one is {size}).",
                      "messages")
    for index, item in enumerate(request.messages):
        where = f"messages[{index}]"
        if not item.data and not item.attributes:
            raise invalid(f"{where} is empty: a message needs data or at least one attribute.", where)
        if len(item.attributes) > MAX_ATTRIBUTES:
            raise invalid(f"{where}.attributes has {len(item.attributes)} entries; the limit is {MAX_ATTRIBUTES}.",
                          f"{where}.attributes")
        for key, value in item.attributes.items():
            if not key or len(key.encode()) > MAX_ATTRIBUTE_KEY_BYTES:
                raise invalid(f"{where}.attributes key '{key[:50]}' must be 1 to {MAX_ATTRIBUTE_KEY_BYTES} bytes.",
                              f"{where}.attributes")
            if key.lower().startswith("goog"):
                raise invalid(f"{where}.attributes key '{key[:50]}' starts with 'goog', which is reserved.",
                              f"{where}.attributes")
            if len(value.encode()) > MAX_ATTRIBUTE_VALUE_BYTES:
                raise invalid(f"{where}.attributes['{key[:50]}'] is {len(value.encode())} bytes; the limit is "
                              f"{MAX_ATTRIBUTE_VALUE_BYTES}.", f"{where}.attributes")
        if len(item.ordering_key.encode()) > MAX_ORDERING_KEY_BYTES:
            raise invalid(f"{where}.ordering_key is longer than {MAX_ORDERING_KEY_BYTES} bytes.", f"{where}.ordering_key")
