"""Asking an image model for one picture, the same way for character sheets, panels and pages: the cache
first (exact keys, then a near prompt with the same references: similarity >= 0.85 within 24 h), then the
model; a refused or empty answer is asked once more with a simpler prompt; whatever still fails, or would
pass the budget, is left to the procedural painter. Every picture gets its provenance.

The cache keys (docs/vertex.md, "The image cache"):
- `inputs:` sha256 of what the picture is made from (see `inputs_key`): a re-run of a phase whose inputs
  did not change finds every picture, and its description, without a model call;
- `prompt:` sha256 of the exact request (model, kind, prompt, reference SHA-256s in order, aspect, seed);
- near: rows with the same `refs_key` (model, kind, aspect, the set of reference SHA-256s) whose
  normalised prompt is at least 0.85 similar (difflib's ratio) to this one.
Entries belong to one user; nothing is reused within the same (request, attempt): one book never shows
one picture twice. Near matches are not used when a person asked for a change (feedback text or option).
"""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..errors import UpstreamUnavailable
from .base import ImageJob, Reference
from .calls import BudgetExhausted, CallSpec, Outcome

log = logging.getLogger(__name__)

CACHE_MAX_AGE = dt.timedelta(hours=24)
NEAR_SIMILARITY = 0.85
KEY_VERSION = 1  # bump when what a key covers changes: older entries then simply stop matching


@dataclass
class Artwork:
    """A picture for one sheet, panel or page: `uri` of stored PNG bytes when a model (or the cache) gave
    one, else None and the caller draws procedurally; `provenance` says which; `description` is the cached
    panel description that went with an `inputs:` hit."""

    uri: str | None
    provenance: dict[str, Any]
    description: dict[str, Any] | None = None
    data: bytes | None = field(default=None, repr=False)


