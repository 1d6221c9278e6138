"""The models accept what the phases really produce: the 14 annotated stories and the 4 held-out ones
through phases 1-4 (offline), each panel's description, with and without feedback; pydantic and the
generated JSON Schema agree on every output. The quality verdicts fit their models too."""
from __future__ import annotations

from pathlib import Path

import pytest

from mangaflow import model, quality
from mangaflow.phases import phase1_concept, phase2_characters, phase3_plot, phase4_name
from mangaflow.phases.phase5_images import describe_panel, storyboard_panels
from mangaflow.providers import OfflineProvider
from mangaflow.schemas import validate_output

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "corpus"
STORIES = sorted(CORPUS.glob("*.txt")) + sorted((CORPUS / "heldout").glob("*.txt"))
KEYS = {1: "concept", 2: "characters", 3: "plot", 4: "storyboard"}
MODULES = {1: phase1_concept, 2: phase2_characters, 3: phase3_plot, 4: phase4_name}
# a quick option of each text phase, given at that phase
FEEDBACK = [(1, {"option": "brighter", "text": "", "intensity": 0.9}),
            (1, {"option": "change_target_age", "text": "for younger children"}),
            (2, {"option": "add_character", "text": "a stray cat"}),
            (2, {"option": "remove_character", "text": "remove the second one"}),
            (3, {"option": "faster_pacing", "text": ""}),
            (3, {"option": "add_episode", "text": "a sudden storm"}),
            (4, {"option": "panel_layout", "text": ""}),
            (4, {"option": "camera_angle", "text": "close-up"})]


def run_text_phases(text: str, pages: int, feedback: dict | None = None, feedback_phase: int = 0) -> dict:
    """The request after phases 1-4 with the offline provider; `feedback` goes to `feedback_phase`."""
    provider, inputs = OfflineProvider(), {"text": text, "pages": pages}
    for phase, key in KEYS.items():
        inputs[key] = MODULES[phase].run(inputs, feedback if phase == feedback_phase else None, provider)
    return inputs


def _check(phase: int, output: dict, *, panel: bool = False) -> None:
    model.output_model(phase, panel=panel).model_validate(output)
    validate_output(phase, output, panel=panel)


def _check_all(inputs: dict) -> int:
    for phase, key in KEYS.items():
        _check(phase, inputs[key])
    provider = OfflineProvider()
    panels = storyboard_panels(inputs["storyboard"])
    for panel in panels:
        drawn = {**describe_panel(inputs, panel["panel_id"], None, provider),
                 "image_uri": "gs://mangaflow-output-images/panels/x.png", "attempt": 1, "fallback": "none"}
        _check(5, drawn, panel=True)
    return len(panels)


def test_the_corpus_is_all_there():
    assert len(STORIES) == 18


@pytest.mark.parametrize("story", STORIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("pages", [1, 4])
def test_every_corpus_story_makes_outputs_that_fit(story, pages):
    assert _check_all(run_text_phases(story.read_text(encoding="utf-8"), pages=pages)) >= pages


@pytest.mark.parametrize("phase,feedback", FEEDBACK, ids=lambda v: v["option"] if isinstance(v, dict) else str(v))
@pytest.mark.parametrize("story", [STORIES[0], next(s for s in STORIES if s.name.endswith(".ja.txt"))],
                         ids=lambda p: p.stem)
def test_outputs_made_after_feedback_fit(story, phase, feedback):
    inputs = run_text_phases(story.read_text(encoding="utf-8"), pages=3, feedback=feedback, feedback_phase=phase)
    _check_all(inputs)
    metadata = model.ProcessingMetadata.model_validate(inputs[KEYS[phase]]["processing_metadata"])
    assert metadata.feedback is not None and metadata.feedback.option == feedback["option"]


def test_a_story_with_nobody_in_it_still_fits():
    inputs = run_text_phases("The wind blew over the empty hills. Rain fell all night.", pages=1)
    _check_all(inputs)
    assert inputs["characters"]["characters"] == []


def test_the_quality_verdicts_fit_their_models():
    inputs = run_text_phases(STORIES[0].read_text(encoding="utf-8"), pages=2)
    for phase, key in KEYS.items():
        judged = model.Evaluation.model_validate(quality.evaluate(phase, inputs[key], inputs))
        verdict = model.QualityVerdict.model_validate(quality.gate(judged.score, 0))
        assert verdict.score == round(judged.score, 4)
    assert model.QualityVerdict.model_validate(quality.gate(0.1, 3)).decision == "give_up"
