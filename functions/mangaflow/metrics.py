"""The HITL metrics of docs/deploy.md ("Metrics") through one OpenTelemetry instrumentation, with the
exporter the settings name: Cloud Monitoring in the cloud, Prometheus text locally.

Two meter providers, both exported the same way: `events` holds what happens (a phase's completion
time, a failed publish), recorded where it happens; `state` holds the gauges, observed from the
stores whenever the metrics are collected (every worker observes the same rows). Locally the
gateway runs several worker processes, as Cloud Functions runs several instances: each process
writes its events in Prometheus text to MANGAFLOW_METRICS_DIR after every record, and the
gateway's `/_metrics` adds them up (cumulative counts add across processes, as Cloud Monitoring
adds up instances) beside the gauges it observes itself.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .config import settings

PHASES = tuple(range(1, 8))
WINDOW_S = 3600  # the rates are over the last hour (infra/monitoring.tf's descriptions)


@dataclass(frozen=True)
class Spec:
    """One metric as infra/monitoring.tf declares its descriptor (the exporter must match it)."""

    kind: str  # GAUGE or CUMULATIVE
    value_type: str  # DOUBLE or DISTRIBUTION
    unit: str
    description: str


SESSION_DURATION = "hitl/session_duration"
FEEDBACK_TIMEOUT_RATE = "hitl/feedback_timeout_rate"
USER_ENGAGEMENT_SCORE = "hitl/user_engagement_score"
PHASE_COMPLETION_TIME = "hitl/phase_completion_time"
RETRY_RATE_PER_PHASE = "hitl/retry_rate_per_phase"
PUBLISH_FAILURES = "mangaflow/event_publish_failures"

HITL: dict[str, Spec] = {
    SESSION_DURATION: Spec("GAUGE", "DOUBLE", "s", "Seconds the oldest still-open approval session of a phase has "
                           "been waiting (0 when none is open); an observable gauge reported every minute."),
    FEEDBACK_TIMEOUT_RATE: Spec("GAUGE", "DOUBLE", "1", "Share (0-1) of the approval gates of a phase decided in the "
                                "last hour that ended by timeout rather than a person's answer."),
    USER_ENGAGEMENT_SCORE: Spec("GAUGE", "DOUBLE", "1", "Share (0-1) of the approval gates of a phase decided in the "
                                "last hour that a person answered (approve, modify, skip, chat) rather than left to "
                                "time out."),
    PHASE_COMPLETION_TIME: Spec("CUMULATIVE", "DISTRIBUTION", "s", "Seconds from a phase's start to its approved "
                                "output, gate wait excluded; a histogram recorded when the phase completes."),
    RETRY_RATE_PER_PHASE: Spec("GAUGE", "DOUBLE", "1", "Share (0-1) of a phase's attempts in the last hour that were "
                               "quality-gate retries."),
}
# Phase times run from under a second (offline) to many minutes (a slow model): bucket bounds in s.
COMPLETION_BUCKETS_S = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _Instrumentation:
    """The providers, readers and instruments of this process (made on first use, per process)."""

    def __init__(self, readers: tuple[Any, Any] | None = None) -> None:
        from opentelemetry.sdk.metrics import MeterProvider

        config = settings()
        self.exporter_kind = "given" if readers else config.metrics_exporter
        self.spool_dir = Path(config.metrics_dir) if config.metrics_dir else None
        self.lock = threading.Lock()
        resource = _resource(self.exporter_kind)
        if readers:  # tests hand in their own (in-memory) readers
            self.events_reader, self.state_reader = readers
        elif self.exporter_kind == "cloud_monitoring":
            from opentelemetry.exporter.cloud_monitoring import CloudMonitoringMetricsExporter
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            exporter = CloudMonitoringMetricsExporter(project_id=config.google_cloud_project,
                                                      prefix=config.metrics_prefix)
            self.events_reader: Any = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
            self.state_reader: Any = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
        else:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self.events_registry, self.state_registry = CollectorRegistry(), CollectorRegistry()
            self.events_reader = PrometheusMetricReader(disable_target_info=True, registry=self.events_registry)
            self.state_reader = PrometheusMetricReader(registry=self.state_registry)
        self.events = MeterProvider(metric_readers=[self.events_reader], resource=resource)
        self.state = MeterProvider(metric_readers=[self.state_reader], resource=resource)
        meter = self.events.get_meter("mangaflow")
        self.completion = meter.create_histogram(
            PHASE_COMPLETION_TIME, unit="s", description=HITL[PHASE_COMPLETION_TIME].description,
            explicit_bucket_boundaries_advisory=COMPLETION_BUCKETS_S)
        self.publish_failures = meter.create_counter(
            PUBLISH_FAILURES, unit="1", description="Events the functions could not publish on Pub/Sub.")
        observed = self.state.get_meter("mangaflow")
        for name, pick in ((SESSION_DURATION, "session_age_s"), (FEEDBACK_TIMEOUT_RATE, "timeout_rate"),
                           (USER_ENGAGEMENT_SCORE, "engagement"), (RETRY_RATE_PER_PHASE, "retry_rate")):
            observed.create_observable_gauge(name, callbacks=[_observer(pick)], unit=HITL[name].unit,
                                             description=HITL[name].description)

    def recorded(self) -> None:
        """Locally: write this process's events where /_metrics adds them up (atomically)."""
        if self.spool_dir is None or self.exporter_kind != "prometheus":
            return
        from prometheus_client import generate_latest

        with self.lock:
            text = generate_latest(self.events_registry)
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            target = self.spool_dir / f"{os.getpid()}.prom"
            scratch = target.with_suffix(".tmp")
            scratch.write_bytes(text)
            os.replace(scratch, target)


