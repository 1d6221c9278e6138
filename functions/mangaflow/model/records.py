"""The request, the feedback a phase receives, the quality verdicts, and the rows the stores keep
(requests, phase runs, approval gates, feedback, preview versions) with the state `get_status` answers."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import (HITL_TIMEOUT_S, MAX_MODIFICATION_ROUNDS, MAX_PAGES, MAX_TEXT_CHARS, MAX_TITLE_CHARS, MIN_PAGES,
                   Attempt, Fallback, GateDecision, Language, PhaseNumber, RequestId, RequestStatusName, Row, RunStatus,
                   Shape, Style, Timestamp, Unit, Verdict)
from .phases import FinalPage

# ------------------------------------------------------------------ what the phases receive


class Request(Shape):
    """The request as every phase sees it (`inputs`): the story and what was asked. Each earlier phase's
    output is added beside it under its key (`concept`, `characters`, `plot`, `storyboard`, `images`,
    `lettering`), so later phases read everything before them."""

    request_id: RequestId
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="The story, stripped.")
    language: Language = Field(description="Detected when the user left it out or said `auto` (any kana or "
                                           "kanji means `ja`).")
    style: Style | None = Field(description="The requested style; null lets phase 1 choose the genre.")
    pages: int = Field(ge=MIN_PAGES, le=MAX_PAGES, description="Pages the book has (default 8).")
    title: str | None = Field(max_length=MAX_TITLE_CHARS, description="Optional; phase 1 makes one otherwise.")


class Feedback(Shape):
    """What a person (or the quality gate) asks a phase to change: null, or free text, a quick option, an
    intensity and the evaluator's hints. Quick options: 1 `brighter`, `more_serious`, `change_genre`,
    `change_target_age`; 2 `add_character`, `remove_character`, `personality`, `visual`; 3
    `faster_pacing`, `slower_pacing`, `stronger_climax`, `add_episode`; 4 `panel_layout`, `composition`,
    `camera_angle`, `direction`; 5 `art_style`, `colour`, `regenerate_panel`, `quality`; 6 `move_bubble`,
    `font`, `add_sfx`, `bubble_shape`; 7 `final_touches`, `format`, `quality`, `check_output`
    (`mangaflow.hitl.options.QUICK_OPTIONS`). Without an option, the text is matched against a few words
    per option (English and Japanese). Phases 6 and 7 read structured options too (`panel_id`,
    `dialogue_index`, `paper`, `exports`, ...), kept as extra fields."""

    text: str = Field(default="", max_length=2000, description="The person's own words.")
    option: str | None = Field(default=None, max_length=64, description="A quick option of the phase.")
    intensity: Unit = Field(default=0.5, description="How strongly, 0..1.")
    hints: list[str] = Field(default_factory=list, description="The evaluator's hints for a retry.")


class Evaluation(Shape):
    """`quality.evaluate(phase, output, inputs)`: the score of one output, independent of the provider
    that made it.

    The score is the weighted mean of the checks, capped by the critical ones (`quality.CRITICAL`, each
    with the value at which it stops limiting the score and the value at which it fails): `text_kept`
    (phases 3, 4, 6: the share of the story's letters and digits that reach a caption or a bubble in
    reading order, or are declared in `condensed[]`; an "attribution" that is long or touches no quoted
    line counts as condensed), `one_identity_per_person` (phase 2: no two characters where one's name is
    part of the other's, the same name with an honorific or title, or a nickname the story gives someone),
    `speakers_in_panels` (phase 4) and `speakers_drawn` (phase 5: the speaker of every line is among the
    panel's characters and staged), `lettering_room` (phase 4: panels whose lettering would cover more than
    45 % of them, estimated by `quality.room`), `captions_whole` (phases 3 and 4: no caption cut inside a
    clause), `places_consistent` (phase 3: the place is a place word of the story standing on its own, its
    indoor flag matches, and a scene that opens somewhere named is set there), `quotes_once` /
    `quotes_lettered`. Between a critical check's two values the phase passes with a warning (0.60-0.70,
    `warning` says which check); at or below the second it is retried with the hints (below 0.60). The
    hints say what to fix in words the offline rules act on (`condense narration`, `'A' and 'B' are one
    person`, `set the scene where its own words say it is`)."""

    score: Unit
    hints: list[str]
    checks: dict[str, Unit] = Field(description="Each check by name, 0..1.")
    warning: str | None = Field(default=None, description="Which check keeps the score in the warning band.")


class QualityVerdict(Shape):
    """`quality.gate(score, retries_so_far)`: what happens to a scored output. At or above 0.70 it passes;
    0.60-0.70 passes with a warning (flagged); below 0.60 it is retried with the evaluator's hints while
    fewer than 3 retries were made, then given up on: the pipeline continues with the best attempt, flagged.
    `quality.retry_delay(phase, attempt, key)` gives the seconds before a retry, and
    `quality.produce_with_quality_gate(produce, judge)` runs the YAML's produce/judge/retry/keep-the-best
    loop in one process (tests and `bench/bench_story.py`)."""

    decision: Verdict
    score: Unit
    attempt: int = Field(ge=0, description="Retries already made (0 the first time).")
    retry: bool
    flagged: bool
    use_best_attempt: bool
    retries_left: int = Field(ge=0)


# ------------------------------------------------------------------ rows of the stores


class GenerationRequest(Row):
    """A generation request as PostgreSQL keeps it (`generation_requests`), made by `start_generation`:
    who asked, what, and where the run stands."""

    request_id: RequestId
    user_id: str = Field(min_length=1, description="The authenticated principal who owns the request.")
    client_address: str | None = Field(description="The caller's address as the platform reports it.")
    title: str | None
    language: Language | None
    style: Style | None
    pages: int | None = Field(ge=1, le=200, description="Checked against 1..32 before it is stored; the "
                                                        "table allows up to 200.")
    input_uri: str | None = Field(description="The story in the input bucket.")
    status: RequestStatusName
    current_phase: PhaseNumber | None
    hitl_timeout_s: int = Field(ge=HITL_TIMEOUT_S[0], le=HITL_TIMEOUT_S[1],
                                description="How long each approval gate waits.")
    auto_approve: bool
    options: dict[str, Any] = Field(description="`hitl_mode`, `concurrency_limit`, ...")
    result_uri: str | None = Field(description="The manifest, once completed.")
    error: str | None
    execution_name: str | None = Field(description="The workflow execution running it.")
    created_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None


class PhaseRun(Row):
    """One attempt of a phase (phase 5: of one panel) as PostgreSQL keeps it (`phase_runs`). Every attempt
    is kept; recording the same (request, phase, attempt, panel) again writes nothing."""

    run_id: int
    request_id: RequestId
    phase: PhaseNumber
    attempt: Attempt
    panel_id: str | None = Field(description="Phase 5's panel; null for a whole-phase run.")
    status: RunStatus
    input_uri: str | None
    output_uri: str | None = Field(description="The output, content-addressed.")
    score: Unit | None = Field(description="The quality score, 0..1.")
    decision: Verdict | None = Field(description="The quality gate's decision.")
    hints: list[str]
    fallback: Fallback | None = Field(description="Phase 5: which drawing was made.")
    error: str | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_ms: int | None = Field(ge=0)
    created_at: Timestamp


class ApprovalGate(Row):
    """An approval gate as PostgreSQL keeps it (`approval_gates`): one per phase and modification round
    (round 0 is the first review, then up to 3 reruns). A decision reaches the workflow through the gate's
    callback URL, carrying a token signed for that request, phase and gate that expires at the deadline;
    the first decision wins. Nobody answering in time means "continue", recorded as `timed_out`."""

    gate_id: str = Field(pattern=r"^g-r-[0-9a-f]{16,32}-[1-7]-[0-3](-[1-9][0-9]{0,2})?$", description=(
        "`g-{request}-{phase}-{round}`, and `-{run}` after it for the gates of a reopened run."))
    request_id: RequestId
    phase: PhaseNumber
    round: int = Field(ge=0, le=MAX_MODIFICATION_ROUNDS)
    run: int = Field(default=0, ge=0, le=999, description=(
        "0: the request's first run; 1, 2, ...: the runs of its reopenings (`reopen`), each with gates of its own."))
    callback_url: str | None
    preview_uri: str | None
    opened_at: Timestamp
    deadline: Timestamp
    decision: GateDecision | None
    decided_by: str | None
    decided_at: Timestamp | None
    timed_out: bool
    feedback: str | None


class FeedbackRecord(Row):
    """A requested modification as PostgreSQL keeps it (`feedback`): the person's text or quick option, the
    parsed intent and its intensity."""

    feedback_id: str
    request_id: RequestId
    phase: PhaseNumber
    gate_id: str | None
    text: str = Field(max_length=10_000)
    quick_option: str | None
    parsed_intent: dict[str, Any]
    intensity: Unit | None
    confidence: Unit | None
    applied: bool
    created_at: Timestamp


class PreviewVersion(Row):
    """A preview shown for a phase, numbered 1, 2, ... so versions can be compared and reverted to."""

    request_id: RequestId
    phase: PhaseNumber
    version: int = Field(ge=1)
    uri: str
    attempt: int | None
    label: str | None
    created_at: Timestamp


ShownDecision = Literal["approve", "modify", "skip", "timeout"]


class PhaseHistory(Row):
    """Everything recorded for one phase of a request."""

    phase: PhaseNumber
    attempts: list[PhaseRun]
    scores: list[Unit]
    best_score: Unit | None
    gates: list[ApprovalGate]
    decisions: list[ShownDecision | None] = Field(description="Each gate's decision; `timeout` when nobody "
                                                              "answered in time.")
    artifacts: list[str] = Field(description="Every artifact URI.")
    previews: list[PreviewVersion]
    feedback: list[FeedbackRecord]


class RequestHistory(GenerationRequest):
    """The request with, per phase that has anything recorded, its history (`Requests.state`)."""

    phases: list[PhaseHistory]


# ------------------------------------------------------------------ what get_status answers


class AttemptStatus(PhaseRun):
    """An attempt as `get_status` shows it."""

    seconds: float = Field(ge=0, description="duration_ms in seconds.")
    selected: bool = Field(default=False, description="The attempt later phases use (the last whole one).")


class GateStatus(ApprovalGate):
    """A gate as `get_status` shows it. Someone who is not the owner (a link holder) does not see the
    callback URL."""

    callback_url: str | None = Field(default=None, description="The owner only.")
    decision: ShownDecision | None = Field(description="`timeout` when nobody answered in time.")


class PhaseTiming(Shape):
    """Where a phase's time went, from its recorded runs and model calls. `span_s` is the wall time (phase 5:
    its panel calls and `collect` included, run side by side); `work_s` and `panels_s` add up the runs' own
    durations, so with panels drawn at once `panels_s` exceeds `span_s`; `ai_wait_s` adds up the latency of
    every model call (simulated waits included), so the rest of `work_s + panels_s` is our own work."""

    span_s: float = Field(ge=0, description="First start to last end of every run and model call of the phase.")
    work_s: float = Field(ge=0, description="Summed duration of the whole-phase attempts (phase 5: `collect`).")
    panels_s: float = Field(ge=0, description="Phase 5: summed duration of the panel calls; 0 elsewhere.")
    panel_calls: int = Field(ge=0, description="Phase 5: panel calls recorded (every attempt).")
    ai_wait_s: float = Field(ge=0, description="Summed latency of the phase's model calls (every try).")
    ai_calls: int = Field(ge=0, description="Model call tries recorded for the phase (cache hits not counted).")


class PhaseStatus(PhaseHistory):
    """A phase as `get_status` shows it: attempts, scores, gate decisions, previews, feedback and every
    artifact URI (outputs, panel images, pages and exports), and where its time went."""

    name: str = Field(description="The phase's key (`concept`, ..., `final`).")
    attempts: list[AttemptStatus]
    gates: list[GateStatus]
    timing: PhaseTiming


class ReviewLink(Shape):
    """An open approval gate's review link, as `get_status` gives it to the request's owner."""

    phase: int = Field(ge=1, le=7)
    gate_id: str
    deadline: int = Field(description="Unix time the gate stops waiting (and the link expires).")
    approval_url: str = Field(description="`…/review_gate?request_id=…&phase=…&gate_id=…#token=…`")


class ExecutionRun(Shape):
    """One run of the workflow for a request: its first, or one started by reopening it at a phase gate."""

    execution: str | None = Field(description="The workflow execution's name (null if it was never recorded).")
    start_phase: int = Field(ge=1, le=7, description="1 for the first run; the reopened gate's phase otherwise.")
    started_at: str = Field(description="When the run was asked for (ISO 8601).")
    hitl_mode: str | None = Field(default=None, description="`review` or `auto` (a reopened run's own mode).")


class TranslationRef(Shape):
    """A translation made of this request's book (`translate`): a request of its own."""

    request_id: RequestId
    language: Language = Field(description="The translation's language.")
    status: RequestStatusName
    created_at: str = Field(description="When it was made (ISO 8601).")