def canonical_sha256(value: Any) -> str:
    """sha256 of a value's canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inputs_key(kind: str, model: str, parts: dict[str, Any]) -> str:
    """The `inputs:` key of a picture: its kind, the image model, and `parts`, everything the picture is
    made from (for a panel: the storyboard panel's content, the look of its characters, its scene's
    setting, the style, its size, the feedback that applies, the SHA-256s of its reference images)."""
    return "inputs:" + canonical_sha256({"v": KEY_VERSION, "kind": kind, "model": model, "parts": parts})


def seed_of(key: str) -> int:
    """A seed fixed by the key: the same inputs ask the model with the same seed."""
    return int(key.rsplit(":", 1)[-1][:8], 16) % (2 ** 31 - 1)


def aspect_of(size_px: tuple[int, int]) -> str:
    width, height = size_px
    return f"{round(width / height, 2):.2f}"


def normalise(prompt: str) -> str:
    """The prompt as compared for near matches: NFKC, lower case, punctuation to spaces, one space."""
    text = unicodedata.normalize("NFKC", prompt).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w]+", " ", text)).strip()


def similarity(a: str, b: str) -> float:
    """How alike two normalised prompts are, 0..1 (difflib's ratio; the cheap bounds first)."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < NEAR_SIMILARITY or matcher.quick_ratio() < NEAR_SIMILARITY:
        return 0.0
    return matcher.ratio()


class Painter:
    """Pictures for one phase call of one request: `provider` asks the model (through its scope),
    `stores` holds the images and the cache."""

    def __init__(self, stores: Any, request: dict[str, Any], attempt: int, provider: Any,
                 feedback: dict[str, Any] | None = None) -> None:
        self.stores, self.request, self.attempt, self.provider = stores, request, attempt, provider
        self.user_id = str(request.get("user_id") or "local-user")
        self.request_id = str(request["request_id"])
        wants_change = isinstance(feedback, dict) and bool(feedback.get("text") or feedback.get("option"))
        self.near_allowed = not wants_change

    @property
    def model(self) -> str:
        return str(getattr(self.provider, "image_model", None) or getattr(self.provider, "text_model", "none"))

    def _since(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) - CACHE_MAX_AGE

    def _exclude(self) -> tuple[str, int]:
        return (self.request_id, int(self.attempt))

    # ------------------------------------------------------------------ cache

    def cached(self, job: ImageJob, key: str) -> Artwork | None:
        """The picture (and description) cached under an `inputs:` key, recorded as a cache hit."""
        if not self.provider.draws_with_model:
            return None
        row = self.stores.image_cache.find(self.user_id, key, since=self._since(), exclude=self._exclude())
        return self._hit(job, row, "inputs", 1.0) if row else None

    def _hit(self, job: ImageJob, row: dict[str, Any], match: str, score: float) -> Artwork | None:
        if not self.stores.artifacts.exists(row["image_uri"]):  # removed by a bucket lifecycle: not a hit
            return None
        earlier = row.get("provenance") or {}
        cache_of = {"match": match, "similarity": round(score, 4), "request_id": row["request_id"],
                    "attempt": row["attempt"], "item": row.get("item_id"), "image_uri": row["image_uri"]}
        spec = self._spec(job)
        if match == "inputs":  # found before any prompt was written: the picture's own prompt
            spec = replace(spec, prompt_sha256=earlier.get("prompt_sha256"))
        self.provider.scope.record_cache_hit(spec, cache_of)
        provenance = {"source": "cache", "fallback": earlier.get("fallback"), "model": earlier.get("model"),
                      "model_version": earlier.get("model_version"),
                      "prompt_sha256": earlier.get("prompt_sha256") if match == "inputs" else spec.prompt_sha256,
                      "reference_sha256": list(spec.reference_sha256), "seed": job.seed,
                      "response_id": earlier.get("response_id"), "latency_ms": 0,
                      "tokens": {"input": 0, "output": 0, "image": 0}, "cost_usd": 0.0, "cache": cache_of,
                      "reason": None}
        return Artwork(row["image_uri"], provenance, row.get("description"))

    def _spec(self, job: ImageJob) -> CallSpec:
        return CallSpec(f"{job.kind}_image", "image", self.provider.name, self.model, item=job.item,
                        prompt_sha256=hashlib.sha256(job.prompt.encode("utf-8")).hexdigest(),
                        reference_sha256=tuple(r.sha256 for r in job.references), seed=job.seed)

    def _keys(self, job: ImageJob) -> tuple[str, str]:
        refs = [r.sha256 for r in job.references]
        prompt_key = "prompt:" + canonical_sha256({"v": KEY_VERSION, "model": self.model, "kind": job.kind,
                                                   "prompt": job.prompt, "references": refs,
                                                   "aspect": aspect_of(job.size_px), "seed": job.seed})
        refs_key = canonical_sha256({"v": KEY_VERSION, "model": self.model, "kind": job.kind,
                                     "references": sorted(refs), "aspect": aspect_of(job.size_px)})
        return prompt_key, refs_key

    def _by_prompt(self, job: ImageJob, prompt_key: str, refs_key: str) -> Artwork | None:
        row = self.stores.image_cache.find(self.user_id, prompt_key, since=self._since(), exclude=self._exclude())
        if row:
            return self._hit(job, row, "prompt", 1.0)
        if not self.near_allowed:
            return None
        wanted = normalise(job.prompt)
        best, best_score = None, 0.0
        for candidate in self.stores.image_cache.near(self.user_id, refs_key, since=self._since(),
                                                      exclude=self._exclude()):
            score = similarity(wanted, candidate["normalised_prompt"])
            if score > best_score:
                best, best_score = candidate, score
        if best is not None and best_score >= NEAR_SIMILARITY:
            return self._hit(job, best, "near", best_score)
        return None

    # ------------------------------------------------------------------ the model

    def paint(self, job: ImageJob, *, key: str, simple_prompt: str, prefix: str,
              description: dict[str, Any] | None = None, shape: Callable[[bytes], bytes] | None = None) -> Artwork:
        """The picture for `job`: from the cache, the model, or (uri None) left to the procedural painter.
        `key` is its `inputs:` key (stored with the picture); `simple_prompt` is asked after a refusal;
        `shape` turns the model's PNG into what is stored (cropped to the panel, reduced for a sheet)."""
        if not self.provider.draws_with_model:
            return Artwork(None, procedural(f"the {self.provider.name} provider draws storyboards, not model art",
                                            by_design=True))
        prompt_key, refs_key = self._keys(job)
        found = self._by_prompt(job, prompt_key, refs_key)
        if found is not None:
            self._remember(key, job, found.uri, found.provenance, description, refs_key)
            return found
        asked, refusals = job, []
        for fallback in (None, "simplified"):
            try:
                outcome: Outcome = self.provider.image(asked)
            except BudgetExhausted as spent:
                return Artwork(None, procedural(f"budget: {spent}", refusals))
            except UpstreamUnavailable as failed:
                return Artwork(None, procedural(f"the image model failed: {failed.message}", refusals))
            reply = outcome.reply
            if reply.value:
                data = shape(reply.value) if shape else reply.value
                uri = self.stores.artifacts.put_bytes("output_images", data, "image/png", prefix=prefix)
                provenance = {"source": "model", "fallback": fallback, "model": outcome.row.get("model"),
                              "model_version": reply.model_version, "prompt_sha256": outcome.row.get("prompt_sha256"),
                              "reference_sha256": list(outcome.row.get("reference_sha256") or []),
                              "seed": asked.seed, "response_id": reply.response_id, "latency_ms": outcome.latency_ms,
                              "tokens": reply.usage.as_dict(), "cost_usd": round(outcome.cost_usd, 8), "cache": None,
                              "reason": "; ".join(refusals) or None}
                self._remember(prompt_key, asked, uri, provenance, description, refs_key)
                self._remember(key, asked, uri, provenance, description, refs_key)
                return Artwork(uri, provenance, description, data)
            refusals.append(f"{'simplified prompt' if fallback else 'prompt'}: {reply.blocked}")
            asked = replace(job, prompt=simple_prompt)
        return Artwork(None, procedural("the image model answered without an image twice", refusals))

    def _remember(self, key: str, job: ImageJob, uri: str | None, provenance: dict[str, Any],
                  description: dict[str, Any] | None, refs_key: str) -> None:
        if uri is None:
            return
        try:
            self.stores.image_cache.put(self.user_id, key, kind=job.kind, model=self.model, refs_key=refs_key,
                                        normalised_prompt=normalise(job.prompt), image_uri=uri,
                                        description=description, provenance=provenance, request_id=self.request_id,
                                        attempt=int(self.attempt), item_id=job.item)
        except Exception as err:  # noqa: BLE001 - a cache that cannot write costs money later, never the picture
            log.warning("image cache write of %s failed: %s", key, err)


def procedural(reason: str, refusals: list[str] | None = None, *, by_design: bool = False) -> dict[str, Any]:
    """Provenance of a picture the procedural painter draws (a storyboard drawing, not model art):
    `by_design` for a provider without an image model, else a fallback from the model."""
    why = "; ".join([*(refusals or []), reason]) if refusals else reason
    return {"source": "procedural", "fallback": None if by_design else "procedural", "model": None,
            "model_version": None,
            "prompt_sha256": None, "reference_sha256": [], "seed": None, "response_id": None, "latency_ms": 0,
            "tokens": {"input": 0, "output": 0, "image": 0}, "cost_usd": 0.0, "cache": None, "reason": why}


def reference(label: str, data: bytes) -> Reference:
    """A reference image as it is sent (its SHA-256 is of exactly these bytes)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        size = image.size
    return Reference(label, data, hashlib.sha256(data).hexdigest(), size)


def art_summary(provenances: list[dict[str, Any]], budget: dict[str, Any] | None) -> dict[str, Any]:
    """How a phase's pictures came to be: counts by source, their cost, and whether the budget stopped the
    model (the request's budget row)."""
    by_source = {source: sum(1 for p in provenances if p.get("source") == source)
                 for source in ("model", "cache", "procedural")}
    return {**by_source, "fallbacks": sum(1 for p in provenances if p.get("fallback")),
            "cost_usd": round(sum(float(p.get("cost_usd") or 0) for p in provenances), 6),
            "budget_stopped": bool(budget and budget.get("stopped_at")),
            "budget_usd": float(budget["budget_usd"]) if budget else None,
            "stop_reason": (budget or {}).get("stop_reason")}


def describe_art(art: dict[str, Any], what: str) -> str:
    """Lines for the gate's preview: where the pictures came from and, when it happened, that the budget
    stopped the model."""
    line = (f"{what}: {art['model']} from the image model, {art['cache']} from the cache, {art['procedural']} "
            f"procedural drawings; ${art['cost_usd']:.4f}")
    if art.get("budget_stopped"):
        line += (f"\nbudget reached (${art['budget_usd']:.2f}): the model was stopped, the rest are procedural "
                 f"storyboard drawings ({art.get('stop_reason')})")
    return line