def _resource(exporter_kind: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    base = Resource.create({"service.name": "mangaflow"})
    if exporter_kind != "cloud_monitoring":
        return base
    # In the cloud each function instance is its own monitored resource (Cloud Run: generic_task
    # with the instance id), so instances write separate series that Monitoring adds up.
    from opentelemetry.resourcedetector.gcp_resource_detector import GoogleCloudResourceDetector
    from opentelemetry.sdk.resources import get_aggregated_resources

    return get_aggregated_resources([GoogleCloudResourceDetector(raise_on_error=False)], initial_resource=base)


_made: _Instrumentation | None = None
_made_pid = 0
_made_lock = threading.Lock()


def instrumentation() -> _Instrumentation:
    global _made, _made_pid
    with _made_lock:
        if _made is None or _made_pid != os.getpid():
            _made, _made_pid = _Instrumentation(), os.getpid()
        return _made


def reset(readers: tuple[Any, Any] | None = None) -> None:
    """Forget this process's instruments (tests that change the exporter settings), or read them
    with the given (events, state) readers from now on."""
    global _made, _made_pid
    with _made_lock:
        if _made is not None:
            _made.events.shutdown()
            _made.state.shutdown()
        _made = _Instrumentation(readers) if readers else None
        _made_pid = os.getpid()


# -- what happens ------------------------------------------------------------------------------


def phase_completed(phase: int, seconds: float) -> None:
    """A phase reached its approved output after `seconds` of work (gate waits excluded)."""
    made = instrumentation()
    made.completion.record(max(0.0, float(seconds)), {"phase": str(phase)})
    made.recorded()


def event_publish_failed(event: str) -> None:
    made = instrumentation()
    made.publish_failures.add(1, {"event": event})
    made.recorded()


# -- what is, observed from the stores ---------------------------------------------------------

_figures_cache: tuple[float, dict[int, dict[str, float]]] = (0.0, {})


def hitl_figures(now: dt.datetime | None = None) -> dict[int, dict[str, float]]:
    """Per phase 1-7: session_age_s, timeout_rate, engagement, retry_rate (0.0 when nothing
    happened), from the gates and phase runs of the last hour."""
    from .bootstrap import stores

    now = now or dt.datetime.now(dt.timezone.utc)
    rows = {int(row["phase"]): row for row in stores().operations.hitl_figures(now, WINDOW_S)}
    figures = {}
    for phase in PHASES:
        row = rows.get(phase, {})
        decided, attempts = int(row.get("decided") or 0), int(row.get("attempts") or 0)
        oldest = row.get("oldest_open_at")
        figures[phase] = {
            "session_age_s": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            "timeout_rate": float(row.get("timed_out") or 0) / decided if decided else 0.0,
            "engagement": float(row.get("answered") or 0) / decided if decided else 0.0,
            "retry_rate": float(row.get("retries") or 0) / attempts if attempts else 0.0,
        }
    return figures


def _observer(pick: str) -> Any:
    from opentelemetry.metrics import Observation

    def observe(_options: Any) -> Iterable[Observation]:
        global _figures_cache
        # The four gauges of one collection share one query.
        taken, figures = _figures_cache
        if time.monotonic() - taken > 1.0:
            figures = hitl_figures()
            _figures_cache = (time.monotonic(), figures)
        return [Observation(float(values[pick]), {"phase": str(phase)}) for phase, values in figures.items()]

    return observe


# -- the local Prometheus endpoint --------------------------------------------------------------


def prometheus_text() -> bytes:
    """Prometheus exposition of everything: the gauges observed now, and the events of every
    process that wrote to MANGAFLOW_METRICS_DIR (or of this process alone), added up."""
    from prometheus_client import CollectorRegistry, generate_latest

    global _figures_cache
    made = instrumentation()
    if made.exporter_kind != "prometheus":
        raise RuntimeError("the Prometheus endpoint needs MANGAFLOW_METRICS_EXPORTER=prometheus")
    _figures_cache = (0.0, {})  # a scrape always observes the stores afresh
    state = generate_latest(made.state_registry)
    if made.spool_dir is None:
        texts = [generate_latest(made.events_registry).decode()]
    else:
        made.recorded()  # this process's own events, even if it recorded none yet
        texts = [path.read_text(encoding="utf-8") for path in sorted(made.spool_dir.glob("*.prom"))]
    merged = CollectorRegistry()
    merged.register(_Summed(texts))
    return state + generate_latest(merged)


class _Summed:
    """A Prometheus collector yielding the sum of several processes' cumulative families."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def collect(self) -> Iterable[Any]:
        from prometheus_client.metrics_core import Metric
        from prometheus_client.parser import text_string_to_metric_families
        from prometheus_client.samples import Sample

        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for text in self.texts:
            for family in text_string_to_metric_families(text):
                families.setdefault(family.name, family)
                sums = values.setdefault(family.name, {})
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    sums[key] = sums.get(key, 0.0) + sample.value
        for name, family in families.items():
            total = Metric(name, family.documentation, family.type, family.unit)
            total.samples = [Sample(sample_name, dict(labels), value) for (sample_name, labels), value
                             in values[name].items()]
            yield total
