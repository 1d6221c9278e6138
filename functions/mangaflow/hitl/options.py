"""The quick options a person can pick at each phase's approval gate (PIPELINE.md, "Quick options by
phase"): one list the phases, the offline rules and the review page all read, and which of them the
review page offers (an option is offered only when the phase makes the change it names)."""
from __future__ import annotations

import re
from dataclasses import dataclass

# "regenerate_panel:p001-2": the one option whose value is not from a list but names a panel.
PANEL_ID = re.compile(r"p[0-9]{2,3}-[0-9]{1,2}")

QUICK_OPTIONS: dict[int, tuple[str, ...]] = {
    1: ("brighter", "more_serious", "change_genre", "change_target_age"),
    2: ("add_character", "remove_character", "personality", "visual"),
    3: ("faster_pacing", "slower_pacing", "stronger_climax", "add_episode"),
    4: ("panel_layout", "composition", "camera_angle", "direction"),
    5: ("art_style", "colour", "regenerate_panel", "quality"),
    6: ("move_bubble", "font", "add_sfx", "bubble_shape"),
    7: ("final_touches", "format", "quality", "check_output"),
}

# Values some options take (the page shows them as a choice; "option:value" in an answer).
OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "font": ("serif", "sans"),
    "bubble_shape": ("oval", "cloud", "burst", "rect"),
    "format": ("B5", "A5", "B6", "A4"),
}

# Options the phase cannot carry out as asked today: not offered, and why (the page says so), in
# English and Japanese.
NOT_OFFERED: dict[tuple[int, str], tuple[str, str]] = {
    (5, "art_style"): ("the storyboard art is drawn in one style; art direction needs an image model",
                       "絵コンテの絵柄は一種類です。画風の指定には画像生成モデルが必要です"),
    (5, "colour"): ("the storyboard art keeps the characters' palettes; colour direction needs an image model",
                    "絵コンテはキャラクターの配色を保ちます。色の指定には画像生成モデルが必要です"),
    (5, "quality"): ("the storyboard art has one level of detail", "絵コンテの描き込みは一段階です"),
    (7, "quality"): ("pages are exported losslessly at 300 dpi already", "ページはすでに300dpiの可逆形式で書き出しています"),
    (7, "check_output"): ("the final checks are shown on this page", "最終チェックはこのページに表示しています"),
}


@dataclass(frozen=True)
class QuickOption:
    """One button at a gate: the option, its words in each language, and the values it takes."""

    name: str
    label: dict[str, str]
    values: tuple[str, ...] = ()


_LABELS: dict[str, tuple[str, str]] = {
    "brighter": ("Brighter", "明るく"), "more_serious": ("More serious", "シリアスに"),
    "change_genre": ("Change genre", "ジャンルを変える"), "change_target_age": ("Change target age", "対象年齢を変える"),
    "add_character": ("Add a character", "キャラクターを追加"), "remove_character": ("Remove a character", "キャラクターを削除"),
    "personality": ("Personality", "性格"), "visual": ("Look", "見た目"),
    "faster_pacing": ("Faster pacing", "テンポを速く"), "slower_pacing": ("Slower pacing", "テンポをゆっくり"),
    "stronger_climax": ("Stronger climax", "クライマックスを強く"), "add_episode": ("Add an episode", "エピソードを追加"),
    "panel_layout": ("Panel layout", "コマ割り"), "composition": ("Composition", "構図"),
    "camera_angle": ("Camera angle", "アングル"), "direction": ("Reading direction", "読む方向"),
    "art_style": ("Art style", "画風"), "colour": ("Colour", "色"), "regenerate_panel": ("Redo a panel", "コマを描き直す"),
    "quality": ("Quality", "品質"), "move_bubble": ("Move a bubble", "吹き出しを移動"), "font": ("Font", "書体"),
    "add_sfx": ("Add a sound effect", "効果音を追加"), "bubble_shape": ("Bubble shape", "吹き出しの形"),
    "final_touches": ("Page numbers on/off", "ノンブルの有無"), "format": ("Paper size", "判型"),
    "check_output": ("Check output", "出力を確認"),
}


def offered(phase: int) -> list[QuickOption]:
    """The quick options the review page offers at `phase`'s gate, in the design's order."""
    return [QuickOption(name, {"en": _LABELS[name][0], "ja": _LABELS[name][1]}, OPTION_VALUES.get(name, ()))
            for name in QUICK_OPTIONS.get(phase, ()) if (phase, name) not in NOT_OFFERED]


def not_offered(phase: int, language: str = "en") -> dict[str, str]:
    """Options of `phase` the page does not offer, with the reason it gives (in `language`)."""
    return {name: reason[1] if language == "ja" else reason[0]
            for (number, name), reason in NOT_OFFERED.items() if number == phase}


def label(name: str, language: str = "en") -> str:
    words = _LABELS.get(name)
    return (words[1] if language == "ja" else words[0]) if words else name.replace("_", " ")


def split(option: str | None) -> tuple[str | None, str | None]:
    """"bubble_shape:cloud" -> ("bubble_shape", "cloud"); a value outside the option's list is dropped."""
    if not option:
        return None, None
    name, _, value = str(option).partition(":")
    name = name.strip().lower().replace(" ", "_").replace("-", "_")
    if name == "regenerate_panel":
        return name, value.strip() if PANEL_ID.fullmatch(value.strip()) else None
    values = OPTION_VALUES.get(name, ())
    matched = next((v for v in values if v.lower() == value.strip().lower()), None)
    return name, matched
