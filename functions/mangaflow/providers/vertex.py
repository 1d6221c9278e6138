"""The Vertex AI provider: each phase asks a Gemini model (google-genai, Vertex AI backend) for JSON in the
data-model shape, then checks the answer against the offline provider's output for the same inputs; `image`
asks a Gemini image model for a character sheet, a panel or a whole page.

Configuration: GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_LOCATION (default "global"), MANGAFLOW_TEXT_MODEL,
MANGAFLOW_IMAGE_MODEL, and VERTEX_AI_EMULATOR_HOST (host:port of `localcloud.vertex_stub`).
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import json
import logging
import re
import threading
from collections import Counter
from typing import Any

from google.auth.exceptions import GoogleAuthError
from google.genai import errors as genai_errors
from google.genai import types

from .. import model, offline
from ..model.vertex_schema import vertex_schema
from ..config import Settings, settings
from ..errors import UpstreamUnavailable, ValidationError
from ..offline.common import language_of, pages_of
from . import pricing
from .base import Feedback, ImageJob
from .calls import TRANSIENT_CODES, BudgetExhausted, CallScope, CallSpec, Outcome, PermanentError, Reply, TransientError, unrecorded

log = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = "gemini-2.5-flash"
DEFAULT_IMAGE_MODEL = "gemini-2.5-flash-image"
DEFAULT_LOCATION = "global"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMAGE_ASPECTS = {"1:1": 1.0, "2:3": 2 / 3, "3:2": 1.5, "3:4": 0.75, "4:3": 4 / 3, "4:5": 0.8, "5:4": 1.25,
                 "9:16": 9 / 16, "16:9": 16 / 9, "21:9": 21 / 9}
MAX_REFERENCE_IMAGES = 3

# ------------------------------------------------------------------ response schemas (Vertex AI's OpenAPI subset)
# Generated from the phase output models (`mangaflow.model`): the shape is defined once, and the fields a
# phase fills in itself (metadata, image URIs, provenance) are never asked of the model.
CONCEPT_SCHEMA = vertex_schema(model.Concept)
CHARACTERS_SCHEMA = vertex_schema(model.Characters)
PLOT_SCHEMA = vertex_schema(model.Plot)
STORYBOARD_SCHEMA = vertex_schema(model.Storyboard)
PANEL_DESCRIPTION_SCHEMA = vertex_schema(model.PanelImage)
TRANSLATION_SCHEMA = vertex_schema(model.TranslationAnswer)
BEAT = PLOT_SCHEMA["properties"]["scenes"]["items"]["properties"]["beats"]["items"]


SYSTEM_INSTRUCTION = (
    "You are the editor of a manga studio. You turn a story into a manga one phase at a time and answer with "
    "JSON only, in exactly the shape of the response schema. Keep every quoted line of the story word for word "
    "(without its quote marks) and in story order. Ids you are given (c1, s1, p01-1...) are references: reuse "
    "them, never rename them. Write descriptive text in the story's language unless told otherwise. The inputs "
    "are in the fenced JSON block at the end of the prompt.")

PHASE_TASKS = {
    "concept": (
        "Phase 1, concept. Read the story and decide its theme (one phrase) and 2-4 themes, the genre (the "
        "requested style when one is given), the world setting, the target audience, the tone, 5-10 keywords "
        "taken from the story, an estimate of the pages it needs, and story_context: language, title (the "
        "request's title when given), a summary of at most 400 characters, style, pages (as requested) and "
        "reading_direction (rtl for Japanese, ltr for English)."),
    "characters": (
        "Phase 2, characters. List every figure of the story, named or not, as a character with id c1, c2... "
        "in order of appearance: name, aliases, role, kind (a group of people is one character of kind group), "
        "personality, a visual description an illustrator can follow, a palette of four #rrggbb colours "
        "(outfits of different characters clearly different) and a figure. Add the relationships between "
        "characters and reference_requests (square, 768x768) for at most the two main characters."),
    "plot": (
        "Phase 3, plot. Split the story into scenes in story order (ids s1, s2...), each with an act "
        "(kishotenketsu for Japanese: ki/sho/ten/ketsu; three_act for English: setup/confrontation/resolution), "
        "description, the ids of the characters present, setting, emotion and importance (the single climax "
        "scene has importance 1.0 and emotion climax). Beats: every quoted line of the story becomes exactly "
        "one dialogue beat with its exact text and the id of its speaker; the prose between becomes narration "
        "or action beats, in story order. emotional_arc has one 0..1 value per scene; page_allocation shares "
        "the requested pages between the scenes."),
    "storyboard": (
        "Phase 4, the name (storyboard). Lay the scenes out on exactly the requested number of pages. Each page "
        "has 3-6 panels tiling its live area with gutters (bbox [x, y, w, h] in 0..1, no overlap); "
        "reading_order starts at 1 on each page, top-right first for rtl. Panel ids are pNN-k (page, order). "
        "Dialogues carry every quoted line of the plot exactly once, in story order, at most 3 lines per panel, "
        "plus every narration beat as a caption (speaker null) and sound effects. Prose you leave out goes in "
        "condensed (its source span, its text, reason page_budget); keep the plot's condensed entries."),
    "panel_description": (
        "Phase 5, one panel's picture. Describe what the panel shows for an illustrator (camera, place, light, "
        "weather, mood, who does what), write an image prompt that adds the characters' visual descriptions, "
        "and stage each figure: x, y of the head in the panel (0..1), scale, facing and expression. The first "
        "speaker stands on the side the page is read from. size_px is the panel's size on the page in pixels."),
    "translate": (
        "Translation of a finished manga. Translate every line (speech, thoughts, shouts, captions and sound "
        "effects) from source_language into target_language as a manga translator would: natural, short enough "
        "for a speech bubble, the speaker's voice kept, names kept, sound effects as the target language writes "
        "them. Answer each line under its id, every id exactly once, in the order given."),
}

# ------------------------------------------------------------------ clients, once per process

_CLIENTS: dict[tuple[str, str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def emulator_base_url() -> str | None:
    """`http://host:port` of the local Vertex AI stand-in when VERTEX_AI_EMULATOR_HOST is set."""
    host = settings().vertex_emulator_host
    if not host:
        return None
    return host.rstrip("/") if host.startswith(("http://", "https://")) else f"http://{host}"


def shared_client(project: str, location: str, base_url: str | None = None) -> Any:
    """One `genai.Client` per (project, location, endpoint) for the life of the process (connection reuse)."""
    key = (project, location, base_url or "")
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            from google import genai

            if base_url:
                # The SDK always sends a bearer token for Vertex AI; a fixed token with no expiry means it never
                # tries to refresh (AnonymousCredentials has no token, so the SDK would try and fail).
                from google.oauth2.credentials import Credentials

                client = genai.Client(vertexai=True, project=project, location=location,
                                      credentials=Credentials(token="local-vertex-stub"),
                                      http_options=types.HttpOptions(base_url=base_url))
            else:
                client = genai.Client(vertexai=True, project=project, location=location)
            _CLIENTS[key] = client
        return client


# ------------------------------------------------------------------ the provider

# The most output (text and thinking) each call may bill: bounds what the budget reserves before it.
MAX_OUTPUT_TOKENS = {"concept": 4096, "characters": 8192, "plot": 16384, "storyboard": 16384,
                     "panel_description": 2048, "translate": 16384}
# Thinking is billed as output: the four planning phases may think a little, a panel description (a
# straightforward rewrite of one storyboard panel, 28 of them in an 8-page book) does not think at all.
THINKING_BUDGET = {"concept": 1024, "characters": 1024, "plot": 1024, "storyboard": 1024, "panel_description": 0,
                   "translate": 0}
IMAGE_TEXT_TOKENS = 1024  # an image answer may carry a few words besides the picture
BLOCK_REASONS = ("SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
                 "RECITATION", "IMAGE_RECITATION", "NO_IMAGE", "IMAGE_OTHER", "OTHER")


class _Rules:
    """The offline rules called directly: what fills gaps in the model's answers (not model calls,
    so never recorded, faulted or billed)."""

    concept = staticmethod(offline.concept)
    characters = staticmethod(offline.characters)
    plot = staticmethod(offline.plot)
    storyboard = staticmethod(offline.storyboard)

    @staticmethod
    def panel_description(inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        return offline.describe(inputs, panel_id, feedback)


class VertexProvider:
    """Gemini on Vertex AI behind the Provider protocol; answers keep the offline provider's shape.
    Every request goes through the scope (deadline, retries, faults, budget, records); when the budget
    is spent the text phases take the offline rules' answer and images fall back (see providers.images)."""

    name = "vertex"
    draws_with_model = True

    def __init__(self, project: str | None = None, location: str | None = None, text_model: str | None = None,
                 image_model: str | None = None, base_url: str | None = None, scope: CallScope | None = None) -> None:
        config = settings()
        self.project = project or config.google_cloud_project
        emulated = bool(base_url or config.vertex_emulator_host)
        if not self.project or (self.project == Settings.google_cloud_project and not emulated):
            raise ValidationError("GOOGLE_CLOUD_PROJECT must name the Google Cloud project for Vertex AI",
                                  field="GOOGLE_CLOUD_PROJECT")
        self.location = location or config.vertex_location
        self.text_model = text_model or config.text_model
        self.image_model = image_model or config.image_model
        for model in (self.text_model, self.image_model):
            pricing.price_of(model)  # a model without a price could pass any budget: refuse it now
        self.base_url = base_url or emulator_base_url()
        self.scope = scope or unrecorded()
        self.offline = _Rules()
        self.client = shared_client(self.project, self.location, self.base_url)

    # ---------------------------------------------------------------- phases

    def concept(self, inputs: dict, feedback: Feedback) -> dict:
        payload = {"phase": "concept", "inputs": _request_part(inputs), "feedback": feedback}
        answer = self._ask_json("concept", payload, CONCEPT_SCHEMA, inputs, feedback)
        fallback = self.offline.concept(inputs, feedback)
        result = conform(answer, CONCEPT_SCHEMA, fallback)
        context = result["story_context"]
        # What the person asked for is not the model's to change.
        context["pages"] = pages_of(inputs)
        context["language"] = fallback["story_context"]["language"]
        context["reading_direction"] = fallback["story_context"]["reading_direction"]
        if str(inputs.get("title") or "").strip():
            context["title"] = str(inputs["title"]).strip()
        return result

    def characters(self, inputs: dict, feedback: Feedback) -> dict:
        part = _request_part(inputs)
        part["concept"] = _without_metadata(inputs.get("concept"))
        payload = {"phase": "characters", "inputs": part, "feedback": feedback}
        answer = self._ask_json("characters", payload, CHARACTERS_SCHEMA, inputs, feedback)
        result = conform(answer, CHARACTERS_SCHEMA, self.offline.characters(inputs, feedback))
        ids = {c["id"] for c in result["characters"]}
        result["relationships"] = [r for r in result["relationships"] if r["a"] in ids and r["b"] in ids]
        result["reference_requests"] = [r for r in result["reference_requests"] if r["character_id"] in ids][:2]
        result["reference_images"] = []  # the image phase draws them; the text model never invents URIs
        return result

    def plot(self, inputs: dict, feedback: Feedback) -> dict:
        part = _request_part(inputs)
        part["concept"] = _without_metadata(inputs.get("concept"))
        part["characters"] = _without_metadata(inputs.get("characters"))
        payload = {"phase": "plot", "inputs": part, "feedback": feedback}
        answer = self._ask_json("plot", payload, PLOT_SCHEMA, inputs, feedback)
        fallback = self.offline.plot(inputs, feedback)
        result = conform(answer, PLOT_SCHEMA, fallback)
        restore_plot_quotes(result, fallback)
        _fit_arc_and_allocation(result, pages_of(inputs))
        return result

    def storyboard(self, inputs: dict, feedback: Feedback) -> dict:
        part = {k: inputs[k] for k in ("language", "style", "pages", "title") if k in inputs}
        part["concept"] = _without_metadata(inputs.get("concept"))
        part["characters"] = _without_metadata(inputs.get("characters"))
        if isinstance(inputs.get("plot"), dict):
            part["plot"] = _without_metadata(inputs["plot"], drop=("characters", "story_context"))
        else:
            part["text"] = str(inputs.get("text") or "")
        payload = {"phase": "storyboard", "inputs": part, "feedback": feedback}
        answer = self._ask_json("storyboard", payload, STORYBOARD_SCHEMA, inputs, feedback)
        fallback = self.offline.storyboard(inputs, feedback)
        result = conform(answer, STORYBOARD_SCHEMA, fallback)
        if not pages_are_sound(result["pages"], pages_of(inputs)):
            log.warning("vertex storyboard pages failed the layout check; using the offline layout")
            result["pages"] = fallback["pages"]
        restore_storyboard_quotes(result, fallback)
        return result

    def panel_description(self, inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        fallback = self.offline.panel_description(inputs, panel_id, feedback)  # raises NotFound first
        payload = {"phase": "panel_description", "panel_id": panel_id,
                   "inputs": {"language": language_of(inputs), "storyboard": _panel_board(inputs, panel_id)},
                   "feedback": feedback}
        answer = self._ask_json("panel_description", payload, PANEL_DESCRIPTION_SCHEMA, inputs, feedback,
                                item=panel_id)
        result = conform(answer, PANEL_DESCRIPTION_SCHEMA, fallback)
        result["panel_id"] = panel_id
        result["size_px"] = fallback["size_px"]  # the panel's size on the page is geometry, not judgement
        result["characters"] = [c for c in result["characters"] if c in fallback["characters"]] or \
            fallback["characters"]
        result["staging"] = [s for s in result["staging"] if s["character_id"] in result["characters"]]
        return result

    def translate(self, lines: list[dict], source: str, target: str) -> dict:
        """Every line by id from the model; a line it leaves out (or leaves empty) is lettered from the
        marked stand-in, and counted (`kept_source_lines`)."""
        fallback = offline.translate(lines, source, target)
        payload = {"phase": "translate", "inputs": {"source_language": source, "target_language": target,
                                                    "lines": [{"id": l["id"], "text": l["text"], "kind": l.get("kind")}
                                                              for l in lines]},
                   "feedback": None}
        pages = len({str(l["id"]).split("-")[0] for l in lines}) or 1  # ids are panel/index: p03-2/0
        answer = self._ask_json("translate", payload, TRANSLATION_SCHEMA, {"language": source, "pages": pages}, None)
        by_id = {str(l.get("id")): str(l.get("text") or "").strip()
                 for l in (answer or {}).get("lines") or [] if isinstance(l, dict)}
        result, missing = [], 0
        for line, stand_in in zip(lines, fallback["lines"]):
            text = by_id.get(str(line["id"]))
            if not text:
                missing += 1
            result.append({"id": str(line["id"]), "text": text or stand_in["text"]})
        return {"lines": result, "kept_source_lines": missing}

    # ---------------------------------------------------------------- images

    def image(self, job: ImageJob) -> Outcome:
        """One picture from the image model (`responseModalities: ["IMAGE"]`, the nearest supported aspect
        ratio, the job's reference images after the prompt, its seed). The reply's value is PNG bytes, or
        None with `blocked` saying why (a safety filter, or an answer without an image)."""
        if not job.prompt.strip():
            raise ValidationError("an image prompt must not be empty", field="prompt")
        width, height = job.size_px
        aspect = min(IMAGE_ASPECTS, key=lambda k: abs(IMAGE_ASPECTS[k] - width / height))
        parts = [types.Part.from_text(text=job.prompt)]
        for reference in job.references[:MAX_REFERENCE_IMAGES]:
            mime = "image/png" if reference.data[:8] == PNG_MAGIC else "image/jpeg"
            parts.append(types.Part.from_bytes(data=reference.data, mime_type=mime))
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"], image_config=types.ImageConfig(aspect_ratio=aspect), seed=job.seed,
            labels=self._labels(f"{job.kind}_image", job.item), candidate_count=1,
            http_options=types.HttpOptions(timeout=int(settings().image_deadline_s * 1000) + 1000))
        sent = job.references[:MAX_REFERENCE_IMAGES]
        most = pricing.most_usage(len(job.prompt.encode("utf-8")), [r.size_px for r in sent], IMAGE_TEXT_TOKENS, 1,
                                  self.image_model)
        spec = CallSpec(f"{job.kind}_image", "image", self.name, self.image_model, most=most, item=job.item,
                        prompt_sha256=sha256_text(job.prompt), reference_sha256=tuple(r.sha256 for r in sent),
                        seed=job.seed)
        contents = [types.Content(role="user", parts=parts)]
        return self.scope.call(spec, lambda: _image_reply(self._send(self.image_model, contents, config)))

    # ---------------------------------------------------------------- the model call

    def _labels(self, operation: str, item: str = "") -> dict[str, str]:
        """Vertex AI billing labels: the request, phase, operation and item (panel, page, character) each call
        was for (also what the local stand-in reads to scope its test controls to one request or panel)."""
        scope = self.scope
        labels = {"mangaflow-operation": operation.replace("_", "-")}
        if scope.request_id:
            labels["mangaflow-request"] = scope.request_id
        if scope.phase:
            labels["mangaflow-phase"] = str(scope.phase)
        if item:
            labels["mangaflow-item"] = re.sub(r"[^a-z0-9_-]", "-", item.lower())[:63]
        return labels

    def _ask_json(self, phase: str, payload: dict, schema: dict, inputs: dict, feedback: Feedback,
                  item: str = "") -> dict | None:
        """The model's JSON object for one phase; a malformed answer is asked again once, then given up on.
        None when the budget is spent: the caller then takes the offline rules' answer whole."""
        prompt = build_prompt(phase, payload, inputs, feedback)
        contents = [types.Content(role="user", parts=[types.Part.from_text(text=prompt)])]
        problem = ""
        schema_chars = len(json.dumps(schema)) + len(SYSTEM_INSTRUCTION.encode("utf-8"))
        most = pricing.most_usage(len(prompt.encode("utf-8")) + schema_chars, [],
                                  MAX_OUTPUT_TOKENS[phase] + THINKING_BUDGET[phase])
        for again in ("", "again"):
            config = types.GenerateContentConfig(
                system_instruction=SYSTEM_INSTRUCTION, response_mime_type="application/json",
                response_schema=copy.deepcopy(schema),  # the SDK edits schemas in place
                temperature=0.4, max_output_tokens=MAX_OUTPUT_TOKENS[phase],
                thinking_config=types.ThinkingConfig(thinking_budget=THINKING_BUDGET[phase]),
                labels=self._labels(phase, item),
                http_options=types.HttpOptions(timeout=int(settings().text_deadline_s * 1000) + 1000))
            spec = CallSpec(phase, "text", self.name, self.text_model, most=most, item="/".join(filter(None, (item, again))),
                            prompt_sha256=sha256_text(prompt))
            try:
                outcome = self.scope.call(spec, lambda: _text_reply(self._send(self.text_model, contents, config)))
            except BudgetExhausted as spent:
                log.warning("vertex %s: %s; the offline rules answer instead", phase, spent)
                return None
            answer, problem = outcome.reply.value
            if answer is not None:
                return answer
            log.warning("vertex %s answered phase %s with %s; asking again", self.text_model, phase, problem)
        raise UpstreamUnavailable(f"Vertex AI model {self.text_model} gave no usable JSON for phase '{phase}' "
                                  f"after 2 tries ({problem})", field=phase)

    def _send(self, model: str, contents: list, config: types.GenerateContentConfig) -> Any:
        """One generateContent request; failures sorted into transient (429, 5xx, network) and permanent."""
        try:
            return self.client.models.generate_content(model=model, contents=contents, config=config)
        except genai_errors.APIError as error:
            message = f"{error.status or ''} {error.message or ''}".strip()
            if error.code in TRANSIENT_CODES:
                raise TransientError(error.code, message) from None
            raise PermanentError(error.code, message) from None
        except (OSError, *TRANSPORT_ERRORS) as error:  # connection refused, reset, timed out
            raise TransientError(None, f"{type(error).__name__}: {error}") from None
        except (GoogleAuthError, RuntimeError) as error:  # no usable credentials: retrying will not help
            raise PermanentError(None, f"Vertex AI credentials are missing or invalid ({type(error).__name__}: "
                                       f"{error}); run `gcloud auth application-default login`, or set "
                                       "VERTEX_AI_EMULATOR_HOST for the local stand-in") from None


