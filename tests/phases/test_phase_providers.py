"""Providers: the offline one is the default; the simulated one adds latency and nothing else."""
import time

from mangaflow.providers import OfflineProvider, Provider, SimulatedProvider, get_provider

from _text_phase_runs import GARDENER, run_text_phases, story, without_metadata


def test_offline_is_the_default_and_satisfies_the_protocol(monkeypatch):
    monkeypatch.delenv("MANGAFLOW_PROVIDER", raising=False)
    provider = get_provider()
    assert isinstance(provider, OfflineProvider) and isinstance(provider, Provider)


def test_asking_for_vertex_never_silently_gives_the_offline_provider(monkeypatch):
    """Vertex is what was asked for: Vertex, or a clear error naming what is missing; an unknown
    provider name is a configuration error naming the choices."""
    import pytest

    from mangaflow.errors import ConfigError, ValidationError

    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("VERTEX_AI_EMULATOR_HOST", raising=False)
    with pytest.raises(ValidationError, match="GOOGLE_CLOUD_PROJECT"):
        get_provider("vertex")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "a-real-project")
    assert get_provider("vertex").name == "vertex"
    with pytest.raises(ConfigError, match="offline, simulated or vertex"):
        get_provider("gemini")


def test_simulated_provider_sleeps_per_call_and_gives_the_offline_result():
    simulated = SimulatedProvider({"concept": 0.05, "characters": 0.0, "plot": 0.0, "storyboard": 0.0})
    started = time.perf_counter()
    slow = run_text_phases(story(GARDENER), provider=simulated)
    elapsed = time.perf_counter() - started
    fast = run_text_phases(story(GARDENER))
    assert elapsed >= 0.05
    assert simulated.calls == {"concept": 1, "characters": 1, "plot": 1, "storyboard": 1, "panel_description": 0}
    for key in ("concept", "characters", "plot", "storyboard"):
        assert without_metadata(slow[key]) == without_metadata(fast[key])
    assert slow["plot"]["processing_metadata"]["provider"] == "simulated"


def test_simulated_latency_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MANGAFLOW_SIMULATED_LATENCY_S", "0.25")
    assert SimulatedProvider().latency_s == 0.25
    monkeypatch.setenv("MANGAFLOW_PROVIDER", "simulated")
    assert get_provider().name == "simulated"