class RequestStatus(RequestHistory):
    """What `get_status` answers: the request with every phase (`"phase": N`), the number of panels drawn,
    and the finished pages and exports. Someone who is not the owner does not see `client_address`."""

    client_address: str | None = Field(default=None, description="The owner only.")
    phases: list[PhaseStatus]
    panel_count: int = Field(ge=0)
    final_pages: list[FinalPage]
    exports: dict[str, str | None] = Field(description="`pdf`, `cbz`, `manifest` once phase 7 ran; empty before.")
    page_count: int = Field(ge=0)
    review_links: list[ReviewLink] = Field(default_factory=list, description=(
        "The owner only: the review link of every gate still waiting (the token is in the link's fragment)."))
    cost: dict[str, Any] = Field(default_factory=dict, description=(
        "What the request's model calls cost so far at list price (`cost_usd`), calls by kind, cache hits, "
        "fallbacks, tokens, per phase and model, the budget and whether it stopped the model; with the "
        "request's `provider`, `image_mode` and `prices_as_of` (see docs/vertex.md)."))
    reopened_from_phase: int | None = Field(default=None, ge=1, le=7, description=(
        "The gate the request was last reopened at (`reopen`); null when it never was."))
    executions: list[ExecutionRun] = Field(default_factory=list, description=(
        "Every run of the workflow for the request, oldest first: the first, then one per reopening."))
    translations: list[TranslationRef] = Field(default_factory=list, description=(
        "The owner only: the translations made of this book (`translate`), oldest first."))
