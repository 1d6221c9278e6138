"""Reads a person's feedback ({"text", "option", "intensity", "hints"}) into one structured request.

Quick options are taken as given; free text is matched against a few words per option (English and
Japanese) so "make it brighter" and 「もっと明るく」 both mean `brighter`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..hitl.options import QUICK_OPTIONS

OPTION_WORDS: dict[str, tuple[str, ...]] = {
    "brighter": ("brighter", "lighter", "happier", "cheerful", "明るく", "明るい"),
    "more_serious": ("serious", "darker", "grim", "シリアス", "暗く", "重く"),
    "change_genre": ("genre", "ジャンル", "shonen", "shojo", "seinen", "josei", "kodomo", "少年", "少女", "青年"),
    "change_target_age": ("younger", "older", "children", "kids", "adults", "子供向け", "大人向け", "年齢"),
    "add_character": ("add a character", "add character", "new character", "キャラクターを追加", "追加"),
    "remove_character": ("remove", "delete", "drop", "削除", "消して"),
    "personality": ("personality", "性格"),
    "visual": ("hair", "colour", "color", "look", "outfit", "髪", "服", "見た目", "色"),
    "faster_pacing": ("faster", "quicker", "tighter", "テンポを速", "速く"),
    "slower_pacing": ("slower", "more room", "breathe", "ゆっくり", "遅く"),
    "stronger_climax": ("climax", "クライマックス", "盛り上"),
    "add_episode": ("episode", "エピソード"),
    "panel_layout": ("layout", "panels", "コマ割り", "レイアウト"),
    "composition": ("composition", "構図"),
    "camera_angle": ("camera", "angle", "close-up", "closeup", "アングル", "アップ"),
    "direction": ("direction", "left to right", "right to left", "ltr", "rtl", "演出", "方向"),
}

# Which quick options each phase understands (PIPELINE.md, "Quick options by phase").
PHASE_OPTIONS = QUICK_OPTIONS


@dataclass
class Request:
    """A structured modification: which option, how strongly, the person's words, evaluator hints."""

    option: str | None = None
    text: str = ""
    intensity: float = 0.5
    hints: list[str] = field(default_factory=list)
    fixes: frozenset[str] = frozenset()

    def wants(self, option: str) -> bool:
        return self.option == option

    def asks(self, fix: str) -> bool:
        """True when a hint or the person's words ask for this repair (see FIXES)."""
        return fix in self.fixes


# Repairs the offline rules know how to make, and the words (in an evaluator's hint or a person's
# feedback) that ask for each: condense the lettering to fit the pages, merge names of one person,
# set a scene where its own words say it is.
FIXES: dict[str, tuple[str, ...]] = {
    "condense": ("condense", "too much text", "less text", "文字を減ら", "要約"),
    "merge": ("are one person", "merge "),
    "place": ("place word", "where its own words say"),
}


def read(feedback: dict | None, phase: int) -> Request:
    """The structured request for `phase`; an unknown or empty feedback is an empty request."""
    if not isinstance(feedback, dict):
        return Request()
    text = str(feedback.get("text") or "")
    try:
        intensity = float(feedback.get("intensity", 0.5))
    except (TypeError, ValueError):
        intensity = 0.5
    intensity = min(1.0, max(0.0, intensity))
    hints = [str(h) for h in feedback.get("hints") or [] if isinstance(h, (str, int, float))]
    option = feedback.get("option")
    option = str(option).strip().lower().replace(" ", "_").replace("-", "_") if option else None
    allowed = PHASE_OPTIONS.get(phase, ())
    if option not in allowed:
        option = _option_from_text(text.lower(), allowed)
    asked = (" ".join(hints) + " " + text).lower()
    fixes = frozenset(fix for fix, words in FIXES.items() if any(w in asked for w in words))
    if option is None and hints:
        option, text = _option_from_hints(" ".join(hints).lower(), phase, text)
    return Request(option=option, text=text, intensity=intensity, hints=hints, fixes=fixes)


# A retry after a low score carries the evaluator's hints: answer the ones a rule can act on.
HINT_OPTIONS: dict[int, tuple[tuple[str, str, str], ...]] = {
    3: (("climax", "stronger_climax", ""),),
    4: (("split panels", "panel_layout", "more panels"), ("tile the page", "panel_layout", "")),
}


def _option_from_hints(hints: str, phase: int, text: str) -> tuple[str | None, str]:
    for fragment, option, implied in HINT_OPTIONS.get(phase, ()):
        if fragment in hints:
            return option, text or implied
    return None, text


def _option_from_text(text: str, allowed: tuple[str, ...]) -> str | None:
    for option in allowed:
        if any(word in text for word in OPTION_WORDS.get(option, ())):
            return option
    return None


def quoted_or_capitalised(text: str) -> list[str]:
    """Names a person wrote: in quotes/「」, after named/called/という, or capitalised words."""
    found = re.findall(r"[「『\"“']([^」』\"”']{1,20})[」』\"”']", text)
    found += re.findall(r"(?:named|called)\s+([A-Z][\w-]*)", text)
    found += re.findall(r"([\u3040-\u30ff\u4e00-\u9fff]{1,8})(?:という|って名前|という名前)", text)
    found += [w for w in re.findall(r"\b([A-Z][a-z]{2,})\b", text)
              if w.lower() not in {"add", "remove", "make", "the", "please", "delete", "give", "change"}]
    return list(dict.fromkeys(found))
