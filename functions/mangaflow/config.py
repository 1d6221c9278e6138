"""All run-time settings in one frozen dataclass, read from the environment with local defaults.
Cloud and laptop differ only by these variables, never by branches in domain code."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, fields

PROVIDERS = ("offline", "vertex", "simulated")
IMAGE_MODES = ("panel", "page")
# What the fault switch can inject (issue 9): HTTP 429/500/503 answers, a call that times out, a call that hangs.
FAULT_KINDS = ("429", "500", "503", "timeout", "hang")
AUTH_MODES = ("local", "google")
HITL_TIMEOUT_MIN_S = 30
HITL_TIMEOUT_MAX_S = 86_400
BUCKET_KINDS = (
    "input_data",
    "output_images",
    "preview_cache",
    "version_snapshots",
    "final_products",
    "temp_data",
)


from .errors import ConfigError  # noqa: E402  (re-exported: the one tree)


def _int(name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}", field=name) from err
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value


def _float(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between {low} and {high}, got {raw!r}", field=name) from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value


def _str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip() or default


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _str(name, default).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}", field=name)
    return value


def _kinds(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of fault kinds, e.g. "429,503,timeout"; each must be one of FAULT_KINDS."""
    raw = _str(name)
    if not raw:
        return default
    kinds = tuple(k.strip().lower() for k in raw.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds:
        raise ConfigError(f"{name} must list some of {', '.join(FAULT_KINDS)}, got {raw!r}", field=name)
    return kinds


@dataclass(frozen=True)
class Settings:
    """One place for every setting; build with `Settings.from_env()` or the cached `settings()`."""

    google_cloud_project: str = "mangaflow-local"
    region: str = "asia-northeast1"
    # PostgreSQL: DATABASE_URL locally; on Cloud Run the connector with private IP and IAM auth.
    database_url: str = ""
    cloud_sql_instance: str = ""  # "project:region:instance"; when set it wins over DATABASE_URL
    db_user: str = "mangaflow"
    db_name: str = "mangaflow"
    redis_url: str = ""
    storage_emulator_host: str = ""
    firestore_emulator_host: str = ""
    provider: str = "offline"
    hitl_timeout_s: int = 1800
    rate_limit_per_minute: int = 1000
    max_concurrent_requests_per_user: int = 3
    # Scales the quality-gate back-off (1/2/1/2/5/1/2 s doubling); tests and demos may shorten it.
    quality_delay_scale: float = 1.0
    buckets: dict[str, str] = field(default_factory=dict)
    # Who is calling: "local" developer identities, or Google ID tokens checked against the audience.
    auth_mode: str = "local"
    auth_audience: str = ""
    # How many proxies in front of the function append to X-Forwarded-For (Cloud Run / Functions: 1,
    # the Google front end); 0 means the socket's peer address is the client.
    trusted_proxy_hops: int = 0
    public_url: str = ""
    # Artifacts handed out as short-lived V4 signed URLs (the cloud) instead of through the function.
    signed_urls: bool = False
    # The key that signs approval links and local identities (Secret Manager in the cloud).
    signing_key: str = field(default="", repr=False)
    # Cloud Workflows: the local engine (host:port) when set, and the pipeline's full resource name.
    workflows_emulator_host: str = ""
    workflows_grpc_emulator_host: str = ""
    workflow_name: str = ""
    # Models: Vertex AI (a local stand-in at host:port when set), or the simulated delay per call.
    vertex_emulator_host: str = ""
    vertex_location: str = "global"
    text_model: str = "gemini-2.5-flash"
    image_model: str = "gemini-2.5-flash-image"
    # Every model call (any provider): a deadline, retries with exponential back-off (+0-25 % jitter).
    model_backoff_s: float = 1.0
    model_retries: int = 3
    text_deadline_s: float = 60.0
    image_deadline_s: float = 120.0
    # A phase call stops asking models this long after it started (the workflow waits
    # phase_call_timeout_s for its answer, then retries it): images fall back, text calls fail over.
    phase_call_deadline_s: float = 240.0
    phase_call_timeout_s: int = 300
    # Panels drawn at once for a vertex request: the fan-out never asks the image model faster than the quota.
    vertex_concurrency: int = 4
    # Threads a process draws procedural panels on (phase 5; phase5_images.drawing_threads). One: the local
    # gateway runs a worker per core, and in the cloud procedural art is only the image model's fallback;
    # each drawing thread keeps a drawing's worth of memory (bench/RESULTS.md, "Memory").
    drawings_at_once: int = 1
    # Threads a process composes phase 7's pages on for `page` calls (phase7_finalize.page_threads). One, as for
    # drawings: the page calls spread over the workers and read their panels before they queue, and each page
    # being composed holds its pixels and its panels' (two per worker raised a 32-page book's peak per worker
    # by about 20-40 MB; bench/RESULTS.md, "Memory").
    pages_at_once: int = 1
    # Phase 5 composes a page as soon as its last panel is drawn, lettered as phase 6 will letter it
    # (phase5_images.Images.finish_page_of): 1 (the default) or 0, phase 7 composing every page itself.
    pages_with_panels: int = 1
    # Spend per request when the request names none (US dollars at list price, prices.json), and how panels
    # are drawn by an image model: one call per panel, or one per page cut along the frames.
    budget_usd: float = 2.0
    image_mode: str = "panel"
    simulated_latency_s: float = 0.05
    simulated_image_latency_s: float = 0.05
    # The fault switch: this fraction of provider calls fails, as one of `fault_kinds` (seeded, deterministic).
    fault_rate: float = 0.0
    fault_seed: int = 0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    # Quality analytics: DuckDB at analytics_db locally, BigQuery (dataset, location) in the cloud.
    analytics: str = "duckdb"
    analytics_db: str = ".local/analytics.duckdb"
    bigquery_dataset: str = "manga_quality_analytics"
    bigquery_location: str = ""
    # Where the SQL migrations are (the repository's or the bundle's schemas/sql by default).
    sql_dir: str = ""
    # Events on Pub/Sub (the local stand-in at host:port when set); gate_opened goes to notify_topic,
    # and hitl_feedback_processor also POSTs review links to review_webhook_url when one is set.
    pubsub_emulator_host: str = ""
    notify_topic: str = ""
    review_webhook_url: str = field(default="", repr=False)
    # HITL metrics: "prometheus" (each process's figures under metrics_dir, served by the local
    # gateway's /_metrics) or "cloud_monitoring" (metric types under metrics_prefix).
    metrics_exporter: str = "prometheus"
    metrics_prefix: str = "workload.googleapis.com"
    metrics_dir: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        """Reads the environment; raises ConfigError naming the variable and its limits."""
        project = _str("GOOGLE_CLOUD_PROJECT", cls.google_cloud_project)
        provider = _str("MANGAFLOW_PROVIDER", cls.provider).lower()
        if provider not in PROVIDERS:
            raise ConfigError(f"MANGAFLOW_PROVIDER must be one of {', '.join(PROVIDERS)}, got {provider!r}",
                              field="MANGAFLOW_PROVIDER")
        auth_mode = _str("MANGAFLOW_AUTH", cls.auth_mode).lower()
        if auth_mode not in AUTH_MODES:
            raise ConfigError(f"MANGAFLOW_AUTH must be one of {', '.join(AUTH_MODES)}, got {auth_mode!r}",
                              field="MANGAFLOW_AUTH")
        # Any bucket can be renamed with e.g. MANGAFLOW_BUCKET_FINAL_PRODUCTS; default is the
        # infrastructure design's "{project}-manga-final-products".
        buckets = {
            kind: _str(f"MANGAFLOW_BUCKET_{kind.upper()}", f"{project}-manga-{kind.replace('_', '-')}")
            for kind in BUCKET_KINDS
        }
        return cls(
            google_cloud_project=project,
            region=_str("MANGAFLOW_REGION", cls.region),
            database_url=_str("DATABASE_URL"),
            cloud_sql_instance=_str("CLOUD_SQL_INSTANCE"),
            db_user=_str("DB_USER", cls.db_user),
            db_name=_str("DB_NAME", cls.db_name),
            redis_url=_str("REDIS_URL"),
            storage_emulator_host=_str("STORAGE_EMULATOR_HOST"),
            firestore_emulator_host=_str("FIRESTORE_EMULATOR_HOST"),
            provider=provider,
            hitl_timeout_s=_int("HITL_TIMEOUT_SECONDS", cls.hitl_timeout_s, HITL_TIMEOUT_MIN_S, HITL_TIMEOUT_MAX_S),
            rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute, 1, 1_000_000),
            max_concurrent_requests_per_user=_int("MAX_CONCURRENT_REQUESTS_PER_USER", 3, 1, 1000),
            quality_delay_scale=_float("MANGAFLOW_QUALITY_DELAY_SCALE", 1.0, 0.0, 10.0),
            buckets=buckets,
            auth_mode=auth_mode,
            auth_audience=_str("MANGAFLOW_AUTH_AUDIENCE"),
            trusted_proxy_hops=_int("MANGAFLOW_TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops, 0, 5),
            public_url=_str("MANGAFLOW_PUBLIC_URL").rstrip("/"),
            signed_urls=_str("MANGAFLOW_SIGNED_URLS") == "1",
            signing_key=_str("MANGAFLOW_SIGNING_KEY"),
            workflows_emulator_host=_str("WORKFLOWS_EMULATOR_HOST"),
            workflows_grpc_emulator_host=_str("WORKFLOWS_GRPC_EMULATOR_HOST"),
            workflow_name=_str("MANGAFLOW_WORKFLOW") or
            f"projects/{project}/locations/{_str('MANGAFLOW_REGION', cls.region)}/workflows/manga_pipeline",
            vertex_emulator_host=_str("VERTEX_AI_EMULATOR_HOST"),
            vertex_location=_str("GOOGLE_CLOUD_LOCATION", cls.vertex_location),
            text_model=_str("MANGAFLOW_TEXT_MODEL", cls.text_model),
            image_model=_str("MANGAFLOW_IMAGE_MODEL", cls.image_model),
            # MANGAFLOW_VERTEX_BACKOFF_S is the name this setting had when only Vertex calls were retried.
            model_backoff_s=_float("MANGAFLOW_MODEL_BACKOFF_S", _float("MANGAFLOW_VERTEX_BACKOFF_S", cls.model_backoff_s,
                                                                       0.0, 60.0), 0.0, 60.0),
            model_retries=_int("MANGAFLOW_MODEL_RETRIES", cls.model_retries, 0, 10),
            text_deadline_s=_float("MANGAFLOW_TEXT_DEADLINE_S", cls.text_deadline_s, 0.05, 600.0),
            image_deadline_s=_float("MANGAFLOW_IMAGE_DEADLINE_S", cls.image_deadline_s, 0.05, 600.0),
            phase_call_deadline_s=_float("MANGAFLOW_PHASE_CALL_DEADLINE_S", cls.phase_call_deadline_s, 1.0, 3600.0),
            phase_call_timeout_s=_int("MANGAFLOW_PHASE_CALL_TIMEOUT_S", cls.phase_call_timeout_s, 2, 1800),
            vertex_concurrency=_int("MANGAFLOW_VERTEX_CONCURRENCY", cls.vertex_concurrency, 1, 20),
            drawings_at_once=_int("MANGAFLOW_DRAWINGS_AT_ONCE", cls.drawings_at_once, 1, 64),
            pages_at_once=_int("MANGAFLOW_PAGES_AT_ONCE", cls.pages_at_once, 1, 64),
            pages_with_panels=_int("MANGAFLOW_PAGES_WITH_PANELS", cls.pages_with_panels, 0, 1),
            budget_usd=_float("MANGAFLOW_BUDGET_USD", cls.budget_usd, 0.0, 1000.0),
            image_mode=_choice("MANGAFLOW_IMAGE_MODE", cls.image_mode, IMAGE_MODES),
            simulated_latency_s=_float("MANGAFLOW_SIMULATED_LATENCY_S", cls.simulated_latency_s, 0.0, 600.0),
            simulated_image_latency_s=_float("MANGAFLOW_SIMULATED_IMAGE_LATENCY_S", cls.simulated_image_latency_s,
                                             0.0, 600.0),
            fault_rate=_float("MANGAFLOW_FAULT_RATE", cls.fault_rate, 0.0, 1.0),
            fault_seed=_int("MANGAFLOW_FAULT_SEED", cls.fault_seed, 0, 2 ** 31 - 1),
            fault_kinds=_kinds("MANGAFLOW_FAULT_KINDS", cls.fault_kinds),
            analytics=_choice("MANGAFLOW_ANALYTICS", cls.analytics, ("duckdb", "bigquery")),
            analytics_db=_str("MANGAFLOW_ANALYTICS_DB", cls.analytics_db),
            bigquery_dataset=_str("BIGQUERY_DATASET", cls.bigquery_dataset),
            bigquery_location=_str("BIGQUERY_LOCATION"),
            sql_dir=_str("MANGAFLOW_SQL_DIR"),
            pubsub_emulator_host=_str("PUBSUB_EMULATOR_HOST"),
            notify_topic=_str("MANGAFLOW_NOTIFY_TOPIC", f"projects/{project}/topics/hitl-feedback-topic"),
            review_webhook_url=_str("MANGAFLOW_REVIEW_WEBHOOK_URL"),
            metrics_exporter=_choice("MANGAFLOW_METRICS_EXPORTER", cls.metrics_exporter,
                                     ("prometheus", "cloud_monitoring")),
            metrics_prefix=_str("MANGAFLOW_METRICS_PREFIX", cls.metrics_prefix),
            metrics_dir=_str("MANGAFLOW_METRICS_DIR"),
        )

    @property
    def has_cloud_project(self) -> bool:
        """A real Google Cloud project was named (not the local stack's default)."""
        return bool(self.google_cloud_project) and self.google_cloud_project != Settings.google_cloud_project

    def bucket(self, kind: str) -> str:
        """The bucket name of one kind (input_data, output_images, ... temp_data)."""
        if kind not in self.buckets:
            raise ConfigError(f"bucket kind must be one of {', '.join(BUCKET_KINDS)}, got {kind!r}")
        return self.buckets[kind]

    def as_dict(self) -> dict[str, object]:
        """Every setting, the signing key masked (this is what may be logged)."""
        secret = {"signing_key", "review_webhook_url"}
        return {f.name: ("***" if f.name in secret and getattr(self, f.name) else getattr(self, f.name))
                for f in fields(self)}


def clamp_hitl_timeout(seconds: float) -> int:
    """A per-request HITL timeout bounded to 30 s .. 24 h."""
    return int(min(max(seconds, HITL_TIMEOUT_MIN_S), HITL_TIMEOUT_MAX_S))


_PREFIXES = ("MANGAFLOW_", "GOOGLE_", "DATABASE_URL", "REDIS_URL", "STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST",
             "WORKFLOWS_", "VERTEX_", "CLOUD_SQL_", "DB_", "HITL_", "RATE_LIMIT_", "MAX_CONCURRENT_", "BIGQUERY_",
             "PUBSUB_")


@functools.lru_cache(maxsize=8)
def _settings_for(environment: frozenset[tuple[str, str]]) -> Settings:
    return Settings.from_env()


def settings() -> Settings:
    """The process's settings, read again only when the environment they come from changed."""
    return _settings_for(frozenset((k, v) for k, v in os.environ.items() if k.startswith(_PREFIXES)))


settings.cache_clear = _settings_for.cache_clear  # type: ignore[attr-defined]