def _text_reply(response: Any) -> Reply:
    return Reply(parse_answer(response), usage=pricing.usage_of(getattr(response, "usage_metadata", None)),
                 model_version=getattr(response, "model_version", None),
                 response_id=getattr(response, "response_id", None))


def _image_reply(response: Any) -> Reply:
    """PNG bytes of the first image in the answer, or None and why there is none."""
    usage = pricing.usage_of(getattr(response, "usage_metadata", None))
    version, response_id = getattr(response, "model_version", None), getattr(response, "response_id", None)
    reasons = []
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        reasons.append(f"prompt blocked: {_name(feedback.block_reason)}")
    for candidate in getattr(response, "candidates", None) or []:
        for part in (candidate.content.parts if candidate.content else None) or []:
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("image/"):
                return Reply(_as_png(blob.data), usage, version, response_id)
        finish = _name(getattr(candidate, "finish_reason", None))
        if finish and finish != "STOP":
            reasons.append(f"finish reason {finish}")
    return Reply(None, usage, version, response_id, blocked="; ".join(reasons) or "the answer held no image")


def _name(value: Any) -> str:
    return str(getattr(value, "name", None) or value or "")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures of whichever HTTP client the SDK picked (httpx or httpx2)."""
    found: list[type[BaseException]] = []
    for module in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()


# ------------------------------------------------------------------ prompts


def build_prompt(phase: str, payload: dict, inputs: dict, feedback: Feedback) -> str:
    """The user turn: the task, the request's constraints, feedback and hints, and the inputs as fenced JSON.

    The fenced block is the last thing in the prompt and holds exactly `payload`; the local stand-in
    (`localcloud.vertex_stub`) reads it back, so keep it there.
    """
    language = language_of(inputs)
    lines = [PHASE_TASKS[phase], "",
             f"The story is in {'Japanese' if language == 'ja' else 'English'}; the manga has exactly "
             f"{pages_of(inputs)} pages."]
    if isinstance(feedback, dict) and (feedback.get("text") or feedback.get("option")):
        lines.append("A person reviewed the previous result of this phase and asked for a change: "
                     f"option {feedback.get('option') or 'none'}, intensity {feedback.get('intensity', 0.5)}, "
                     f"in their words: \"{feedback.get('text') or ''}\". Apply it; keep everything else.")
    hints = [str(h) for h in (feedback or {}).get("hints") or []] if isinstance(feedback, dict) else []
    if hints:
        lines.append("A quality check of the previous attempt found: " + "; ".join(hints) + ". Fix these.")
    lines += ["", "Inputs:", "```json", json.dumps(payload, ensure_ascii=False, indent=1), "```"]
    return "\n".join(lines)


def _request_part(inputs: dict) -> dict:
    part = {k: inputs[k] for k in ("language", "style", "pages", "title") if k in inputs}
    part["text"] = str(inputs.get("text") or "")
    return part


def _without_metadata(output: Any, drop: tuple[str, ...] = ()) -> Any:
    if not isinstance(output, dict):
        return output
    return {k: v for k, v in output.items() if k != "processing_metadata" and k not in drop}


def _panel_board(inputs: dict, panel_id: str) -> dict:
    """A storyboard holding only the panel, its scene and its cast: all one panel's description needs."""
    board = inputs.get("storyboard") or {}
    page_of, panel = None, None
    for page in board.get("pages") or []:
        for candidate in page.get("panels") or []:
            if candidate.get("panel_id") == panel_id:
                page_of, panel = page.get("page"), candidate
    scenes = board.get("scenes") or (inputs.get("plot") or {}).get("scenes") or []
    cast = board.get("characters") or (inputs.get("characters") or {}).get("characters") or []
    wanted = set((panel or {}).get("characters") or [])
    return {"reading_direction": board.get("reading_direction"), "page_size_px": board.get("page_size_px"),
            "pages": [{"page": page_of, "panels": [panel]}],
            "scenes": [s for s in scenes if s.get("scene_id") == (panel or {}).get("scene_id")],
            "characters": [c for c in cast if c.get("id") in wanted]}


