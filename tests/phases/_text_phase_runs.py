"""Helpers for the text-phase tests: the sample stories and a run of phases 1-4 with the offline provider."""
from __future__ import annotations

from pathlib import Path

from mangaflow.phases import phase1_concept, phase2_characters, phase3_plot, phase4_name
from mangaflow.providers import OfflineProvider

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LANTERN = "lantern-festival.ja.txt"
GARDENER = "the-last-robot-gardener.en.txt"
PHASES = [(1, "concept", phase1_concept), (2, "characters", phase2_characters), (3, "plot", phase3_plot),
          (4, "storyboard", phase4_name)]


def story(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def run_text_phases(text: str, pages: int = 8, upto: int = 4, feedback: dict | None = None,
                    feedback_phase: int | None = None, provider=None, **request) -> dict:
    """Inputs after running phases 1..upto; `feedback` goes to `feedback_phase` (default: the last)."""
    provider = provider or OfflineProvider()
    inputs = {"text": text, "pages": pages, **request}
    for number, key, module in PHASES[:upto]:
        given = feedback if number == (feedback_phase or upto) else None
        inputs[key] = module.run(inputs, given, provider)
    return inputs


def panels(storyboard: dict) -> list[dict]:
    return [p for page in storyboard["pages"] for p in page["panels"]]


def without_metadata(output: dict) -> dict:
    return {k: v for k, v in output.items() if k != "processing_metadata"}


def names_by_id(inputs: dict) -> dict[str, str]:
    return {c["id"]: c["name"] for c in inputs["characters"]["characters"]}
