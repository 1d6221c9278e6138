"""The settings dataclass: defaults, environment overrides and named errors."""

from __future__ import annotations

import pytest

from mangaflow import config


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("GOOGLE_CLOUD_PROJECT", "MANGAFLOW_PROVIDER", "HITL_TIMEOUT_SECONDS", "RATE_LIMIT_PER_MINUTE",
                "MAX_CONCURRENT_REQUESTS_PER_USER", "CLOUD_SQL_INSTANCE", "MANGAFLOW_BUCKET_TEMP_DATA"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = config.Settings.from_env()
    assert s.google_cloud_project == "mangaflow-local" and s.provider == "offline"
    assert (s.hitl_timeout_s, s.rate_limit_per_minute, s.max_concurrent_requests_per_user) == (1800, 1000, 3)
    assert s.bucket("input_data") == "mangaflow-local-manga-input-data"
    assert len(s.buckets) == 6


def test_overrides_and_bounds(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GOOGLE_CLOUD_PROJECT", "p1")
    clean_env.setenv("MANGAFLOW_PROVIDER", "simulated")
    clean_env.setenv("HITL_TIMEOUT_SECONDS", "30")
    clean_env.setenv("MANGAFLOW_BUCKET_TEMP_DATA", "scratch")
    s = config.Settings.from_env()
    assert (s.provider, s.hitl_timeout_s, s.bucket("final_products"), s.bucket("temp_data")) == (
        "simulated", 30, "p1-manga-final-products", "scratch")
    clean_env.setenv("HITL_TIMEOUT_SECONDS", "29")
    with pytest.raises(config.ConfigError, match="HITL_TIMEOUT_SECONDS must be between 30 and 86400"):
        config.Settings.from_env()
    clean_env.setenv("HITL_TIMEOUT_SECONDS", "soon")
    with pytest.raises(config.ConfigError, match="HITL_TIMEOUT_SECONDS must be a whole number"):
        config.Settings.from_env()
    clean_env.delenv("HITL_TIMEOUT_SECONDS")
    clean_env.setenv("MANGAFLOW_PROVIDER", "openai")
    with pytest.raises(config.ConfigError, match="MANGAFLOW_PROVIDER"):
        config.Settings.from_env()
    assert config.clamp_hitl_timeout(5) == 30 and config.clamp_hitl_timeout(10**6) == 86400
    with pytest.raises(config.ConfigError, match="bucket kind"):
        config.Settings().bucket("photos")