# ------------------------------------------------------------------ reading the answer


def parse_answer(response: Any) -> tuple[dict | None, str]:
    """(the JSON object the model wrote, "") or (None, what was wrong with it)."""
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        feedback = getattr(response, "prompt_feedback", None)
        reason = getattr(feedback, "block_reason", None)
        return None, f"no candidates (prompt blocked: {reason})" if reason else "no candidates"
    content = candidates[0].content
    text = "".join(p.text or "" for p in (content.parts if content else None) or [] if not p.thought)
    if not text.strip():
        return None, f"no text (finish reason {candidates[0].finish_reason})"
    cleaned = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text)
    try:
        answer = json.loads(cleaned)
    except json.JSONDecodeError as error:
        return None, f"invalid JSON ({error.msg} at character {error.pos})"
    if not isinstance(answer, dict):
        return None, f"a JSON {type(answer).__name__} instead of an object"
    return answer, ""


ID_KEYS = ("id", "scene_id", "panel_id", "character_id", "page")


def conform(value: Any, schema: dict, fallback: Any) -> Any:
    """`value` checked against `schema`; whatever is missing or wrong is taken from `fallback` (the offline
    answer for the same inputs), so a partial answer still gives a complete, well-typed phase output.

    Objects keep the fallback's extra keys (ones the model is not asked for); list items are matched to
    fallback items by id (or position); an item missing a required field that nothing can fill is dropped.
    """
    kind = schema.get("type")
    if value is None:
        return None if schema.get("nullable") else fallback
    if kind == "OBJECT":
        if not isinstance(value, dict):
            return fallback
        base = fallback if isinstance(fallback, dict) else {}
        result = {k: v for k, v in base.items() if k not in schema["properties"]}
        for key, sub in schema["properties"].items():
            if key in value:
                checked = conform(value[key], sub, base.get(key))
            else:
                checked = base.get(key)
            if checked is not None or (key in value and sub.get("nullable")) or key in base:
                result[key] = checked
        if any(result.get(k) is None and not schema["properties"][k].get("nullable") for k in schema["required"]):
            return fallback
        return result
    if kind == "ARRAY":
        if not isinstance(value, list):
            return fallback
        base = fallback if isinstance(fallback, list) else []
        items = [item for item in (_conform_item(v, i, schema["items"], base) for i, v in enumerate(value))
                 if item is not None]
        if len(items) < schema.get("min_items", 0) or len(items) > schema.get("max_items", 10 ** 6):
            return fallback if isinstance(fallback, list) else items[: schema.get("max_items", len(items))]
        return items
    if kind == "STRING":
        if not isinstance(value, str):
            return fallback
        if "enum" in schema and value not in schema["enum"]:
            return fallback
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return fallback
        return value[: schema["max_length"]] if "max_length" in schema else value
    if kind in ("NUMBER", "INTEGER"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return fallback
        number: float = max(schema.get("minimum", value), min(schema.get("maximum", value), value))
        return round(number) if kind == "INTEGER" else number
    if kind == "BOOLEAN":
        return value if isinstance(value, bool) else fallback
    return value


def _conform_item(value: Any, index: int, schema: dict, base: list) -> Any:
    match = base[index] if index < len(base) else None
    if isinstance(value, dict):
        key = next((k for k in ID_KEYS if k in value and k in schema.get("properties", {})), None)
        if key is not None:  # an id the model gave decides the counterpart, not the position
            match = next((b for b in base if isinstance(b, dict) and b.get(key) == value[key]), None)
    if schema.get("type") == "OBJECT" and match is None:
        # No offline counterpart: keep the item only when the model gave every required field.
        checked = conform(value, schema, {})
        if not isinstance(checked, dict) or any(k not in checked for k in schema["required"]):
            return None
        return checked
    return conform(value, schema, match)


# ------------------------------------------------------------------ quoted lines survive exactly


def restore_plot_quotes(plot: dict, offline_plot: dict) -> list[str]:
    """Make the plot's dialogue beats hold every quoted line exactly as often as the story does.

    The offline plot's dialogue beats are the story's quoted lines in order (from `extract_quotes`).
    A missing line is put back after the previous quoted line the model kept (or before the next one);
    a surplus copy, and a dialogue beat that is no line of the story (a paraphrase), are removed.
    Returns the texts that were put back.
    """
    wanted = [(b["text"], b) for s in offline_plot.get("scenes") or [] for b in s.get("beats") or []
              if b.get("kind") == "dialogue"]
    need = Counter(text for text, _ in wanted)
    kept_so_far: Counter = Counter()
    for scene in plot["scenes"]:  # drop later copies of a line the model repeated
        kept = []
        for beat in scene["beats"]:
            if beat["kind"] == "dialogue":
                if beat["text"] not in need:  # a paraphrase: the exact line is put back below instead
                    continue
                kept_so_far[beat["text"]] += 1
                if kept_so_far[beat["text"]] > need[beat["text"]]:
                    continue
            kept.append(beat)
        scene["beats"] = kept
    restored = []
    seen: Counter = Counter()
    previous: dict | None = None  # the beat of the last quoted line already in place
    for position, (text, source) in enumerate(wanted):
        seen[text] += 1
        found = _nth_dialogue(plot, text, seen[text])
        if found is not None:
            previous = found
            continue
        beat = dict(source)
        _insert_beat(plot, beat, previous, [t for t, _ in wanted[position + 1:]], offline_plot)
        previous = beat
        restored.append(text)
    if restored:
        log.warning("vertex plot dropped %d quoted line(s); restored from the story", len(restored))
    return restored


def _nth_dialogue(plot: dict, text: str, n: int) -> dict | None:
    count = 0
    for scene in plot["scenes"]:
        for beat in scene["beats"]:
            if beat["kind"] == "dialogue" and beat["text"] == text:
                count += 1
                if count == n:
                    return beat
    return None


def _insert_beat(plot: dict, beat: dict, previous: dict | None, later: list[str], offline_plot: dict) -> None:
    if previous is not None:
        for scene in plot["scenes"]:
            for i, b in enumerate(scene["beats"]):
                if b is previous:
                    scene["beats"].insert(i + 1, beat)
                    return
    for scene in plot["scenes"]:  # before the next quoted line the model kept
        for i, b in enumerate(scene["beats"]):
            if b["kind"] == "dialogue" and b["text"] in later:
                scene["beats"].insert(i, beat)
                return
    # Nothing to anchor on: the scene the offline reading put it in (by position), at its start.
    index = next((i for i, s in enumerate(offline_plot.get("scenes") or [])
                  if any(b is beat or b.get("text") == beat["text"] for b in s.get("beats") or [])), 0)
    scene = plot["scenes"][min(index, len(plot["scenes"]) - 1)]
    scene["beats"].insert(0, beat)


def restore_storyboard_quotes(board: dict, offline_board: dict) -> list[str]:
    """Every quoted line of the offline storyboard (the plot's lines, in order) appears in some panel's
    dialogues; a missing one is appended to the panel holding the previous line (merging, never dropping)."""
    def quoted(panel: dict) -> list[dict]:
        return [d for d in panel["dialogues"] if d["kind"] not in ("narration", "sfx")]

    panels = [p for page in board["pages"] for p in page["panels"]]
    if not panels:
        return []
    wanted = [d for page in offline_board.get("pages") or [] for p in page.get("panels") or []
              for d in p.get("dialogues") or [] if d.get("kind") not in ("narration", "sfx")]
    restored = []
    cursor = 0  # index of the panel holding the last line found, so search continues in story order
    for line in wanted:
        holders = [i for i in range(len(panels)) if any(line["text"] in d["text"] for d in quoted(panels[i]))]
        spot = next((i for i in holders if i >= cursor), holders[0] if holders else None)
        if spot is not None:
            cursor = max(cursor, spot)
            continue
        panels[cursor]["dialogues"].append(dict(line))
        if line.get("speaker") and line["speaker"] not in panels[cursor]["characters"]:
            panels[cursor]["characters"].append(line["speaker"])
        restored.append(line["text"])
    if restored:
        log.warning("vertex storyboard dropped %d quoted line(s); restored from the plot", len(restored))
    return restored


# ------------------------------------------------------------------ shape repairs


def pages_are_sound(pages: list[dict], wanted: int) -> bool:
    """Exactly `wanted` pages numbered 1..n, each with reading_order 1..k and bboxes inside the page."""
    if len(pages) != wanted or [p["page"] for p in pages] != list(range(1, wanted + 1)):
        return False
    for page in pages:
        if sorted(p["reading_order"] for p in page["panels"]) != list(range(1, len(page["panels"]) + 1)):
            return False
        for panel in page["panels"]:
            x, y, w, h = panel["bbox"]
            if w <= 0 or h <= 0 or x + w > 1.0001 or y + h > 1.0001:
                return False
    return True


def _fit_arc_and_allocation(plot: dict, pages: int) -> None:
    """One arc value and one page share per scene, shares summing to the requested pages."""
    scenes = plot["scenes"]
    if len(plot["emotional_arc"]) != len(scenes):
        plot["emotional_arc"] = [round(float(s["importance"]), 3) for s in scenes]
    ids = [s["scene_id"] for s in scenes]
    shares = {a["scene_id"]: float(a["pages"]) for a in plot["page_allocation"]}
    if set(shares) != set(ids) or abs(sum(shares.values()) - pages) > 0.05:
        total = sum(max(0.05, float(s["importance"])) for s in scenes)
        shares = {s["scene_id"]: round(pages * max(0.05, float(s["importance"])) / total, 2) for s in scenes}
        shares[ids[-1]] = round(pages - sum(shares[i] for i in ids[:-1]), 2)
    plot["page_allocation"] = [{"scene_id": i, "pages": shares[i]} for i in ids]


def _as_png(data: bytes) -> bytes:
    """The image as PNG (Gemini may answer JPEG or WebP)."""
    if data[:8] == PNG_MAGIC:
        return data
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

