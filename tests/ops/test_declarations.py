"""The code and the declarations agree: the events go on the topics infra/pubsub.yaml names; the
instruments are exported to Cloud Monitoring with exactly the kinds, value types, units and the one
label `phase` that infra/monitoring.tf and docs/deploy.md declare; Pub/Sub and the scheduler are parts
of the local stack that reach the gateway, and `services status` says so (and says what to run when not)."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "infra"))


def test_each_event_goes_on_the_topic_the_yaml_names_for_it():
    from mangaflow import events

    declared = {event: topic["name"] for topic in yaml.safe_load((REPO / "infra" / "pubsub.yaml").read_text())["topics"]
                for event in topic.get("events", [])}

    assert events.TOPIC_OF == declared


def test_the_instruments_are_the_descriptors_monitoring_tf_and_the_docs_declare():
    from terraform_model import load

    from mangaflow import metrics

    declared = load()["locals"]["hitl_metrics"]
    assert set(metrics.HITL) == set(declared)
    for name, spec in metrics.HITL.items():
        assert (spec.kind, spec.value_type, spec.unit, spec.description) == (
            declared[name]["metric_kind"], declared[name]["value_type"], declared[name]["unit"],
            declared[name]["description"]), name
    docs = (REPO / "docs" / "deploy.md").read_text()
    for name, spec in metrics.HITL.items():
        assert f"| `{name}` | {spec.kind} / {spec.value_type} / {spec.unit} |" in docs, name


class RecordingMonitoring:
    """Stands in for Cloud Monitoring's MetricServiceClient (no local Monitoring exists): keeps the
    requests the official exporter makes."""

    def __init__(self) -> None:
        self.descriptors: list[Any] = []
        self.series: list[Any] = []

    @staticmethod
    def common_project_path(project: str) -> str:
        return f"projects/{project}"

    def create_metric_descriptor(self, request: Any) -> Any:
        self.descriptors.append(request.metric_descriptor)
        return request.metric_descriptor

    def create_time_series(self, request: Any) -> None:
        self.series.extend(request.time_series)


@pytest.fixture
def in_memory_metrics(stack):
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from mangaflow import metrics

    readers = (InMemoryMetricReader(), InMemoryMetricReader())
    metrics.reset(readers)
    yield readers
    metrics.reset()


def test_the_cloud_monitoring_exporter_writes_exactly_the_declared_descriptors(in_memory_metrics):
    from google.api import metric_pb2
    from opentelemetry.exporter.cloud_monitoring import CloudMonitoringMetricsExporter

    from mangaflow import metrics

    metrics.phase_completed(3, 1.25)
    client = RecordingMonitoring()
    exporter = CloudMonitoringMetricsExporter(project_id="p", client=client, prefix="workload.googleapis.com")
    for reader in in_memory_metrics:
        exporter.export(reader.get_metrics_data())

    kinds = metric_pb2.MetricDescriptor.MetricKind
    types = metric_pb2.MetricDescriptor.ValueType
    written = {d.type: d for d in client.descriptors}
    assert set(written) == {f"workload.googleapis.com/{name}" for name in metrics.HITL}
    for name, spec in metrics.HITL.items():
        descriptor = written[f"workload.googleapis.com/{name}"]
        assert (kinds.Name(descriptor.metric_kind), types.Name(descriptor.value_type), descriptor.unit) == (
            spec.kind, spec.value_type, spec.unit), name
        assert [label.key for label in descriptor.labels] == ["phase"], name
    phases = {(s.metric.type, s.metric.labels["phase"]) for s in client.series}
    assert ("workload.googleapis.com/hitl/phase_completion_time", "3") in phases
    assert {p for t, p in phases if t.endswith("session_duration")} == {str(n) for n in range(1, 8)}


def test_the_events_counter_counts_a_publish_that_fails(in_memory_metrics, monkeypatch):
    from mangaflow import events

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens there
    events.reset()
    try:
        assert events.run_finished("r-0000000000000000", "completed") is False
    finally:
        monkeypatch.undo()
        events.reset()

    data = in_memory_metrics[0].get_metrics_data()
    counted = [point.value for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
               if metric.name == "mangaflow/event_publish_failures" for point in metric.data.data_points
               if point.attributes == {"event": "run_finished"}]
    assert counted == [1]


def test_pubsub_and_the_scheduler_are_parts_that_reach_the_gateway(stack):
    from localcloud import supervisor

    rows = {row["name"]: row for row in supervisor.status()}
    env = supervisor.env()

    assert {"pubsub", "scheduler"} <= set(supervisor.PARTS["gateway"].depends_on)
    for name, variable in (("pubsub", "PUBSUB_EMULATOR_HOST"), ("scheduler", "CLOUD_SCHEDULER_EMULATOR_HOST")):
        assert rows[name]["healthy"] and rows[name]["links"] == [{"to": "gateway", "ok": True, "message": ""}], rows[name]
        assert env[variable] == rows[name]["endpoint"]
    assert {"to": "pubsub", "ok": True, "message": ""} in rows["gateway"]["links"]


def test_status_says_when_the_jobs_call_another_gateway_and_schedules_apply_mends_it(stack):
    from localcloud import supervisor
    from localcloud.supervisor.parts import apply_schedules

    scheduler = supervisor.endpoint("scheduler")
    try:
        apply_schedules(scheduler, "http://127.0.0.1:9")
        row = next(r for r in supervisor.status() if r["name"] == "scheduler")
        assert not row["healthy"]
        assert re.search(r"scheduled job manga-[a-z-]+ -> http://127\.0\.0\.1:9/\w+, but the gateway is at", row["message"])
        assert "mangaflow services up" in row["message"]
    finally:
        mended = apply_schedules(scheduler, stack["gateway"])
    assert len(mended["updated"]) == 4
    assert next(r for r in supervisor.status() if r["name"] == "scheduler")["healthy"]
