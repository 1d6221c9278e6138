"""VertexProvider through the real google-genai SDK to the local Vertex AI stand-in (a real subprocess)."""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from dataclasses import replace

from mangaflow.config import settings
from mangaflow.errors import ConfigError, UpstreamUnavailable, ValidationError
from mangaflow.phases import phase1_concept, phase2_characters, phase3_plot, phase4_name
from mangaflow.phases.phase5_images import describe_panel
from mangaflow.providers import CallScope, ImageJob, OfflineProvider, Provider, get_provider
from mangaflow.providers.images import reference
from mangaflow.providers.vertex import VertexProvider
from mangaflow.story import extract_quotes, normalise

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LANTERN = (EXAMPLES / "lantern-festival.ja.txt").read_text(encoding="utf-8")
GARDENER = (EXAMPLES / "the-last-robot-gardener.en.txt").read_text(encoding="utf-8")
PHASES = [("concept", phase1_concept), ("characters", phase2_characters), ("plot", phase3_plot),
          ("storyboard", phase4_name)]
GENERATE_PATH = "/v1beta1/projects/demo-project/locations/us-central1/publishers/google/models/{}:generateContent"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stub:
    """The running stand-in and its control endpoints."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.url = f"http://{host}"

    def call(self, method: str, path: str, body: object = None, headers: dict | None = None) -> tuple[int, object]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def configure(self, **change: object) -> None:
        status, _ = self.call("POST", "/__stub__/config", change)
        assert status == 200

    def requests(self) -> list[dict]:
        return self.call("GET", "/__stub__/requests")[1]  # type: ignore[return-value]


@pytest.fixture(scope="module")
def stub_server():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "localcloud.vertex_stub", "--port", str(port)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    stub = Stub(f"127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while True:
        try:
            if stub.call("GET", "/__stub__/health")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("vertex stub did not start: " + process.stdout.read().decode(errors="replace"))
        time.sleep(0.05)
    yield stub
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def stub(stub_server: Stub) -> Stub:
    stub_server.configure(mode="normal", times=None, fail={"code": 429, "count": 0})
    stub_server.call("DELETE", "/__stub__/requests")
    stub_server.call("DELETE", "/__stub__/inject")
    return stub_server


def quick(**changes: object) -> CallScope:
    """A scope that backs off 10 ms (and records nothing)."""
    return CallScope(config=replace(settings(), model_backoff_s=0.01, **changes))


@pytest.fixture
def vertex(stub: Stub) -> VertexProvider:
    return VertexProvider(project="demo-project", location="us-central1", base_url=stub.url, scope=quick())


def run_phases(text: str, provider: object, upto: int = 4, pages: int = 4) -> dict:
    inputs: dict = {"text": text, "pages": pages}
    for key, module in PHASES[:upto]:
        inputs[key] = module.run(inputs, None, provider)
    return inputs


def quoted_lines(text: str) -> list[str]:
    return [q.text for q in extract_quotes(normalise(text))]


def plot_lines(plot: dict) -> list[str]:
    return [b["text"] for s in plot["scenes"] for b in s["beats"] if b["kind"] == "dialogue"]


def board_lines(board: dict) -> list[str]:
    return [d["text"] for page in board["pages"] for p in page["panels"] for d in p["dialogues"]
            if d["kind"] not in ("narration", "sfx")]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("text", [LANTERN, GARDENER], ids=["ja", "en"])
def test_every_phase_round_trips_through_the_sdk_and_keeps_the_offline_shape(vertex, stub, text):
    assert isinstance(vertex, Provider)
    remote = run_phases(text, vertex)
    local = run_phases(text, OfflineProvider())
    for key, _ in PHASES:
        assert set(remote[key]) == set(local[key]), key
        assert remote[key]["processing_metadata"]["provider"] == "vertex"
    first = remote["storyboard"]["pages"][0]["panels"][0]["panel_id"]
    panel = describe_panel(remote, first, None, vertex)
    assert set(panel) == set(describe_panel(local, first, None, OfflineProvider()))
    assert panel["panel_id"] == first
    assert plot_lines(remote["plot"]) == quoted_lines(text)
    assert board_lines(remote["storyboard"]) == quoted_lines(text)
    assert len(stub.requests()) == 5  # one generateContent per phase call, no retries


def test_request_bodies_carry_the_real_vertex_fields(vertex, stub):
    vertex.concept({"text": GARDENER, "pages": 4}, {"text": "make it brighter", "option": "brighter",
                                                      "intensity": 0.8, "hints": ["tone too dark"]})
    [received] = stub.requests()
    assert received["path"] == GENERATE_PATH.format("gemini-2.5-flash")
    assert received["authorization"] == "Bearer "
    body = received["body"]
    assert body["contents"][0]["role"] == "user"
    prompt = body["contents"][0]["parts"][0]["text"]
    assert "brighter" in prompt and "tone too dark" in prompt and "```json" in prompt
    assert body["systemInstruction"]["parts"][0]["text"].startswith("You are the editor")
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT"
    assert {"theme", "genre", "story_context"} <= set(schema["properties"])
    assert schema["properties"]["genre"]["enum"] == ["shonen", "shojo", "seinen", "josei", "kodomo"]


def test_the_text_model_comes_from_the_environment(stub, monkeypatch):
    monkeypatch.setenv("MANGAFLOW_TEXT_MODEL", "gemini-2.5-pro")
    provider = VertexProvider(project="demo-project", location="us-central1", base_url=stub.url, scope=quick())
    provider.concept({"text": GARDENER}, None)
    assert stub.requests()[0]["path"] == GENERATE_PATH.format("gemini-2.5-pro")


def test_a_model_without_a_price_is_refused_before_any_call(stub, monkeypatch):
    monkeypatch.setenv("MANGAFLOW_IMAGE_MODEL", "gemini-9-ultra-image")
    with pytest.raises(ConfigError, match="gemini-9-ultra-image.*prices.json"):
        VertexProvider(project="demo-project", location="us-central1", base_url=stub.url)
    assert stub.requests() == []


def test_get_provider_reaches_the_stub_through_the_emulator_variable(stub, monkeypatch):
    monkeypatch.setenv("MANGAFLOW_PROVIDER", "vertex")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "emulated-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "asia-northeast1")
    monkeypatch.setenv("VERTEX_AI_EMULATOR_HOST", stub.host)
    provider = get_provider()
    assert provider.name == "vertex"
    out = phase1_concept.run({"text": LANTERN, "pages": 6}, None, provider)
    assert out["story_context"]["language"] == "ja" and out["story_context"]["pages"] == 6
    assert stub.requests()[0]["path"].startswith("/v1beta1/projects/emulated-project/locations/asia-northeast1/")


# ---------------------------------------------------------------- failures


def test_a_malformed_answer_is_asked_again_then_gives_upstream_unavailable(vertex, stub):
    stub.configure(mode="malformed")
    with pytest.raises(UpstreamUnavailable) as caught:
        vertex.concept({"text": GARDENER}, None)
    assert caught.value.status == 503 and "invalid JSON" in caught.value.message
    assert len(stub.requests()) == 2


def test_one_malformed_answer_is_survived_by_the_second_try(vertex, stub):
    stub.configure(mode="malformed", times=1)
    out = vertex.concept({"text": GARDENER}, None)
    assert out == OfflineProvider().concept({"text": GARDENER}, None)
    assert [r["mode"] for r in stub.requests()] == ["malformed", "normal"]


def test_an_empty_answer_counts_as_malformed(vertex, stub):
    stub.configure(mode="empty")
    with pytest.raises(UpstreamUnavailable, match="no text"):
        vertex.concept({"text": GARDENER}, None)


@pytest.mark.parametrize("code", [429, 503])
def test_transient_errors_twice_then_success_on_the_third(vertex, stub, code):
    stub.configure(fail={"code": code, "count": 2})
    out = vertex.concept({"text": GARDENER}, None)
    assert out["theme"]
    assert [r.get("injected") for r in stub.requests()] == [code, code, None]


def test_transient_errors_beyond_three_retries_give_upstream_unavailable(vertex, stub):
    stub.configure(fail={"code": 429, "count": 10})
    with pytest.raises(UpstreamUnavailable, match="after 4 tries.*429 RESOURCE_EXHAUSTED"):
        vertex.concept({"text": GARDENER}, None)
    assert len(stub.requests()) == 4


def test_a_refused_request_is_not_retried(vertex, stub):
    stub.configure(fail={"code": 403, "count": 1})
    with pytest.raises(UpstreamUnavailable) as caught:
        vertex.concept({"text": GARDENER}, None)
    assert caught.value.status == 502 and "PERMISSION_DENIED" in caught.value.message
    assert len(stub.requests()) == 1


def test_an_unreachable_endpoint_gives_upstream_unavailable():
    provider = VertexProvider(project="demo-project", location="us-central1",
                              base_url=f"http://127.0.0.1:{_free_port()}", scope=quick(model_retries=1))
    with pytest.raises(UpstreamUnavailable, match="after 2 tries"):
        provider.concept({"text": GARDENER}, None)


def test_a_missing_project_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(ValidationError) as caught:
        VertexProvider()
    assert caught.value.field == "GOOGLE_CLOUD_PROJECT"


# ---------------------------------------------------------------- repairing answers


def test_missing_fields_are_filled_from_the_offline_answer(vertex, stub):
    stub.configure(mode="partial")
    inputs = run_phases(GARDENER, OfflineProvider(), upto=2)
    for method in ("concept", "characters", "plot"):
        assert getattr(vertex, method)(inputs, None) == getattr(OfflineProvider(), method)(inputs, None), method
    received = stub.requests()
    assert [r["mode"] for r in received] == ["partial"] * 3


@pytest.mark.parametrize("text", [LANTERN, GARDENER], ids=["ja", "en"])
def test_a_quoted_line_the_model_drops_is_put_back_in_story_order(vertex, stub, text):
    inputs = run_phases(text, OfflineProvider(), upto=2)
    stub.configure(mode="drop_quote")
    plot = vertex.plot(inputs, None)
    assert plot_lines(plot) == quoted_lines(text)
    inputs["plot"] = phase3_plot.run(inputs, None, OfflineProvider())
    board = vertex.storyboard(inputs, None)
    assert board_lines(board) == quoted_lines(text)
    assert all(r["mode"] == "drop_quote" for r in stub.requests())


# ---------------------------------------------------------------- images


def png_of(size: tuple[int, int], colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def test_an_image_comes_back_as_png_bytes_of_the_asked_shape_with_its_usage_and_provenance(vertex, stub):
    sheet = reference("c1", png_of((64, 64), "white"))
    job = ImageJob("panel", "p01-1", "wide shot of a rooftop garden at dusk. Moss: an old maintenance robot",
                   (1600, 900), (sheet,), seed=1234)
    outcome = vertex.image(job)
    png = outcome.reply.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and outcome.reply.blocked is None
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.width > image.height
        # The stand-in's picture names the references it was sent: this one, exactly.
        assert image.text["References"] == sheet.sha256 and "stand-in" in image.text["Software"]
    assert outcome.reply.usage.image == 1290 and outcome.reply.usage.input > 258
    assert outcome.reply.model_version == "gemini-2.5-flash-image-local-stand-in" and outcome.reply.response_id
    assert outcome.cost_usd == pytest.approx((outcome.reply.usage.input * 0.30 + 1290 * 30.0) / 1e6)
    [received] = stub.requests()
    assert received["path"] == GENERATE_PATH.format("gemini-2.5-flash-image")
    config = received["body"]["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"] and config["imageConfig"]["aspectRatio"] == "16:9"
    assert config["seed"] == 1234
    parts = received["body"]["contents"][0]["parts"]
    assert "Moss: an old maintenance robot" in parts[0]["text"]
    assert parts[1]["inlineData"]["data"]["sha256"] == sheet.sha256
    assert received["labels"] == {"mangaflow-operation": "panel-image", "mangaflow-item": "p01-1"}


def test_a_safety_blocked_image_says_why_and_costs_only_its_prompt(vertex, stub):
    outcome = vertex.image(ImageJob("panel", "p01-1", "a panel stand-in:block-image", (800, 800)))
    assert outcome.reply.value is None and "IMAGE_SAFETY" in outcome.reply.blocked
    assert outcome.reply.usage.image == 0 and outcome.cost_usd < 0.0001
    prompt = vertex.image(ImageJob("panel", "p01-2", "a panel stand-in:block-prompt", (800, 800)))
    assert prompt.reply.value is None and "PROHIBITED_CONTENT" in prompt.reply.blocked


def test_an_answer_with_words_but_no_image_counts_as_no_image(vertex, stub):
    status, _ = stub.call("POST", "/__stub__/inject", {"match": {}, "block": "empty", "count": 1})
    assert status == 200
    outcome = vertex.image(ImageJob("panel", "p01-1", "a quiet harbour at dawn", (800, 800)))
    assert outcome.reply.value is None and outcome.reply.blocked == "the answer held no image"
    assert outcome.reply.usage.output > 0 and outcome.reply.usage.image == 0
    assert vertex.image(ImageJob("panel", "p01-1", "a quiet harbour at dawn", (800, 800))).reply.value


def test_the_stand_in_refuses_a_malformed_injection(stub):
    status, body = stub.call("POST", "/__stub__/inject", {"match": {"a": 1}, "fail": 429})
    assert status == 400 and "inject must be" in body["error"]["message"]
    status, body = stub.call("POST", "/__stub__/inject", {"fail": 429, "hang": 3})
    assert status == 400


def test_an_empty_image_prompt_is_refused(vertex):
    with pytest.raises(ValidationError) as caught:
        vertex.image(ImageJob("panel", "p01-1", "  ", (100, 100)))
    assert caught.value.field == "prompt"


# ---------------------------------------------------------------- the stand-in's own wire format


def test_the_stub_answers_bad_requests_with_google_error_bodies(stub):
    path = GENERATE_PATH.format("gemini-2.5-flash")
    auth = {"Authorization": "Bearer x"}
    status, body = stub.call("POST", path, {"generationConfig": {}}, auth)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT" and body["error"]["code"] == 400
    assert "contents" in body["error"]["message"]
    status, body = stub.call("POST", path, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    status, body = stub.call("POST", path, b"{not json", auth)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    status, body = stub.call("POST", "/v1beta1/projects/p/locations/l/publishers/google/models/m:nothing", {}, auth)
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


def test_the_stub_answers_with_vertex_response_fields(stub):
    status, body = stub.call("POST", GENERATE_PATH.format("gemini-2.5-flash"),
                             {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
                             {"Authorization": "Bearer x"})
    assert status == 200
    candidate = body["candidates"][0]
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
    assert isinstance(candidate["content"]["parts"][0]["text"], str)
    usage = body["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert body["modelVersion"] == "gemini-2.5-flash-local-stand-in" and body["responseId"]


def test_the_stub_rejects_an_unknown_mode(stub):
    status, body = stub.call("POST", "/__stub__/config", {"mode": "clever"})
    assert status == 400 and "mode must be one of" in body["error"]["message"]


def test_missing_cloud_credentials_are_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("VERTEX_AI_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    provider = VertexProvider(project="no-credentials-project", location="us-central1", scope=quick())
    with pytest.raises(UpstreamUnavailable) as caught:
        provider.concept({"text": GARDENER}, None)
    assert caught.value.status == 502 and "credentials" in caught.value.message


# ---------------------------------------------------------------- faithful reading through the Vertex path


def test_a_corpus_story_keeps_one_identity_and_every_word_through_the_vertex_path(vertex, stub):
    from mangaflow.quality import annotated

    story = next(s for s in annotated.load_corpus(REPO / "examples" / "corpus") if s.name == "judo-club.ja")
    remote = run_phases(story.text, vertex, pages=4)
    right, total, wrong = annotated.people_merged(story.gold, remote["characters"]["characters"])
    assert right == total, wrong
    found = annotated.prose_kept(story.text, remote["storyboard"])
    assert found.lost_chars == 0 and found.kept >= 0.99
    assert remote["storyboard"]["condensed"] == remote["plot"]["condensed"]  # the attributions, carried on


def test_the_vertex_storyboard_condenses_on_the_evaluators_hint(vertex, stub):
    from mangaflow import quality
    from mangaflow.quality import annotated

    story = next(s for s in annotated.load_corpus(REPO / "examples" / "corpus") if s.name == "harbour-captain.en")
    inputs = run_phases(story.text, vertex, upto=3, pages=1)
    first = phase4_name.run(inputs, None, vertex)
    judged = quality.evaluate(4, first, inputs)
    assert judged["score"] < 0.6
    second = phase4_name.run(inputs, {"hints": judged["hints"]}, vertex)
    assert quality.evaluate(4, second, inputs)["score"] >= 0.7
    assert any(c["reason"] == "page_budget" for c in second["condensed"])
    assert "condense narration" in stub.requests()[-1]["body"]["contents"][0]["parts"][0]["text"]
