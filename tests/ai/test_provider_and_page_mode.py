"""The provider is the request's (not the process's): two requests on one running gateway use different
providers, `--provider vertex` works on a running stack, a provider the service cannot use is refused.
Page mode: one image call per page, inside the page's frame template, cut along the frames."""
from __future__ import annotations

import io
import json
import uuid

import pytest
import requests
from PIL import Image

from ai_support import GARDENER, LANTERN, Runs, chosen_output

pytestmark = pytest.mark.slow


def test_two_requests_on_one_gateway_each_use_their_own_provider(stack, stand_in, real_stores):
    runs = Runs(stack["gateway"])
    offline = runs.run(LANTERN, 1)  # no provider named: the service's default (offline on this stack)
    vertex = runs.run(LANTERN, 1, provider="vertex")
    rid_off, rid_vx = offline["accepted"]["request_id"], vertex["accepted"]["request_id"]
    assert offline["accepted"]["provider"] == "offline" and offline["state"]["options"]["provider"] == "offline"
    assert stand_in.received(rid_off) == []
    assert {r["model"] for r in real_stores.model_calls.list(rid_off)} == {"offline-rules"}
    assert offline["state"]["cost"]["usd"] == 0 and offline["state"]["cost"]["model_calls"] == {"text": 0, "image": 0}
    panels = chosen_output(offline["state"], 5, runs)["image_descriptions"]
    assert {p["provenance"]["source"] for p in panels} == {"procedural"}
    assert all(p["provenance"]["fallback"] is None for p in panels)  # storyboards by design, not a fallback
    assert len(stand_in.received(rid_vx)) > 0 and vertex["state"]["cost"]["usd"] > 0


def test_the_cli_runs_a_vertex_book_on_the_running_stack_and_shows_its_cost(stack, tmp_path, capsys, monkeypatch):
    from mangaflow_cli.main import main as cli

    monkeypatch.setenv("MANGAFLOW_USER", f"ai-cli-{uuid.uuid4().hex[:8]}")
    story = tmp_path / "story.txt"
    story.write_text(GARDENER.split("\n\n")[0] + f"\n\nThe gardener counted {uuid.uuid4().hex[:6]} seeds.", "utf-8")
    code = cli(["generate", str(story), "--pages", "1", "--out", str(tmp_path / "out"), "--auto-approve", "--json",
                "--provider", "vertex", "--budget-usd", "1.5", "--image-mode", "page"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert "provider vertex, image mode page, budget $1.50" in captured.err
    assert summary["cost"]["provider"] == "vertex" and summary["cost"]["image_mode"] == "page"
    assert summary["cost"]["usd"] > 0 and summary["cost"]["budget_usd"] == 1.5
    assert cli(["status", summary["request_id"], "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["cost"]["usd"] == summary["cost"]["usd"]
    assert cli(["status", summary["request_id"]]) == 0
    assert f"cost ${summary['cost']['usd']:.4f} (vertex" in capsys.readouterr().out


def test_a_provider_the_service_cannot_use_is_refused_before_anything_starts(stack, monkeypatch):
    runs = Runs(stack["gateway"])
    response = requests.post(f"{stack['gateway']}/start_generation", headers=runs.headers, timeout=30,
                             json={"text": "A story.", "pages": 1, "provider": "gpt-9"})
    assert response.status_code in (400, 422) and response.json()["field"] == "provider"
    response = requests.post(f"{stack['gateway']}/start_generation", headers=runs.headers, timeout=30,
                             json={"text": "A story.", "pages": 1, "budget_usd": 1000})
    assert response.status_code in (400, 422) and response.json()["field"] == "budget_usd"
    # A deployment with neither a project nor the local stand-in cannot serve vertex requests.
    from mangaflow.config import settings
    from mangaflow.errors import DomainError
    from mangaflow.service.requests import model_options

    monkeypatch.delenv("VERTEX_AI_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    settings.cache_clear()
    with pytest.raises(DomainError) as refused:
        model_options({"provider": "vertex"})
    assert refused.value.status == 422 and refused.value.field == "provider"
    assert "GOOGLE_CLOUD_PROJECT" in refused.value.message
    assert model_options({})["provider"] == "offline"


def test_page_mode_draws_each_page_once_inside_its_frames_and_cuts_the_panels(stack, stand_in, real_stores):
    runs = Runs(stack["gateway"])
    paged = runs.run(GARDENER, 2, provider="vertex", image_mode="page")
    per_panel = Runs(stack["gateway"]).run(GARDENER, 2, provider="vertex")  # another user: no cache between them
    rid, state = paged["accepted"]["request_id"], paged["state"]
    received = stand_in.images(rid)
    operations = sorted(r["labels"]["mangaflow-operation"] for r in received)
    assert operations == ["page-image"] * 2 + ["sheet-image"] * 2
    panels = chosen_output(state, 5, runs)["image_descriptions"]
    pages = {r["labels"]["mangaflow-item"]: r for r in received if r["labels"]["mangaflow-operation"] == "page-image"}
    for panel in panels:
        made = panel["provenance"]
        assert made["source"] == "model" and made["page"] in (1, 2) and len(made["crop_px"]) == 4
        sent = [p["inlineData"]["data"]["sha256"] for p in pages[str(made["page"])]["body"]["contents"][0]["parts"]
                if "inlineData" in p]
        assert made["reference_sha256"] == sent and len(sent) >= 2  # the frame template first, then sheets
        with Image.open(io.BytesIO(runs.artifact(rid, panel["image_uri"]))) as image:
            assert list(image.size) == panel["size_px"]
    on_page = {n: [p for p in panels if p["provenance"]["page"] == n] for n in (1, 2)}
    for number, members in on_page.items():
        page_cost = members[0]["provenance"]["page_cost_usd"]
        assert sum(p["provenance"]["cost_usd"] for p in members) == pytest.approx(page_cost, rel=1e-6)
    prompt = pages["1"]["body"]["contents"][0]["parts"][0]["text"]
    assert "frame layout" in prompt and "Frame 1:" in prompt
    image_cost = lambda s: s["cost"]["by_model"]["gemini-2.5-flash-image"]  # noqa: E731
    assert image_cost(state) < image_cost(per_panel["state"]) * 0.6
    assert state["cost"]["image_mode"] == "page"
