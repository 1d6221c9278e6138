"""One worked example per shape, all from the same one-page book, for `docs/data-model.md`. Each is
checked against its model by tests/model/test_examples.py, so the document's examples cannot drift."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from . import phases as p
from . import records as r

_AT = "2026-07-01T09:30:00+00:00"
_R = "r-0123456789abcdef"
_BUCKET = "gs://mangaflow-output-images/requests/r-0123456789abcdef"

STORY_CONTEXT = {"language": "ja", "title": "祭りの夜", "summary": "港町の夏祭りの夜、春香は幼なじみの蒼太と七年ぶりに再会する。",
                 "style": "shojo", "pages": 1, "reading_direction": "rtl"}


def _metadata(phase: int, provider: str | None = "offline") -> dict[str, Any]:
    made = {"phase": phase, "timestamp": _AT, "status": "completed"}
    return {**made, "provider": provider} if provider else made


CHARACTERS = [
    {"id": "c1", "name": "春香", "aliases": ["春香ちゃん"], "role": "protagonist", "kind": "person",
     "personality": "quiet, cheerful, patient", "visual_description": "春香: teenage girl, slim, long black hair, yukata",
     "palette": {"hair": "#1f1b24", "skin": "#eec5a4", "outfit": "#5953b8", "accent": "#d1d957"},
     "figure": {"hair_style": "long", "build": "slim", "height": 0.96, "age": "teen"}},
    {"id": "c2", "name": "蒼太", "aliases": [], "role": "deuteragonist", "kind": "person",
     "personality": "shy, earnest", "visual_description": "蒼太: teenage boy, average build, short brown hair",
     "palette": {"hair": "#3b2a20", "skin": "#e0ac86", "outfit": "#3d8a6b", "accent": "#c94f4f"},
     "figure": {"hair_style": "short", "build": "average", "height": 1.0, "age": "teen"}},
]

SCENES = [{
    "scene_id": "s1", "act": "ki", "description": "夏祭りの夜、春香は蒼太と再会する。", "characters": ["c1", "c2"],
    "setting": {"place": "夏祭り", "time_of_day": "night", "weather": "clear", "indoor": False},
    "emotion": "climax", "importance": 1.0,
    "beats": [
        {"kind": "narration", "text": "港町の夏祭りの夜、", "speaker": None, "delivery": "narration", "source": [0, 9]},
        {"kind": "dialogue", "text": "久しぶり", "speaker": "c2", "delivery": "speech", "source": [21, 25]},
        {"kind": "dialogue", "text": "覚えてたの？", "speaker": "c1", "delivery": "speech", "source": [27, 33]},
    ],
}]

CONDENSED = [{"source": [34, 41], "text": "と春香は聞いた。", "reason": "attribution"}]

PANELS = [
    {"panel_id": "p01-1", "page": 1, "reading_order": 1, "layout_type": "tier", "size": "large",
     "camera_angle": "wide", "bbox": [0.0, 0.0, 1.0, 0.48], "scene_id": "s1",
     "scene_description": "港町の夏祭り、提灯の灯る夜道", "characters": ["c1"],
     "dialogues": [{"speaker": None, "text": "港町の夏祭りの夜、", "kind": "narration"}],
     "shot": "establishing", "emotion": "climax"},
    {"panel_id": "p01-2", "page": 1, "reading_order": 2, "layout_type": "tier", "size": "medium",
     "camera_angle": "bust", "bbox": [0.0, 0.52, 1.0, 0.48], "scene_id": "s1",
     "scene_description": "振り向く春香と蒼太", "characters": ["c1", "c2"],
     "dialogues": [{"speaker": "c2", "text": "久しぶり", "kind": "speech"},
                   {"speaker": "c1", "text": "覚えてたの？", "kind": "speech"}],
     "shot": "dialogue", "emotion": "climax"},
]
PAGES = [{"page": 1, "panels": PANELS}]

PANEL_IMAGE = {
    "panel_id": "p01-2", "description": "bust shot; at 夏祭り; night; 春香 and 蒼太 face each other",
    "prompt": "manga panel, black ink with screentone: bust shot at a summer festival at night. 春香: teenage girl…",
    "characters": ["c1", "c2"],
    "setting": {"place": "夏祭り", "time_of_day": "night", "weather": "clear", "indoor": False},
    "mood": "climax", "camera_angle": "bust",
    "staging": [{"character_id": "c2", "x": 0.7, "y": 0.4, "scale": 1.0, "facing": "left", "expression": "smile"},
                {"character_id": "c1", "x": 0.3, "y": 0.42, "scale": 0.96, "facing": "right",
                 "expression": "surprised"}],
    "size_px": [1990, 1350], "image_uri": f"{_BUCKET}/panels/5f1d….png", "attempt": 1, "fallback": "none"}

PLACEMENTS = [{
    "panel_id": "p01-2", "panel_size_px": [1990, 1350],
    "dialogues": [{"speaker": "c2", "text": "久しぶり", "kind": "speech"}],
    "placements": [{"dialogue_index": 0, "box": [0.78, 0.05, 0.12, 0.3], "shape": "oval", "tail": [0.7, 0.4],
                    "vertical": True, "font": "sans", "font_size_px": 42, "lines": ["久しぶり"], "kind": "speech"}],
}]

EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    r.Request: {"request_id": _R, "text": "港町の夏祭りの夜、…", "language": "ja", "style": "shojo", "pages": 1,
                "title": "祭りの夜"},
    p.Concept: {"theme": "再会", "themes": ["再会", "伝統を守ること"], "genre": "shojo",
                "world_setting": "港町の夏祭りの夜 / 舞台: 夏祭り・港", "target_audience": "teens 12-18 who like feelings "
                "and relationships", "tone": "warm", "keywords": ["祭り", "提灯", "港町"], "estimated_pages": 1,
                "story_context": STORY_CONTEXT, "processing_metadata": _metadata(1)},
    p.Characters: {"characters": CHARACTERS, "relationships": [{"a": "c1", "b": "c2", "kind": "childhood friends"}],
                   "reference_requests": [{"character_id": "c1", "prompt": CHARACTERS[0]["visual_description"],
                                           "size_px": [768, 768]}],
                   "reference_images": [{"character_id": "c1", "uri": f"{_BUCKET}/characters/9a0c….png"}],
                   "story_context": STORY_CONTEXT, "processing_metadata": _metadata(2)},
    p.Plot: {"story_structure": "kishotenketsu", "scenes": SCENES, "emotional_arc": [1.0],
             "page_allocation": [{"scene_id": "s1", "pages": 1.0}], "condensed": CONDENSED,
             "story_context": STORY_CONTEXT, "characters": CHARACTERS, "processing_metadata": _metadata(3)},
    p.Storyboard: {"reading_direction": "rtl", "page_size_px": [2150, 3035], "pages": PAGES, "condensed": CONDENSED,
                   "scenes": SCENES, "story_context": STORY_CONTEXT, "characters": CHARACTERS,
                   "processing_metadata": _metadata(4)},
    p.PanelImage: PANEL_IMAGE,
    p.Images: {"image_descriptions": [PANEL_IMAGE], "story_context": STORY_CONTEXT, "characters": CHARACTERS,
               "processing_metadata": _metadata(5, None)},
    p.Lettering: {"language": "ja", "reading_direction": "rtl", "dialogue_placements": PLACEMENTS,
                  "lettering": {"overflow": 0, "collisions": 0, "split_bubbles": 0, "min_font_px": 28,
                                "smallest_font_px": 42, "dpi": 300},
                  "pages": PAGES, "page_size_px": [2150, 3035], "image_descriptions": [PANEL_IMAGE],
                  "story_context": STORY_CONTEXT, "characters": CHARACTERS, "processing_metadata": _metadata(6, None)},
    p.Final: {"pages": [{"page": 1, "uri": "gs://mangaflow-final-products/requests/r-0123456789abcdef/attempt-1/"
                                          "pages/001.png"}],
              "exports": {"pdf": "gs://mangaflow-final-products/requests/r-0123456789abcdef/attempt-1/manga.pdf",
                          "cbz": "gs://mangaflow-final-products/requests/r-0123456789abcdef/attempt-1/manga.cbz",
                          "manifest": "gs://mangaflow-final-products/requests/r-0123456789abcdef/attempt-1/"
                                      "manifest.json"},
              "quality_checks": {"visual_consistency": 1.0, "narrative_coherence": 1.0, "technical_quality": 1.0,
                                 "readability": 1.0, "pacing": 1.0, "character_development": 1.0,
                                 "artistic_appeal": 0.7, "overall": 0.96, "text_overflow": 0, "quotes_lettered": 1.0},
              "pages_composed": [{"page": 1, "file": "pages/001.png", "preview": "previews/001.webp",
                                  "size_px": [2150, 3035]}],
              "storyboard_pages": PAGES, "processing_metadata": _metadata(7, None)},
    r.Feedback: {"text": "もっと明るく", "option": "brighter", "intensity": 0.7, "hints": []},
    r.Evaluation: {"score": 0.55, "hints": ["condense narration in p01-2"],
                   "checks": {"text_kept": 1.0, "lettering_room": 0.4, "quotes_once": 1.0},
                   "warning": None},
    r.QualityVerdict: {"decision": "retry", "score": 0.55, "attempt": 0, "retry": True, "flagged": False,
                       "use_best_attempt": False, "retries_left": 2},
    r.GenerationRequest: {"request_id": _R, "user_id": "local-user", "client_address": "127.0.0.1",
                          "title": "祭りの夜", "language": "ja", "style": "shojo", "pages": 1,
                          "input_uri": "gs://mangaflow-input-data/requests/r-0123456789abcdef/7c2e….json",
                          "status": "running", "current_phase": 4, "hitl_timeout_s": 1800, "auto_approve": False,
                          "options": {"hitl_mode": "review", "concurrency_limit": 5}, "result_uri": None,
                          "error": None, "execution_name": "projects/local/locations/us-central1/workflows/"
                          "manga_pipeline/executions/3f1e…", "created_at": _AT, "updated_at": _AT,
                          "completed_at": None},
    r.PhaseRun: {"run_id": 42, "request_id": _R, "phase": 4, "attempt": 2, "panel_id": None, "status": "succeeded",
                 "input_uri": None, "output_uri": "gs://mangaflow-version-snapshots/requests/r-0123456789abcdef/"
                 "phase4/b81d….json", "score": 0.82, "decision": "pass", "hints": [], "fallback": None, "error": None,
                 "started_at": _AT, "finished_at": _AT, "duration_ms": 61, "created_at": _AT},
    r.ApprovalGate: {"gate_id": "g-r-0123456789abcdef-4-0", "request_id": _R, "phase": 4, "round": 0,
                     "callback_url": "http://127.0.0.1:8090/v1/projects/local/…/callbacks/…",
                     "preview_uri": "gs://mangaflow-preview-cache/requests/r-0123456789abcdef/previews/1d9a….json",
                     "opened_at": _AT, "deadline": "2026-07-01T10:00:00+00:00", "decision": "approve",
                     "decided_by": "local-user", "decided_at": _AT, "timed_out": False, "feedback": None},
}
