"""What each phase returns: one model per phase (and one for phase 5's single panel). The JSON Schemas
in `schemas/phases/`, the Vertex AI response schemas and `docs/data-model.md` are generated from these
(`python -m mangaflow.model.generate`). A field marked NOT_ASKED is filled in by the phase's code and
never asked of the text model."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .base import (MAX_PAGES, MAX_PANELS_PER_PAGE, MAX_REFERENCE_IMAGES, NOT_ASKED, Attempt, BubbleShape,
                   CameraAngle, DialogueKind, Emotion, Expression, Facing, Fallback, FontFamily, GsUri, Language,
                   LayoutType, Pacing, PanelId, PanelSize, ReadingDirection, Shape, Shot, StoryStructure, Style, Tone, Unit,
                   Box, RequestId)
from .story import (Character, Condensed, Dialogue, ProcessingMetadata, Scene, Setting, StoryContext)

PagesOfThisSize = Annotated[list[Annotated[int, Field(ge=256, le=10_000)]], Field(min_length=2, max_length=2)]
PanelPixels = Annotated[list[Annotated[int, Field(ge=64, le=10_000)]], Field(min_length=2, max_length=2)]


class PhaseOutput(Shape):
    """A phase's output: `number` is the phase, `key` its name in later phases' inputs and the manifest,
    `title` what its schema is called."""

    number: ClassVar[int]
    key: ClassVar[str]
    title: ClassVar[str]
    schema_name: ClassVar[str]  # schemas/phases/<schema_name>.json


def _metadata() -> Any:
    return Field(json_schema_extra=NOT_ASKED, description="Which phase made it, when, how.")


def _carried_context() -> Any:
    return Field(json_schema_extra=NOT_ASKED, description="Phase 1's story_context, carried forward.")


def _carried_characters() -> Any:
    return Field(json_schema_extra=NOT_ASKED, description="Phase 2's characters, carried forward.")


# ------------------------------------------------------------------ phase 1


class Concept(PhaseOutput):
    """Theme, genre, tone, audience and world of the story, and the `story_context` every later phase
    carries forward."""

    number, key, title, schema_name = 1, "concept", "Phase 1 output: concept and world", "phase1"

    theme: str = Field(min_length=1, description="The story's theme in one phrase.")
    themes: list[str] = Field(min_length=1, max_length=6, description="Two to four themes, the main one first.")
    genre: Style = Field(description="The requested style when one was given.")
    world_setting: str
    target_audience: str
    tone: Tone
    keywords: list[str] = Field(max_length=12, description="Words taken from the story.")
    estimated_pages: int = Field(ge=1, le=MAX_PAGES, description="Pages the story would need.")
    story_context: StoryContext
    processing_metadata: ProcessingMetadata = _metadata()


# ------------------------------------------------------------------ phase 2


class Relationship(Shape):
    """How two characters stand to each other."""

    a: str = Field(description="A character id.")
    b: str = Field(description="Another character id.")
    kind: str = Field(description="In words: `childhood friends`, `siblings`, ...")


Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class Tokens(Shape):
    input: int = Field(ge=0)
    output: int = Field(ge=0)
    image: int = Field(ge=0)


class Provenance(Shape):
    """Where a picture came from: the image model, the image cache or the procedural painter; the model id
    and the version the service answered with, the SHA-256 of the prompt and of each reference image sent,
    the seed, the response id, latency, tokens and list-price cost; `cache` names the earlier picture
    reused and how it matched (inputs, prompt, near); `reason` says why the model did not draw it."""

    source: Literal["model", "cache", "procedural"]
    fallback: Literal["simplified", "procedural"] | None
    model: str | None
    model_version: str | None
    prompt_sha256: Sha256 | None
    reference_sha256: list[Sha256]
    seed: int | None
    response_id: str | None
    latency_ms: int | None = Field(ge=0)
    tokens: Tokens
    cost_usd: float = Field(ge=0)
    cache: dict[str, Any] | None
    reason: str | None = None


class ReferenceRequest(Shape):
    """A square reference image the service draws for one of the main characters."""

    character_id: str
    prompt: str
    size_px: list[Annotated[int, Field(ge=64, le=2048)]] = Field(min_length=2, max_length=2)


class ReferenceImage(Shape):
    """A drawn reference image (character sheet)."""

    character_id: str
    uri: GsUri
    provenance: Provenance | None = Field(default=None, description="Set when the image model was asked.")


class Characters(PhaseOutput):
    """The story's people, each with a role, a personality, a palette and a figure, so every figure in
    every panel has an id and one consistent look. Reference images are drawn beside this output by the
    service for at most two main characters (square)."""

    number, key, title, schema_name = 2, "characters", "Phase 2 output: characters and reference visuals", "phase2"

    characters: list[Character] = Field(description="Every figure of the story, `c1`, `c2`, ... in order of "
                                                    "appearance; empty only when the story has nobody in it.")
    relationships: list[Relationship]
    reference_requests: list[ReferenceRequest] = Field(max_length=MAX_REFERENCE_IMAGES, description=(
        "The at most two main characters whose square reference images the service draws into "
        "`reference_images`."))
    reference_images: list[ReferenceImage] = Field(max_length=MAX_REFERENCE_IMAGES, json_schema_extra=NOT_ASKED)
    story_context: StoryContext = _carried_context()
    processing_metadata: ProcessingMetadata = _metadata()


# ------------------------------------------------------------------ phase 3


class PageShare(Shape):
    """How many pages a scene gets; the shares add up to the requested pages."""

    scene_id: str
    pages: float = Field(ge=0, le=MAX_PAGES)


class Plot(PhaseOutput):
    """The story split into scenes in story order, each with its act, setting, emotion, importance and
    beats. `condensed[]` records the story text deliberately left off the page."""

    number, key, title, schema_name = 3, "plot", "Phase 3 output: plot and structure", "phase3"

    story_structure: StoryStructure = Field(description="`kishotenketsu` (Japanese) or `three_act` (English).")
    scenes: list[Scene] = Field(min_length=1)
    emotional_arc: list[Unit] = Field(description="One intensity per scene, 0..1.")
    page_allocation: list[PageShare]
    pacing: Pacing | None = Field(default=None, description="Only after pacing feedback.")
    condensed: list[Condensed] = Field(default_factory=list, json_schema_extra=NOT_ASKED)
    story_context: StoryContext = _carried_context()
    characters: list[Character] = _carried_characters()
    processing_metadata: ProcessingMetadata = _metadata()


# ------------------------------------------------------------------ phase 4


class Panel(Shape):
    """One panel of the storyboard.

    `dialogues[]` hold every quoted line exactly once across the storyboard (in story order), plus one
    narration caption per sentence of the prose (`kind: "narration"`, `speaker: null`; everything not
    recorded in `condensed[]`) and sound effects (`kind: "sfx"`). A panel carries at most 3 quoted lines
    and about 94 characters (ja) / 257 (en) of lettering, unless the story has more text than the pages
    hold: the first storyboard then folds more into each panel (never dropping a word) and the quality
    gate finds the crowded panels; asked to condense (the evaluator's hint `condense narration…`), the
    storyboard takes captions out of the crowded panels and records them in `condensed[]`."""

    panel_id: PanelId = Field(description="`pNN-k`: page, then reading order.")
    page: int = Field(ge=1, le=MAX_PAGES)
    reading_order: int = Field(ge=1, le=12, description="1..n within the page; for `rtl` the first panel is "
                                                       "the top-right one.")
    layout_type: LayoutType
    size: PanelSize
    camera_angle: CameraAngle
    bbox: Box = Field(description="[x, y, w, h] of the page's live area, 0..1. Panels of a page tile it with "
                                  "gutters: no overlap, nothing outside 0..1.")
    scene_id: str
    scene_description: str
    characters: list[str] = Field(description="Ids of the characters drawn in it.")
    dialogues: list[Dialogue]
    shot: Shot = Field(description="`detail`, `atmosphere` and `climax` panels are silent.")
    emotion: Emotion = Field(description="The scene's emotion, for phase 5's mood.")


class Page(Shape):
    """One page of the storyboard."""

    page: int = Field(ge=1, le=MAX_PAGES)
    panels: list[Panel] = Field(min_length=1, max_length=MAX_PANELS_PER_PAGE)


class AppliedFeedback(Shape):
    """The layout feedback this storyboard answered."""

    option: str
    intensity: Unit


class Storyboard(PhaseOutput):
    """The name: exactly the requested number of pages, each tiled with panels that carry every quoted
    line of the story, the narration captions and the sound effects, in reading order."""

    number, key, title, schema_name = 4, "storyboard", "Phase 4 output: the name (storyboard)", "phase4"

    reading_direction: ReadingDirection
    page_size_px: PagesOfThisSize = Field(description="[width, height]; B5 at 300 dpi (2150 x 3035) by default.")
    pages: list[Page] = Field(min_length=1, max_length=MAX_PAGES)
    applied_feedback: AppliedFeedback | None = Field(default=None, description="Present after layout feedback.")
    condensed: list[Condensed] = Field(default_factory=list, description=(
        "Phase 3's entries plus what the storyboard itself condensed (`page_budget`)."))
    scenes: list[Scene] = Field(json_schema_extra=NOT_ASKED, description="Phase 3's scenes, carried forward.")
    story_context: StoryContext = _carried_context()
    characters: list[Character] = _carried_characters()
    processing_metadata: ProcessingMetadata = _metadata()


# ------------------------------------------------------------------ phase 5


class Staging(Shape):
    """Where a figure stands in the panel. Phase 6 aims bubble tails at the head."""

    character_id: str
    x: Unit = Field(description="The head's x in the panel, 0..1.")
    y: Unit = Field(description="The head's y in the panel, 0..1.")
    scale: float = Field(ge=0.1, le=3.0)
    facing: Facing
    expression: Expression


class PanelImage(PhaseOutput):
    """One panel's picture: a description an illustrator (or image model) can follow, the staging of its
    figures, and the drawn image.

    `describe_panel(inputs, panel_id, feedback, provider)` (`phases/phase5_images.py`) returns this without
    `image_uri`, `attempt` and `fallback`; `prompt` is the description plus the characters' visual
    descriptions, for an image model; `size_px` is the panel's bbox on the page. A panel that cannot be
    drawn as asked falls back to a simplified drawing, then a placeholder: a weaker panel, never a failed
    manga."""

    number, key, title, schema_name = 5, "images", "Phase 5 output for one panel", "phase5_panel"

    panel_id: PanelId
    description: str
    prompt: str
    characters: list[str]
    setting: Setting
    mood: Emotion
    camera_angle: CameraAngle
    staging: list[Staging]
    size_px: PanelPixels = Field(description="The panel's size on the page, [width, height] in pixels.")
    image_uri: GsUri = Field(json_schema_extra=NOT_ASKED, description="`gs://…/panels/<sha256>.png`.")
    attempt: Attempt = Field(json_schema_extra=NOT_ASKED)
    fallback: Fallback = Field(json_schema_extra=NOT_ASKED, description=(
        "none: drawn as asked; simplified: model art from the simpler prompt after a refusal, or the "
        "procedural painter's simplified drawing; procedural: the image model was asked but did not draw it "
        "(refused twice, failed, budget spent) so it is the procedural storyboard drawing; placeholder: even "
        "that could not be drawn."))
    provenance: Provenance | None = Field(default=None, json_schema_extra=NOT_ASKED,
                                          description="Where the picture came from and what it cost.")
    kept_from: Attempt | None = Field(default=None, json_schema_extra=NOT_ASKED, description=(
        "Set when another panel was redone at the gate (`regenerate_panel:<panel>`): this one is the picture of "
        "that attempt, kept as it was."))
    inputs_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", json_schema_extra=NOT_ASKED,
                                      description="SHA-256 of exactly what the picture is made from (the storyboard "
                                                  "panel, its scene, the look and reference sheets of the characters "
                                                  "in it, the style, its size, the feedback that applies): equal "
                                                  "hashes, the same picture, reused without a model call.")


class ArtReuse(Shape):
    """What a run of phase 5 reused: panels whose inputs (`inputs_sha256`) were unchanged since an earlier
    picture, and the panels it drew again."""

    reused: int = Field(ge=0)
    redrawn: int = Field(ge=0, description="Drawn by the image model in this run.")
    procedural: int = Field(ge=0, description="Drawn by the procedural painter (offline, or a model fallback).")
    reused_panels: list[PanelId]
    redrawn_panels: list[PanelId]
    from_requests: list[RequestId] = Field(description="The requests whose pictures were reused.")


class Images(PhaseOutput):
    """Every panel's picture, in storyboard order: what phase 6 receives."""

    number, key, title, schema_name = 5, "images", "Phase 5 output: every panel's image", "phase5"

    image_descriptions: list[PanelImage] = Field(min_length=1)
    reuse: ArtReuse | None = Field(default=None, description="Which panels were reused and which drawn again.")
    story_context: StoryContext = _carried_context()
    characters: list[Character] = _carried_characters()
    processing_metadata: ProcessingMetadata = _metadata()


# ------------------------------------------------------------------ phase 6


class Placement(Shape):
    """One bubble (or caption box, or sound effect) laid out in its panel."""

    dialogue_index: int = Field(ge=0, description="Which of the panel's `dialogues` it letters.")
    box: Box = Field(description="[x, y, w, h] in the panel, 0..1.")
    shape: BubbleShape
    tail: list[float] | None = Field(min_length=2, max_length=2, description=(
        "[x, y] of the tail tip, in the panel; null without a tail."))
    vertical: bool = Field(description="Vertical text (Japanese).")
    font: FontFamily
    font_size_px: int = Field(ge=8)
    lines: list[str] = Field(min_length=1, description=(
        "The text as broken into lines; columns when `vertical` (read top to bottom, columns right to left)."))
    kind: DialogueKind
    linked_to: int | None = Field(default=None, description="The bubble this one continues (a split line).")


class PanelLettering(Shape):
    """The lettering of one panel."""

    panel_id: str
    panel_size_px: list[int] = Field(min_length=2, max_length=2)
    dialogues: list[Dialogue]
    placements: list[Placement]


class LetteringReport(Shape):
    """What lettering the whole book measured."""

    overflow: int = Field(ge=0, description="Lines that do not fit their bubble.")
    collisions: int = Field(ge=0)
    split_bubbles: int = Field(ge=0)
    min_font_px: int
    smallest_font_px: int | None
    dpi: int


class TranslatedLine(Shape):
    """One lettered line in the book's new language."""

    id: str = Field(min_length=1, max_length=64, description="The line's id as it was sent (`p01-1/0`: panel and "
                                                             "dialogue index).")
    text: str = Field(max_length=2000, description="The line in the target language, as it should be lettered.")


class TranslationAnswer(Shape):
    """What the text model answers to a translation: every line it was sent, by id, translated."""

    lines: list[TranslatedLine]


class TranslationNote(Shape):
    """How a lettering was made by translating a finished book (`mangaflow translate`)."""

    translated_from: RequestId = Field(description="The request whose book was translated (kept as it was).")
    source_language: Language
    target_language: Language
    lines: int = Field(ge=0, description="Lines translated (dialogue, captions, sound effects).")
    model: str = Field(description="The text model that translated them (`offline-rules`: the marked stand-in).")
    stand_in: bool = Field(description="True when no model translated (offline): each line is marked as a stand-in.")
    kept_source_lines: int = Field(ge=0, description="Lines the model left out, lettered from the stand-in instead.")


class Lettering(PhaseOutput):
    """Every panel's dialogue placed as bubbles (size, shape, tail, line breaks) so text never overflows,
    faces stay clear and bubbles read in order. The output is the storyboard and the images with the
    lettering added."""

    number, key, title, schema_name = 6, "lettering", "Phase 6 output: dialogue and lettering", "phase6"

    language: Language
    reading_direction: ReadingDirection
    dialogue_placements: list[PanelLettering]
    lettering: LetteringReport
    pages: list[Page] = Field(description="The storyboard's pages, carried forward.")
    page_size_px: PagesOfThisSize = Field(description="The storyboard's page size, carried forward.")
    image_descriptions: list[PanelImage] = Field(default_factory=list, description="Phase 5's panels, carried "
                                                                                 "forward.")
    story_context: StoryContext = _carried_context()
    characters: list[Character] = _carried_characters()
    art_mirrored: bool = Field(default=False, description="The panel art is drawn mirrored (a translation that "
                                                          "switched the reading direction flops the pages).")
    translation: TranslationNote | None = Field(default=None, description="Set when this lettering translates a "
                                                                          "finished book.")
    processing_metadata: ProcessingMetadata = _metadata()


# ------------------------------------------------------------------ phase 7


class FinalPage(Shape):
    """A finished page."""

    page: int = Field(ge=1)
    uri: GsUri = Field(description="`gs://…/pages/001.png`.")
    preview_uri: GsUri | None = Field(None, description="`gs://…/previews/001.webp`, the page's WebP preview.")
    inputs_sha256: Sha256 | None = Field(None, description="The content hash of what the page is made from: its "
                                         "layout, its panels' art and lettering, page size, direction, page "
                                         "numbers and the renderer.")


class ComposedPage(Shape):
    """A page as composed, before it is stored."""

    page: int = Field(ge=1)
    file: str
    preview: str
    size_px: list[int] = Field(min_length=2, max_length=2)
    inputs_sha256: Sha256 | None = None
    reused_from: int | None = Field(None, ge=1, description="The earlier attempt whose page (same "
                                    "`inputs_sha256`) was stored again instead of composing it.")
    made_with_panels: bool | None = Field(None, description="True when phase 5 composed the page as its last "
                                          "panel was drawn (lettered as phase 6 lettered it, same "
                                          "`inputs_sha256`): phase 7 took it as stored.")


class Exports(Shape):
    """The book's files."""

    pdf: GsUri | None = Field(description="300 dpi; null when a person asked for the CBZ only.")
    cbz: GsUri | None = Field(description="With `ComicInfo.xml`; null when a person asked for the PDF only.")
    manifest: GsUri = Field(description="Everything about the run: request, options, outputs, scores, gates.")
    cbz_clean: GsUri | None = Field(default=None, description="The pages without lettering (clean art), when "
                                    "asked for (`exports` with `cbz_clean`).")


class QualityChecks(Shape):
    """Final checks measured from the book (no model): the seven categories in the order of their weight,
    their weighted `overall` (the weights of `quality.weighted_overall(categories)`, PIPELINE.md), lettering
    overflow and the share of quoted lines lettered."""

    visual_consistency: Unit
    narrative_coherence: Unit
    technical_quality: Unit
    readability: Unit
    pacing: Unit
    character_development: Unit
    artistic_appeal: Unit
    overall: Unit
    text_overflow: int = Field(ge=0)
    quotes_lettered: Unit


class Final(PhaseOutput):
    """The pages composed from the chosen panels and lettering, the exports and the final quality checks.
    The lettered storyboard's pages stay under `storyboard_pages` for the evaluators."""

    number, key, title, schema_name = 7, "final", "Phase 7 output: pages, exports, final quality", "phase7"

    pages: list[FinalPage] = Field(min_length=1)
    exports: Exports
    quality_checks: QualityChecks
    pages_composed: list[ComposedPage]
    storyboard_pages: list[Page] = Field(description="The lettered storyboard's pages, for the evaluators.")
    processing_metadata: ProcessingMetadata = _metadata()


PHASE_OUTPUTS: tuple[type[PhaseOutput], ...] = (Concept, Characters, Plot, Storyboard, Images, Lettering, Final)
"""Each phase's output model, in pipeline order (phase 5's whole output; its single panel is PanelImage)."""
SCHEMAS: tuple[type[PhaseOutput], ...] = PHASE_OUTPUTS[:4] + (PanelImage,) + PHASE_OUTPUTS[4:]


def output_model(phase: int, *, panel: bool = False) -> type[PhaseOutput]:
    """The model of phase `phase`'s output (of one panel with `panel`)."""
    if panel:
        return PanelImage
    for model in PHASE_OUTPUTS:
        if model.number == phase:
            return model
    raise KeyError(f"there is no phase {phase}")
