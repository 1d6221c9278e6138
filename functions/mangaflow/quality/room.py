"""How much of a panel its lettering covers, estimated from the text alone.

Calibrated on phase 6's own bubbles at the default type sizes (34-38 px at 300 dpi): a Japanese
character takes about 3,200 px² of bubble (vertical columns, padding, the oval around them), an English
one about 1,000 px² plus some 20,000 px² of padding per bubble. Beyond 45 % the art is buried and
phase 6 starts shrinking type; the offline storyboard plans for 30 %.
"""
from __future__ import annotations

from typing import Iterable

PX_PER_CHAR = {"ja": 3200.0, "en": 1000.0}
PX_PER_BUBBLE = {"ja": 5000.0, "en": 20000.0}
CROWDED_AT = 0.45
COMFORTABLE = 0.30
PAGE_SIZE_PX = (2150, 3035)  # B5 at 300 dpi
LIVE_SHARE = 0.73  # of the page's area inside the margins, where panel bboxes are measured


def lettering_px(dialogues: Iterable[dict], language: str) -> float:
    """Area in px² the bubbles and captions of these dialogues take (sound effects are drawn into the art)."""
    lang = language if language in PX_PER_CHAR else "en"
    total = 0.0
    for line in dialogues:
        if not isinstance(line, dict) or line.get("kind") == "sfx":
            continue
        text = "".join(str(line.get("text") or "").split())
        if text:
            total += len(text) * PX_PER_CHAR[lang] + PX_PER_BUBBLE[lang]
    return total


def panel_px(bbox: object, page_size_px: object = None) -> float:
    """Area in px² of a panel whose bbox is [x, y, w, h] of the page's live area."""
    width, height = page_size_px if isinstance(page_size_px, (list, tuple)) and len(page_size_px) == 2 \
        else PAGE_SIZE_PX
    try:
        _, _, w, h = (float(v) for v in bbox)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, w) * max(0.0, h) * float(width) * float(height) * LIVE_SHARE


def load(panel: dict, page_size_px: object, language: str) -> float:
    """Share of the panel its lettering covers (0 for a silent panel; large when it cannot fit)."""
    area = panel_px(panel.get("bbox"), page_size_px)
    needed = lettering_px(panel.get("dialogues") or [], language)
    if needed == 0:
        return 0.0
    return needed / area if area > 0 else float("inf")


def comfortable_chars(panels_per_page: float, language: str, lines: int = 3) -> int:
    """Characters one of `panels_per_page` average panels holds at the comfortable share."""
    lang = language if language in PX_PER_CHAR else "en"
    area = PAGE_SIZE_PX[0] * PAGE_SIZE_PX[1] * LIVE_SHARE / max(1.0, panels_per_page)
    return max(20, int((area * COMFORTABLE - lines * PX_PER_BUBBLE[lang]) / PX_PER_CHAR[lang]))
