"""A figure of the story and the patterns that find its mentions (shared by people, identity and analysis)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import lexicon as lx


@dataclass
class Figure:
    """A character found in the text; `key` is the canonical name used everywhere else."""

    name: str
    aliases: list[str]
    kind: str = "person"  # person | robot | group
    gender: str = "unknown"
    age: str = "adult"
    named: bool = True
    kin: str | None = None
    kin_of: str | None = None
    traits: list[str] = field(default_factory=list)
    first_pos: int = 0
    mentions: int = 0
    present: int = 0  # mentions outside remembered / hearsay sentences: how much the figure is on stage
    role: str | None = None  # the role noun of an unnamed figure ("old woman", 老人)
    narrator: bool = False  # the first-person voice (I, 私, 僕)
    parts: tuple[str, ...] = ()  # family and given name as written (山田, 太郎), when known

    @property
    def key(self) -> str:
        return self.name




def mention_positions(text: str, fig: Figure, language: str) -> list[int]:
    """Start offsets of every mention of any alias (longest alias wins where they overlap)."""
    pattern = figure_pattern(tuple(fig.aliases), language, fig.role if language == "en" else None)
    starts = []
    for m in pattern.finditer(text):
        if language == "ja" and fig.kin and not _kin_standalone(text, m.start(), m.end()):
            continue
        starts.append(m.start())
    return starts


_KANJI = "\u3400-\u4dbf\u4e00-\u9fff"


@lru_cache(maxsize=256)
def figure_pattern(aliases: tuple[str, ...], language: str, role: str | None = None) -> re.Pattern:
    """One regex for every way the text names a figure: aliases as whole words (a one-kanji role
    such as 女 not inside 彼女, "I" not inside "Ines") and, for an English role, "the tall soldier"."""
    parts = []
    for alias in sorted(set(a for a in aliases if a), key=lambda a: (-len(a), a)):
        if language == "ja":
            guard_after = "(?!たち|達|ら|の子)" if alias in lx.NARRATOR_JA or alias in ("男", "女") else ""
            if len(alias) == 1 or alias in lx.NARRATOR_JA:
                parts.append(f"(?<![{_KANJI}]){re.escape(alias)}(?![{_KANJI}]){guard_after}")
            else:
                parts.append(re.escape(alias) + guard_after)
        else:
            parts.append(r"(?<![A-Za-z])" + re.escape(alias) + r"(?![a-z])")
    if role:
        parts.append(role_pattern(role))
    return re.compile("|".join(parts) if parts else r"(?!x)x")


def role_pattern(role: str) -> str:
    """'the old woman', 'An old woman', 'her mother', 'the tall soldier' for an English role noun."""
    words = role.split()
    noun = r"\s+".join(f"[{w[0].upper()}{w[0]}]{re.escape(w[1:])}" for w in words)
    dets = "|".join(f"[{d[0].upper()}{d[0]}]{d[1:]}" for d in lx.ROLE_DETERMINERS_EN)
    # an adjective is a plain lowercase word that is not a determiner, a function word or a breaker
    stop = "|".join(sorted(lx.ROLE_BREAKERS_EN | set(lx.ROLE_DETERMINERS_EN) | _FUNCTION_WORDS))
    return (r"(?<![A-Za-z])(?:" + dets + r")\s+(?:(?!(?:" + stop + r")\b)[a-z][a-z-]*\s+){0,2}?"
            + noun + r"(?![a-z])")


_FUNCTION_WORDS = {"of", "and", "or", "to", "in", "on", "at", "with", "was", "is", "had", "has", "who", "which",
                   "were", "are", "be", "for", "from", "by", "as", "but", "so", "not"}


def _kin_standalone(text: str, start: int, end: int) -> bool:
    # 祖父母 (grandparents) or 母親 inside a longer word is not the grandfather / mother
    after = text[end : end + 1]
    return not (after in ("母", "父") and text[start:end] in ("祖父", "祖母"))
