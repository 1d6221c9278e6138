"""The building blocks every shape is made of: the base class, the limits, the vocabularies (enums)
and the small value types (unit interval, story span, gs:// URI, colour)."""
from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# ------------------------------------------------------------------ limits (one place each)

MAX_ATTEMPTS = 20
"""Attempts recorded per phase (and per panel): (1 + 3 quality retries) x (1 + 3 modifications) = 16
fit under it. The store's check, the HTTP schemas' `attempt` and the SQL CHECK all hold this number
(tests/model/test_attempt_limit.py fails when one drifts)."""
MAX_MODIFICATION_ROUNDS = 3  # a gate is reopened at most 3 times after "modify" (rounds 0..3)
PHASE_COUNT = 7
MIN_PAGES, MAX_PAGES = 1, 32
MAX_TEXT_CHARS = 50_000
MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 400
MAX_PANELS_PER_PAGE = 9
MAX_REFERENCE_IMAGES = 2
HITL_TIMEOUT_S = (30, 86_400)  # how long a gate may wait, bounded

# ------------------------------------------------------------------ vocabularies

Language = Literal["ja", "en"]
ReadingDirection = Literal["rtl", "ltr"]
Style = Literal["shonen", "shojo", "seinen", "josei", "kodomo"]
Tone = Literal["somber", "serious", "bittersweet", "warm", "hopeful", "bright"]
Role = Literal["protagonist", "deuteragonist", "supporting", "minor"]
CharacterKind = Literal["person", "robot", "group"]
HairStyle = Literal["long", "short", "ponytail", "spiky", "bob", "bald", "bun"]
Build = Literal["slim", "average", "broad", "robot", "small"]
Age = Literal["child", "teen", "adult", "elder"]
Pacing = Literal["fast", "slow"]
StoryStructure = Literal["kishotenketsu", "three_act"]
Act = Literal["ki", "sho", "ten", "ketsu", "setup", "confrontation", "resolution"]
TimeOfDay = Literal["dawn", "day", "evening", "night"]
Weather = Literal["clear", "rain", "storm", "snow"]
Emotion = Literal["calm", "joy", "tension", "sad", "climax", "mystery", "warm"]
BeatKind = Literal["narration", "dialogue", "action"]
DialogueKind = Literal["speech", "thought", "shout", "narration", "sfx"]
CondensedReason = Literal["attribution", "page_budget", "faster_pacing"]
LayoutType = Literal["grid", "tier", "splash", "inset"]
PanelSize = Literal["splash", "large", "medium", "small"]
CameraAngle = Literal["wide", "birds_eye", "worms_eye", "medium", "bust", "close_up"]
Shot = Literal["establishing", "dialogue", "action", "reaction", "detail", "atmosphere", "climax"]
Facing = Literal["left", "right"]
Expression = Literal["neutral", "smile", "sad", "angry", "surprised", "determined"]
Fallback = Literal["none", "simplified", "procedural", "placeholder"]
BubbleShape = Literal["oval", "cloud", "burst", "rect", "none"]
FontFamily = Literal["sans", "serif"]
ProviderName = Literal["offline", "simulated", "vertex"]
RequestStatusName = Literal["pending", "running", "waiting", "completed", "failed", "cancelled"]
RunStatus = Literal["running", "succeeded", "failed", "skipped"]
GateDecision = Literal["approve", "modify", "skip"]
Verdict = Literal["pass", "warn", "retry", "give_up"]

STYLES: tuple[str, ...] = get_args(Style)
LANGUAGES: tuple[str, ...] = get_args(Language)
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
GATE_DECISIONS: tuple[str, ...] = get_args(GateDecision)

# ------------------------------------------------------------------ value types

PhaseNumber = Annotated[int, Field(ge=1, le=PHASE_COUNT, description="The phase, 1..7.")]
Attempt = Annotated[int, Field(ge=1, le=MAX_ATTEMPTS, description="1, 2, ... for each run of the phase "
                                                                   f"(at most {MAX_ATTEMPTS}).")]
Unit = Annotated[float, Field(ge=0, le=1)]
Offset = Annotated[int, Field(ge=0)]
Span = Annotated[list[Offset], Field(min_length=2, max_length=2, description=(
    "[start, end) in the normalised story (`mangaflow.story.normalise`: line endings unified, trailing "
    "spaces stripped)."))]
Box = Annotated[list[Unit], Field(min_length=4, max_length=4)]
Point = Annotated[list[Unit], Field(min_length=2, max_length=2)]
GsUri = Annotated[str, Field(pattern=r"^gs://")]
HexColour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Timestamp = Annotated[str, Field(description="ISO-8601 with offset.")]
RequestId = Annotated[str, Field(pattern=r"^r-[0-9a-f]{16,32}$")]
PanelId = Annotated[str, Field(pattern=r"^p[0-9]{2,3}-[0-9]{1,2}$")]

NOT_ASKED: dict[str, Any] = {"x-not-asked": True}
"""Marks a field the phase's own code fills in (carried forward, drawn, measured): the text model is
never asked for it, so `vertex_schema` leaves it out. Put it in `Field(json_schema_extra=NOT_ASKED)`."""


class Shape(BaseModel):
    """Every shape: strict JSON types (no "5" for 5), and fields beyond the declared ones kept, since
    phases add fields as they grow (the JSON Schemas stay open the same way)."""

    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)


class Row(BaseModel):
    """A row as a store returns it: every column present (null when empty), timestamps as ISO-8601
    strings. Extra columns are kept, and tests/model/test_rows.py fails until the model names them."""

    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)
