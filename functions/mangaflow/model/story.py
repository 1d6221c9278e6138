"""The parts several phases share: the story's context, the processing metadata, the characters, the
scenes with their beats, the lines of dialogue, and the story text condensed on purpose."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import (MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, NOT_ASKED, Act, Age, BeatKind, Build, CharacterKind,
                   CondensedReason, DialogueKind, Emotion, HairStyle, HexColour, Language, MAX_PAGES, MIN_PAGES,
                   PhaseNumber, ProviderName, ReadingDirection, Role, Shape, Span, Style, TimeOfDay, Timestamp, Unit,
                   Weather)


class StoryContext(Shape):
    """What every phase needs to know about the book, made by phase 1 and carried forward unchanged by
    every later phase (`story_context` goes all the way through)."""

    language: Language = Field(description="`ja` or `en`; the user may leave it out and it is detected "
                                           "(any kana or kanji means `ja`).")
    title: str = Field(max_length=MAX_TITLE_CHARS, description="The request's title when it gave one, else one "
                                                               "made from the story.")
    summary: str = Field(max_length=MAX_SUMMARY_CHARS, description="A few sentences of the story.")
    style: Style = Field(description="The requested style, or the genre phase 1 chose.")
    pages: int = Field(ge=MIN_PAGES, le=MAX_PAGES, description="Pages the book has, as requested.")
    reading_direction: ReadingDirection = Field(description="`rtl` for Japanese (right to left, vertical text), "
                                                            "`ltr` for English.")


class FeedbackApplied(Shape):
    """The feedback a run answered, as recorded in its metadata."""

    option: str | None = Field(default=None, description="The quick option, if one was picked.")
    text: str | None = Field(default=None, description="The person's own words.")
    intensity: Unit | None = Field(default=None, description="How strongly, 0..1.")


class ProcessingMetadata(Shape):
    """Every phase output carries it: which phase made it, when, and (text phases) with which provider
    and in answer to which feedback."""

    phase: PhaseNumber
    timestamp: Timestamp
    status: Literal["completed"] = Field(description="Always `completed`: a phase that fails produces no output.")
    provider: ProviderName | None = Field(default=None, description="The text phases' provider: `offline`, "
                                                                    "`simulated` or `vertex`.")
    feedback: FeedbackApplied | None = Field(default=None, description="Present when the run answered feedback.")
    started_at: Timestamp | None = Field(default=None, description="When the attempt's work began, where that was "
                                         "before the call that recorded it (phase 7: its first `page` call).")


class Palette(Shape):
    """A character's four colours, so they look the same in every panel (`#rrggbb`). Outfits of different
    characters are clearly different."""

    hair: HexColour
    skin: HexColour
    outfit: HexColour
    accent: HexColour


class Figure(Shape):
    """How the procedural art draws a character."""

    hair_style: HairStyle
    build: Build
    height: float = Field(ge=0.8, le=1.1, description="Relative height; 1.0 is an average adult.")
    age: Age


class Character(Shape):
    """One person (or robot, or group) of the story with one consistent look.

    An unnamed figure is still a character (`"name": "少女"` / `"the stranger"`), so every figure in every
    panel has an id and a consistent look; a group such as "the runaways" is one character of kind `group`,
    drawn as a small crowd.

    One person is one character: `aliases[]` holds every other way the story names them: the family or
    given name alone (`山田太郎` is also `山田`, `太郎`), the name with an honorific or title (`佐藤部長`,
    `部長`, `Captain Vance`, `Dr. Okafor`, `the captain`), a kinship word or role that stands for them
    (`兄` for `兄の大樹`, `my mother` for "my mother, Ruth Hale") and a nickname the story introduces
    (`タロちゃん` from 「タロちゃん」と呼ばれる, `Stretch` from "everyone called him Stretch"). Later phases
    refer to the character by `id` only, so it has one look in every panel and in the manifest."""

    id: str = Field(min_length=1, description="`c1`, `c2`, ... in order of appearance; later phases use only this.")
    name: str = Field(min_length=1, description="The name the story uses most (or a description for an unnamed "
                                                "figure).")
    aliases: list[str] = Field(description="Every other name, title, kinship word or nickname the story uses "
                                           "for this character.")
    role: Role
    kind: CharacterKind = Field(description="`group` is drawn as a small crowd.")
    personality: str
    visual_description: str = Field(description="A description an illustrator (or an image model) can follow.")
    palette: Palette
    figure: Figure
    added_by_feedback: bool = Field(default=False, description="True for a character a person asked for.")


class Setting(Shape):
    """Where and when a scene happens."""

    place: str = Field(description="A place word of the story standing on its own (柔道部の練習 is in a dojo).")
    time_of_day: TimeOfDay
    weather: Weather
    indoor: bool


class Beat(Shape):
    """One step of a scene, in story order.

    Every quoted line of the story is exactly one `dialogue` beat with its original text (without the 「」 or
    quotes). The prose between them becomes `narration` / `action` beats, in story order: every sentence,
    word for word (a long sentence is cut into several beats only at 、 , ; : and never inside a clause). A
    quoted word that names or labels something (「タロちゃん」と呼ばれる, 黒板に「候補」と書く, everyone called
    him "Stretch") is part of the prose, not a line."""

    kind: BeatKind
    text: str
    speaker: str | None = Field(description="The speaking character's id for a line; null for prose.")
    delivery: DialogueKind = Field(description="How it is lettered: `speech`, `thought`, `shout`, `narration` "
                                               "or `sfx`.")
    source: Span | None = Field(default=None, json_schema_extra=NOT_ASKED,
                                description="The story span the beat renders (found by the offline reading).")


class Scene(Shape):
    """One event of the story, in order, with the beats it renders. The scene with the highest `importance`
    (1.0) is the climax and has `emotion: "climax"`."""

    scene_id: str = Field(description="`s1`, `s2`, ... in story order.")
    act: Act = Field(description="`ki`/`sho`/`ten`/`ketsu` (kishotenketsu) or `setup`/`confrontation`/"
                                 "`resolution` (three_act).")
    description: str
    characters: list[str] = Field(description="Ids of the characters present.")
    setting: Setting
    emotion: Emotion
    importance: Unit = Field(description="0..1; the climax has 1.0.")
    beats: list[Beat]
    added_by_feedback: bool = Field(default=False, description="True for an episode a person asked for.")


class Dialogue(Shape):
    """One line of lettering: a quoted line, a narration caption or a sound effect."""

    speaker: str | None = Field(description="The character id; null for narration and sound effects.")
    text: str
    kind: DialogueKind
    source_text: str | None = Field(default=None, json_schema_extra=NOT_ASKED, description=(
        "Phase 6 and translations: the story's words this line stands for when the lettered `text` differs (a "
        "person's correction at the gate, or a translation); the quality checks read the story's words here."))


class Condensed(Shape):
    """Story text left off the page on purpose. Everything else in the story reaches a caption or a bubble,
    in order; the evaluators check it (`text_kept`).

    Reasons: `attribution` (the words that only say who speaks: と言った, "said Tom", 'Mara asked,', which
    the bubble's speaker makes redundant), `page_budget` (phase 4: narration taken out because the pages
    cannot letter it comfortably; the sentence stays in its panel's `scene_description`, so the art shows
    it) and `faster_pacing` (phase 3, after that feedback)."""

    source: Span
    text: str = Field(description="The characters of `source`.")
    reason: CondensedReason


CharacterIds = Annotated[list[str], Field(description="Ids of the characters in it.")]
