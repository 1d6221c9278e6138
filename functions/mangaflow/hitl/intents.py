"""Free-text feedback at a gate, parsed into a structured modification: a quick option of the
phase, an intensity and a confidence. Keyword rules in English and Japanese; the phase applies
the option when the confidence is high enough, and always sees the original text."""
from __future__ import annotations

import re
from typing import Any

from ..errors import DomainError
from . import options

# phase -> option -> words that ask for it (lower-case English, Japanese as written)
QUICK_OPTIONS: dict[int, dict[str, tuple[str, ...]]] = {
    1: {"brighter": ("bright", "cheer", "happier", "lighter", "明る", "楽し"),
        "more_serious": ("serious", "dark", "grim", "mature", "シリアス", "暗", "重"),
        "change_genre": ("genre", "shonen", "shojo", "seinen", "josei", "ジャンル", "少年", "少女", "青年"),
        "change_target_age": ("younger", "older", "kids", "children", "adult", "age", "年齢", "子供", "大人")},
    2: {"add_character": ("add a character", "add character", "new character", "another character", "追加", "増や"),
        "remove_character": ("remove", "drop", "delete", "fewer characters", "削除", "減ら", "消し"),
        "personality": ("personality", "kinder", "braver", "shy", "性格"),
        "visual": ("hair", "look", "outfit", "clothes", "colour", "color", "appearance", "髪", "服", "見た目", "外見")},
    3: {"faster_pacing": ("faster", "quicker", "speed up", "shorter", "テンポ", "速", "早"),
        "slower_pacing": ("slower", "more time", "linger", "ゆっくり", "遅"),
        "stronger_climax": ("climax", "stronger", "dramatic", "クライマックス", "盛り上"),
        "add_episode": ("add an episode", "add a scene", "more scenes", "エピソード", "場面を増")},
    4: {"panel_layout": ("layout", "bigger panel", "larger panel", "splash", "コマ割り", "レイアウト", "大ゴマ"),
        "composition": ("composition", "framing", "構図"),
        "camera_angle": ("close-up", "close up", "closeup", "wide", "angle", "camera", "アップ", "引き", "アングル"),
        "direction": ("direction", "page turn", "flow", "演出", "めくり")},
    5: {"art_style": ("style", "sketch", "cleaner", "画風", "タッチ"),
        "colour": ("colour", "color", "darker", "lighter", "tone", "色", "トーン"),
        "regenerate_panel": ("regenerate", "redraw", "again", "描き直", "再生成"),
        "quality": ("quality", "detail", "sharper", "品質", "細か")},
    6: {"move_bubble": ("move", "position", "left", "right", " up", "down", "上に", "下に", "左に", "右に", "位置", "移動"),
        "font": ("font", "serif", "sans", "bigger text", "larger text", "フォント", "書体", "文字"),
        "add_sfx": ("sound effect", "sfx", "onomatopoeia", "効果音", "擬音"),
        "bubble_shape": ("shape", "round", "spiky", "cloud", "square", "丸", "ギザギザ", "四角", "形")},
    7: {"final_touches": ("touch", "polish", "仕上げ"),
        "format": ("format", "pdf", "cbz", "size", "b5", "a5", "形式", "サイズ"),
        "quality": ("quality", "resolution", "dpi", "品質", "解像度"),
        "check_output": ("check", "review", "確認")},
}

_STRONG = ("very", "much", "a lot", "really", "completely", "totally", "かなり", "もっと", "すごく", "とても", "大幅")
_WEAK = ("slightly", "a little", "a bit", "somewhat", "少し", "ちょっと", "やや")


def parse(phase: int, text: str, option: str | None = None) -> dict[str, Any]:
    """{"option", "confidence" (0..1), "intensity" (0..1), "matched": [...]} for this phase."""
    lowered = (text or "").lower()
    words_of = QUICK_OPTIONS.get(phase, {})
    option = options.split(option)[0]
    if option and option in words_of:
        chosen, confidence, matched = option, 1.0, [option]
    else:
        scores = {name: [w for w in words if w in lowered] for name, words in words_of.items()}
        ranked = sorted(scores.items(), key=lambda item: (-len(item[1]), list(words_of).index(item[0])))
        chosen, matched = (ranked[0][0], ranked[0][1]) if ranked and ranked[0][1] else (None, [])
        second = len(ranked[1][1]) if len(ranked) > 1 else 0
        confidence = 0.0 if not matched else min(0.95, 0.55 + 0.2 * len(matched) - 0.15 * second)
    intensity = 0.5
    if any(word in lowered for word in _STRONG):
        intensity = 0.85
    elif any(word in lowered for word in _WEAK):
        intensity = 0.25
    if re.search(r"[!！]{2,}", text or ""):
        intensity = min(1.0, intensity + 0.1)
    return {"phase": phase, "option": chosen if confidence >= 0.5 else None, "candidate": chosen,
            "confidence": round(max(0.0, confidence), 2), "intensity": intensity, "matched": matched}


class NotApplicable(DomainError):
    """Feedback the phase cannot carry out: the gate stays open on the current version and the
    person is told what the phase can do instead (`said`: the same in other languages, for the page)."""

    status = 422

    def __init__(self, message: str, status: int | None = None, field: str | None = None,
                 said: dict[str, str] | None = None) -> None:
        super().__init__(message, status, field)
        self.said = dict(said or {})

    def in_language(self, language: str) -> str:
        return self.said.get(language, self.message)


def feedback_for_phase(phase: int, answer: dict[str, Any], intent: dict[str, Any]) -> dict[str, Any]:
    """What a `modify` hands the phase: the person's words, the parsed option (with its value, e.g.
    "bubble_shape:cloud"), the intensity, and a one-bubble edit when the page sent one."""
    name, value = options.split(answer.get("option"))
    feedback: dict[str, Any] = {"text": str(answer.get("feedback") or "")[:2000],
                                "intensity": float(intent.get("intensity", 0.5))}
    option = name if name in options.QUICK_OPTIONS.get(phase, ()) else intent.get("option")
    if option:
        feedback["option"] = option
    if option == "regenerate_panel" and not value:  # "redraw p001-2 at night": the panel named in the words
        named = options.PANEL_ID.search(feedback["text"])
        value = named.group(0) if named else None
    if value:
        feedback["value"] = value
    if isinstance(answer.get("bubble"), dict):
        feedback["bubble"] = dict(answer["bubble"])
        feedback.setdefault("option", "move_bubble")
    return feedback
