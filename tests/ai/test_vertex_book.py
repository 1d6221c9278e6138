"""An 8-page book through the Vertex AI path on the local stack (the gateway, the real YAML on the engine, the
stand-in speaking Vertex AI's wire format): the image calls add up, each panel is sent its characters'
sheets, every call has its tokens, price and provenance, the cost shows in get_status and the manifest,
and the same story again by the same person is drawn from the cache at no image cost."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from ai_support import GARDENER, Runs, chosen_output

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def book(stack, stand_in) -> dict:
    from localcloud import supervisor

    runs = Runs(stack["gateway"])
    first = runs.run(GARDENER, 8, provider="vertex")
    return {"runs": runs, "first": first, "rid": first["accepted"]["request_id"],
            "analytics_db": str(supervisor.local_dir() / "analytics.duckdb")}


def test_the_request_records_its_provider_and_the_quota_bounds_its_fan_out(book):
    accepted, state = book["first"]["accepted"], book["first"]["state"]
    assert accepted["provider"] == "vertex" and state["options"]["provider"] == "vertex"
    assert accepted["concurrency_limit"] == 4  # asked for 5; MANGAFLOW_VERTEX_CONCURRENCY bounds it
    assert state["cost"]["provider"] == "vertex" and state["status"] == "completed"


def test_image_calls_are_sheets_plus_panels_minus_cache_hits_and_each_panel_gets_its_sheets(book, stand_in,
                                                                                            real_stores):
    runs, rid, state = book["runs"], book["rid"], book["first"]["state"]
    characters = chosen_output(state, 2, runs)
    images = chosen_output(state, 5, runs)["image_descriptions"]
    sheets = characters["reference_images"]
    rows = [r for r in real_stores.model_calls.list(rid) if r["kind"] == "image"]
    hits = [r for r in rows if r["status"] == "cache"]
    received = stand_in.images(rid)
    assert len(sheets) == 2 and len(images) == state["panel_count"] >= 24
    assert len(received) == len(sheets) + len(images) - len(hits)
    assert [r["status"] for r in rows if r["status"] != "cache"] == ["ok"] * len(received)
    sheet_sha = {s["character_id"]: s["provenance"]["reference_sha256"] for s in sheets}
    assert all(s["provenance"]["source"] == "model" for s in sheets)
    # What each panel was sent: the sheets (exact bytes) of the characters in it that have one, in order.
    from hashlib import sha256
    sheet_bytes = {s["character_id"]: sha256(runs.artifact(rid, s["uri"])).hexdigest() for s in sheets}
    by_item = {r["labels"]["mangaflow-item"]: r for r in received if r["labels"]["mangaflow-operation"] == "panel-image"}
    assert sheet_sha == {c: [] for c in sheet_sha}  # sheets are drawn from text alone
    checked = 0
    for panel in images:
        wanted = [sheet_bytes[c] for c in panel["characters"] if c in sheet_bytes]
        sent = [p["inlineData"]["data"]["sha256"] for p in by_item[panel["panel_id"]]["body"]["contents"][0]["parts"]
                if "inlineData" in p]
        assert sent == wanted, panel["panel_id"]
        assert panel["provenance"]["reference_sha256"] == wanted
        checked += bool(wanted)
    assert checked >= len(images) // 2  # most panels show a main character


def test_every_call_has_tokens_price_and_provenance_and_the_cost_adds_up(book, real_stores):
    runs, rid, state = book["runs"], book["rid"], book["first"]["state"]
    rows = real_stores.model_calls.list(rid)
    answered = [r for r in rows if r["status"] == "ok"]
    assert {r["kind"] for r in answered} == {"text", "image"}
    for row in answered:
        assert row["input_tokens"] > 0 and row["cost_usd"] > 0 and row["response_id"] and row["latency_ms"] >= 0
        assert row["model_version"].startswith(row["model"]) and row["prompt_sha256"]
        if row["kind"] == "image":
            assert row["image_tokens"] == 1290 and row["seed"] is not None
        else:
            assert row["output_tokens"] > 0 and row["image_tokens"] == 0
    cost = state["cost"]
    assert cost["usd"] == pytest.approx(sum(float(r["cost_usd"]) for r in rows), abs=1e-6)
    assert cost["model_calls"]["image"] == sum(1 for r in answered if r["kind"] == "image")
    assert 0.5 < cost["usd"] < 2.0 and cost["budget_usd"] == 2.0 and not cost["budget_stopped"]
    for panel in chosen_output(state, 5, runs)["image_descriptions"]:
        made = panel["provenance"]
        assert made["source"] == "model" and made["fallback"] is None and panel["fallback"] == "none"
        assert len(made["prompt_sha256"]) == 64 and made["response_id"] and made["cost_usd"] > 0.038
        assert made["model"] == "gemini-2.5-flash-image"
        assert made["model_version"] == "gemini-2.5-flash-image-local-stand-in"
        assert made["tokens"]["image"] == 1290 and made["seed"] is not None and made["latency_ms"] >= 0
    manifest = json.loads(runs.artifact(rid, state["exports"]["manifest"]))
    assert manifest["cost"]["usd"] == pytest.approx(cost["usd"], abs=1e-6)
    assert [p["panel_id"] for p in manifest["provenance"]["panels"]] == \
        [p["panel_id"] for p in chosen_output(state, 5, runs)["image_descriptions"]]
    assert all(p["response_id"] and p["cost_usd"] > 0 for p in manifest["provenance"]["panels"])
    assert len(manifest["provenance"]["reference_sheets"]) == 2


def test_the_panels_are_the_stand_ins_pictures_not_storyboards(book):
    runs, rid, state = book["runs"], book["rid"], book["first"]["state"]
    panel = chosen_output(state, 5, runs)["image_descriptions"][0]
    with Image.open(io.BytesIO(runs.artifact(rid, panel["image_uri"]))) as image:
        assert list(image.size) == panel["size_px"]  # cropped and scaled to the panel, not stretched


def test_the_same_story_again_is_drawn_from_the_cache_at_no_image_cost(book, stand_in, real_stores):
    runs = book["runs"]
    again = runs.run(GARDENER, 8, provider="vertex")
    rid = again["accepted"]["request_id"]
    assert stand_in.images(rid) == []
    rows = real_stores.model_calls.list(rid)
    hits = [r for r in rows if r["status"] == "cache"]
    assert len(hits) == 2 + again["state"]["panel_count"]
    assert {r["cache_of"]["match"] for r in hits} == {"inputs"}
    assert {r["cache_of"]["request_id"] for r in hits} == {book["rid"]}
    # No panel descriptions were asked for either: the cached picture came with its description.
    assert not [r for r in rows if r["operation"] == "panel_description"]
    cost = again["state"]["cost"]
    assert cost["model_calls"]["image"] == 0 and cost["cache_hits"] == len(hits)
    assert cost["usd"] < book["first"]["state"]["cost"]["usd"] / 10
    panels = chosen_output(again["state"], 5, runs)["image_descriptions"]
    assert {p["provenance"]["source"] for p in panels} == {"cache"}
    assert all(p["provenance"]["cost_usd"] == 0 for p in panels)


def test_the_analytics_tables_carry_each_attempts_cost(book, real_stores):
    from mangaflow.stores import analytics

    rid = book["rid"]
    backend = analytics.DuckDBBackend(book["analytics_db"])
    rows = backend.query("SELECT phase, cost_usd, model_calls, provider FROM phase_quality_scores "
                         "WHERE request_id = @rid ORDER BY phase", {"rid": rid})
    by_phase = {r["phase"]: r for r in rows}
    calls = real_stores.model_calls.list(rid)
    for phase in (1, 2, 3, 4, 5):
        spent = sum(float(c["cost_usd"]) for c in calls if c["phase"] == phase)
        assert by_phase[phase]["cost_usd"] == pytest.approx(spent, abs=1e-6) and by_phase[phase]["provider"] == "vertex"
    assert by_phase[5]["model_calls"] >= 24 + 24  # every panel: a description and an image
    assert by_phase[6]["cost_usd"] == 0 and by_phase[7]["cost_usd"] == 0
