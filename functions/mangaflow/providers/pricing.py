"""What a model call costs: list prices from the one price table (`prices.json` beside this module),
the usage a response reports, and the most a call can cost before it is made (for the budget)."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

PRICES_FILE = Path(__file__).with_name("prices.json")
PER = 1_000_000


@dataclass(frozen=True)
class Usage:
    """Tokens of one answer, as its usageMetadata reports them: `output` counts text and thinking,
    `image` the generated image tokens (billed at the image output price)."""

    input: int = 0
    output: int = 0
    image: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output, "image": self.image}


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The price table: models, unit prices, date and sources."""
    return json.loads(PRICES_FILE.read_text(encoding="utf-8"))


def price_of(model: str) -> dict[str, float]:
    """The unit prices of a model; ConfigError when the table has none (a call we cannot price is a
    call the budget cannot bound, so it is never made)."""
    models = table()["models"]
    if model not in models:
        raise ConfigError(f"model {model!r} has no price in {PRICES_FILE.name} (priced: {', '.join(sorted(models))}); "
                          "add its list prices there before using it", field="model")
    return models[model]


def cost_usd(model: str, usage: Usage) -> float:
    """List price of one call's usage."""
    price = price_of(model)
    total = (usage.input * price.get("input", 0.0) + usage.output * price.get("output", 0.0)
             + usage.image * price.get("image_output", price.get("output", 0.0))) / PER
    return round(total, 8)


def image_input_tokens(width: int, height: int) -> int:
    """Tokens of one input image: 258 per 768x768 tile (258 in all for an image up to 384x384)."""
    per_tile, tile = int(table()["input_image_tokens_per_tile"]), int(table()["input_image_tile_px"])
    if width <= tile // 2 and height <= tile // 2:
        return per_tile
    return math.ceil(width / tile) * math.ceil(height / tile) * per_tile


def most_usage(prompt_chars: int, image_sizes: list[tuple[int, int]], max_output_tokens: int,
               images_out: int = 0, model: str = "") -> Usage:
    """The most a call can use: a text token is at least one character, every input image its tiles,
    at most `max_output_tokens` of text and thinking, and each generated image its fixed token count."""
    per_image = int(table()["models"].get(model, {}).get("image_output_tokens", 0)) if images_out else 0
    return Usage(input=prompt_chars + sum(image_input_tokens(w, h) for w, h in image_sizes),
                 output=max_output_tokens, image=per_image * images_out)


def usage_of(metadata: Any) -> Usage:
    """Usage from a google-genai `usage_metadata` (or its JSON dict): prompt tokens; candidates tokens split
    by modality (IMAGE apart); thinking tokens billed as output."""
    if metadata is None:
        return Usage()
    get = metadata.get if isinstance(metadata, dict) else lambda key, default=None: getattr(metadata, key, default)

    def pick(*names: str) -> Any:
        for name in names:
            value = get(name, None)
            if value is not None:
                return value
        return None

    prompt = int(pick("prompt_token_count", "promptTokenCount") or 0)
    candidates = int(pick("candidates_token_count", "candidatesTokenCount") or 0)
    thoughts = int(pick("thoughts_token_count", "thoughtsTokenCount") or 0)
    image = 0
    for detail in pick("candidates_tokens_details", "candidatesTokensDetails") or []:
        dget = detail.get if isinstance(detail, dict) else lambda key, default=None: getattr(detail, key, default)
        modality = str(dget("modality", "") or "")
        if modality.upper().endswith("IMAGE"):
            image += int(dget("token_count", None) or dget("tokenCount", None) or 0)
    return Usage(input=prompt, output=max(0, candidates - image) + thoughts, image=image)


def request_cost(model_calls: Any, request: dict[str, Any]) -> dict[str, Any]:
    """A request's cost so far (its ModelCalls summary: US dollars at list price, model calls by kind, cache
    hits, failures, tokens, per phase and model, the budget and whether it stopped the model), with its
    provider and image mode."""
    options = request.get("options") or {}
    return {**model_calls.summary(request["request_id"]), "provider": options.get("provider") or "offline",
            "image_mode": options.get("image_mode") or "panel", "prices_as_of": table()["as_of"]}
