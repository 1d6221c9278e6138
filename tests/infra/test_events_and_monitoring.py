"""Issue 17's infra: the Pub/Sub topics, subscriptions and dead-letter topic built from
infra/pubsub.yaml, the HITL metric descriptors, the alerts and their channels, and the three
dashboards. Each part exists and refers only to parts that exist."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from terraform_model import (INFRA, block, dashboard, dynamic, function_specs, load, pubsub_yaml,
                             resource)

DESIGN_TOPICS = {"hitl-feedback-topic", "phase-completion-topic", "session-management-topic", "hitl-feedback-dlq"}
DESIGN_SUBSCRIPTIONS = {"hitl-feedback-processor": "hitl_feedback_processor",
                        "phase-transition-handler": "phase_transition_handler",
                        "session-cleanup-service": "session_cleanup_service"}
DESIGN_METRICS = {"hitl/session_duration", "hitl/feedback_timeout_rate", "hitl/user_engagement_score",
                  "hitl/phase_completion_time", "hitl/retry_rate_per_phase"}
PREFIX = "workload.googleapis.com/"
# Metrics Google writes itself, allowed in dashboards and alerts without a descriptor here.
BUILT_IN = ("pubsub.googleapis.com/",)


@pytest.fixture(scope="module")
def terraform() -> dict[str, Any]:
    return load()


def subscriptions() -> dict[str, dict[str, Any]]:
    """local.pubsub_subscriptions, as Terraform computes it from the YAML."""
    return {sub["name"]: {"topic": topic["name"], "ack_deadline_s": sub["ack_deadline_s"],
                          "dead_letter": sub["dead_letter"], "push_function": sub.get("push_function", "")}
            for topic in pubsub_yaml()["topics"] for sub in topic["subscriptions"]}


# -- Pub/Sub ------------------------------------------------------------------------------------


def test_terraform_reads_topics_and_subscriptions_from_the_one_yaml(terraform):
    locals_ = terraform["locals"]

    assert locals_["pubsub"] == '${yamldecode(file("${path.module}/pubsub.yaml"))}'
    assert locals_["pubsub_topics"] == "${{for topic in local.pubsub.topics : topic.name => topic}}"
    assert resource(terraform, "google_pubsub_topic", "topic")["for_each"] == "${local.pubsub_topics}"
    assert resource(terraform, "google_pubsub_subscription", "subscription")["for_each"] == (
        "${local.pubsub_subscriptions}")
    # Every field the normalisation reads is one the YAML has.
    for field in ("ack_deadline_s", "dead_letter", "push_function"):
        assert f"sub.{field}" in locals_["pubsub_subscriptions"]


def test_the_design_topics_subscriptions_and_dead_letter_settings_exist():
    config = pubsub_yaml()
    subs = subscriptions()

    assert {topic["name"] for topic in config["topics"]} == DESIGN_TOPICS
    assert set(DESIGN_SUBSCRIPTIONS) <= set(subs)
    assert config["dead_letter"] == {"topic": "hitl-feedback-dlq", "max_delivery_attempts": 5,
                                     "message_retention_s": 7 * 24 * 3600}
    for name, function in DESIGN_SUBSCRIPTIONS.items():
        assert subs[name]["push_function"] == function
        assert subs[name]["dead_letter"] is True, name
    # Dead letters are kept for people: a pull subscription on the dead-letter topic.
    inspect = [s for s in subs.values() if s["topic"] == "hitl-feedback-dlq"]
    assert len(inspect) == 1 and inspect[0]["push_function"] == "" and inspect[0]["dead_letter"] is False


def test_every_push_endpoint_is_a_function_in_the_map_called_by_pubsub(terraform):
    specs = function_specs(terraform)
    pushed = {sub["push_function"] for sub in subscriptions().values() if sub["push_function"]}

    assert pushed <= set(specs), f"push to functions not in the map: {sorted(pushed - set(specs))}"
    for function in pushed:
        assert specs[function]["callers"] == ["pubsub"], function
    assert {key for key, spec in specs.items() if "pubsub" in spec["callers"]} == pushed


def test_push_uses_oidc_and_failures_go_to_the_dead_letter_topic_after_five_attempts(terraform):
    body = resource(terraform, "google_pubsub_subscription", "subscription")
    dead = dynamic(body, "dead_letter_policy")
    push = dynamic(body, "push_config")
    content = block(push, "content")
    oidc = block(content, "oidc_token")

    assert dead["for_each"] == "${each.value.dead_letter ? [1] : []}"
    assert block(dead, "content") == {
        "dead_letter_topic": "${google_pubsub_topic.topic[local.dead_letter.topic].id}",
        "max_delivery_attempts": "${local.dead_letter.max_delivery_attempts}"}
    assert content["push_endpoint"] == "${google_cloudfunctions2_function.fn[push_config.value].url}"
    assert oidc["audience"] == content["push_endpoint"]
    assert oidc["service_account_email"] == '${google_service_account.account["pubsub_push"].email}'
    assert body["message_retention_duration"] == "${local.retention}"
    assert terraform["locals"]["retention"] == "${local.dead_letter.message_retention_s}s"
    assert block(body, "expiration_policy") == {"ttl": ""}
    topic = resource(terraform, "google_pubsub_topic", "topic")
    assert topic["message_retention_duration"] == (
        "${each.key == local.dead_letter.topic ? local.retention : null}")
    assert topic["kms_key_name"] == "${google_kms_crypto_key.data.id}"


def test_the_pubsub_service_agent_may_dead_letter_and_mint_push_tokens(terraform):
    publisher = resource(terraform, "google_pubsub_topic_iam_member", "dead_letter_publisher")
    subscriber = resource(terraform, "google_pubsub_subscription_iam_member", "dead_letter_subscriber")
    token = resource(terraform, "google_service_account_iam_member", "pubsub_push_token")
    agent = '${local.service_agents["pubsub"]}'

    assert publisher["topic"] == "${google_pubsub_topic.topic[local.dead_letter.topic].name}"
    assert (publisher["role"], publisher["member"]) == ("roles/pubsub.publisher", agent)
    assert "if sub.dead_letter" in subscriber["for_each"]
    assert (subscriber["role"], subscriber["member"]) == ("roles/pubsub.subscriber", agent)
    assert (token["role"], token["member"]) == ("roles/iam.serviceAccountTokenCreator", agent)
    assert "@gcp-sa-pubsub.iam.gserviceaccount.com" in terraform["locals"]["service_agents"]["pubsub"]
    # The push account may invoke exactly the subscriber functions.
    assert terraform["locals"]["caller_members"]["pubsub"] == [
        '${google_service_account.account["pubsub_push"].member}']


def test_review_links_go_to_a_topic_that_carries_gate_opened(terraform):
    """Issue 10: in the cloud the review link is announced on Pub/Sub; a webhook is optional."""
    topic = terraform["locals"]["review_link_topic"]
    events = {t["name"]: t["events"] for t in pubsub_yaml()["topics"]}
    env = terraform["locals"]["function_env"]
    webhook = terraform["variable"]["review_webhook"]

    assert "gate_opened" in events[topic]
    assert 'MANGAFLOW_NOTIFY_TOPIC = \"projects/${var.project_id}/topics/${local.review_link_topic}\"' in env
    assert webhook["type"] == "bool" and webhook["default"] is False
    mounts = terraform["locals"]["function_secret_env"]
    assert 'MANGAFLOW_REVIEW_WEBHOOK_URL' in mounts and 'key == \\"hitl_feedback_processor\\"' in json.dumps(mounts)


# -- Metrics, alerts, channels --------------------------------------------------------------------


def test_every_hitl_metric_of_the_design_has_a_descriptor(terraform):
    metrics = terraform["locals"]["hitl_metrics"]
    descriptor = resource(terraform, "google_monitoring_metric_descriptor", "hitl")

    assert set(metrics) == DESIGN_METRICS
    assert terraform["locals"]["metric_prefix"] + "/" == PREFIX
    assert descriptor["for_each"] == "${local.hitl_metrics}"
    assert descriptor["type"] == "${local.metric_type[each.key]}"
    assert block(descriptor, "labels")["key"] == "phase"
    for name, metric in metrics.items():
        assert (metric["metric_kind"], metric["value_type"]) in {
            ("GAUGE", "DOUBLE"), ("CUMULATIVE", "DISTRIBUTION")}, name
        assert metric["unit"] in {"s", "1"} and metric["description"], name
    assert metrics["hitl/phase_completion_time"]["value_type"] == "DISTRIBUTION"


def alert_policies(terraform: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return terraform["resource"]["google_monitoring_alert_policy"]


def test_alerts_cover_timeout_rate_and_long_sessions_with_thresholds_as_variables(terraform):
    policies = alert_policies(terraform)
    timeout = block(block(policies["hitl_timeout_rate"], "conditions"), "condition_threshold")
    session = block(block(policies["hitl_session_too_long"], "conditions"), "condition_threshold")
    variables = terraform["variable"]

    assert timeout["threshold_value"] == "${var.hitl_timeout_rate_threshold}"
    assert timeout["comparison"] == "COMPARISON_GT"
    assert variables["hitl_timeout_rate_threshold"]["default"] == 0.3
    assert session["threshold_value"] == "${var.hitl_session_max_seconds}"
    assert variables["hitl_session_max_seconds"]["default"] == 30 * 60
    assert 'hitl["hitl/feedback_timeout_rate"]' in timeout["filter"]
    assert 'hitl["hitl/session_duration"]' in session["filter"]


def test_every_alert_filter_names_a_declared_or_built_in_metric(terraform):
    declared = set(terraform["locals"]["hitl_metrics"])
    for name, policy in alert_policies(terraform).items():
        condition = block(block(policy, "conditions"), "condition_threshold")
        refs = set(re.findall(r'google_monitoring_metric_descriptor\.hitl\["([^"]+)"\]', condition["filter"]))
        built_in = re.findall(r'metric\.type=\\?"([^"\\]+)', condition["filter"])
        assert refs <= declared, name
        assert refs or all(m.startswith(BUILT_IN) for m in built_in), name


def test_every_alert_notifies_channels_that_exist(terraform):
    channels = terraform["resource"]["google_monitoring_notification_channel"]
    people = terraform["locals"]["people_channels"]

    assert set(channels) == {"email", "slack", "session_cleanup"}
    assert "google_monitoring_notification_channel.email" in people
    assert "google_monitoring_notification_channel.slack" in people
    for name, policy in alert_policies(terraform).items():
        text = policy["notification_channels"]
        named = set(re.findall(r"google_monitoring_notification_channel\.([a-z_]+)", text))
        assert named <= set(channels), name
        assert "local.people_channels" in text, f"{name} tells nobody"
    session = alert_policies(terraform)["hitl_session_too_long"]["notification_channels"]
    assert "google_monitoring_notification_channel.session_cleanup.name" in session


def test_the_long_session_alert_triggers_cleanup_through_the_session_topic(terraform):
    cleanup = resource(terraform, "google_monitoring_notification_channel", "session_cleanup")
    slack = resource(terraform, "google_monitoring_notification_channel", "slack")
    topics = {t["name"]: t for t in pubsub_yaml()["topics"]}
    monitoring = resource(terraform, "google_pubsub_topic_iam_member", "monitoring_publisher")

    assert cleanup["type"] == "pubsub"
    assert cleanup["labels"]["topic"] == '${google_pubsub_topic.topic["session-management-topic"].id}'
    assert topics["session-management-topic"]["alerts"] == ["hitl-session-too-long"]
    for topic in topics.values():
        for alert in topic.get("alerts", []):
            assert alert.replace("-", "_") in alert_policies(terraform), alert
    assert [s["push_function"] for s in subscriptions().values() if s["topic"] == "session-management-topic"] == [
        "session_cleanup_service"]
    assert (monitoring["role"], monitoring["member"]) == ("roles/pubsub.publisher",
                                                          '${local.service_agents["monitoring"]}')
    # Slack's token is read from Secret Manager, not given as a variable.
    assert slack["sensitive_labels"][0]["auth_token"] == (
        "${data.google_secret_manager_secret_version.slack_token[0].secret_data}")
    assert not any("token" in name for name in terraform["variable"])


# -- Dashboards ---------------------------------------------------------------------------------


def widgets(layout: dict[str, Any]) -> list[dict[str, Any]]:
    return [tile["widget"] for tile in layout["mosaicLayout"]["tiles"]]


def metric_types(widget: dict[str, Any]) -> list[str]:
    return re.findall(r'metric\.type=\\?"([^"\\]+)', json.dumps(widget))


def test_three_dashboards_are_loaded_from_json_files(terraform):
    files = terraform["locals"]["dashboards"]
    board = resource(terraform, "google_monitoring_dashboard", "hitl")

    assert set(files) == {"hitl_performance", "user_engagement", "phase_quality"}
    assert board["dashboard_json"] == '${file("${path.module}/dashboards/${each.value}")}'
    assert sorted(p.name for p in (INFRA / "dashboards").glob("*.json")) == sorted(files.values())
    for name in files.values():
        layout = dashboard(name)
        assert layout["displayName"].startswith("Mangaflow"), name
        assert len(widgets(layout)) >= 4, name


def test_every_dashboard_metric_has_a_descriptor_and_every_descriptor_is_shown(terraform):
    declared = {PREFIX + name for name in terraform["locals"]["hitl_metrics"]}
    shown: set[str] = set()
    for name in terraform["locals"]["dashboards"].values():
        for widget in widgets(dashboard(name)):
            for metric in metric_types(widget):
                assert metric in declared or metric.startswith(BUILT_IN), (name, widget["title"], metric)
                shown.add(metric)
    assert declared <= shown, f"never on a dashboard: {sorted(declared - shown)}"


def series_filters(node: Any) -> list[dict[str, Any]]:
    """Every timeSeriesFilter (filter + aggregation) in a widget, however deep."""
    if isinstance(node, dict):
        found = [node["timeSeriesFilter"]] if "timeSeriesFilter" in node else []
        return found + [f for value in node.values() for f in series_filters(value)]
    if isinstance(node, list):
        return [f for value in node for f in series_filters(value)]
    return []


def test_dashboard_queries_align_each_metric_as_its_kind_allows(terraform):
    kinds = {PREFIX + n: m["value_type"] for n, m in terraform["locals"]["hitl_metrics"].items()}
    for name in terraform["locals"]["dashboards"].values():
        for widget in widgets(dashboard(name)):
            for query in series_filters(widget):
                [metric] = metric_types(query)
                aggregation = query["aggregation"]
                if kinds.get(metric) == "DISTRIBUTION":
                    assert aggregation["perSeriesAligner"] == "ALIGN_DELTA", (name, widget["title"])
                    assert aggregation["crossSeriesReducer"].startswith("REDUCE_PERCENTILE_"), widget["title"]
                else:
                    assert aggregation["perSeriesAligner"] in {"ALIGN_MEAN", "ALIGN_MAX"}, widget["title"]
                assert re.fullmatch(r"\d+s", aggregation["alignmentPeriod"]), widget["title"]


def test_dashboard_tiles_fit_the_grid_without_overlap():
    for path in (INFRA / "dashboards").glob("*.json"):
        layout = json.loads(path.read_text(encoding="utf-8"))["mosaicLayout"]
        cells: set[tuple[int, int]] = set()
        for tile in layout["tiles"]:
            x, y, w, h = tile.get("xPos", 0), tile.get("yPos", 0), tile["width"], tile["height"]
            assert 0 <= x and x + w <= layout["columns"], (path.name, tile["widget"]["title"])
            area = {(i, j) for i in range(x, x + w) for j in range(y, y + h)}
            assert not cells & area, (path.name, tile["widget"]["title"])
            cells |= area
