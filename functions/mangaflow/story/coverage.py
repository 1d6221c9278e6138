"""How much of a story reaches the page, in order: the lettered texts (captions and bubbles, in
reading order) are found in the story one after another, and every letter or digit they cover counts.

Punctuation, spaces and case are ignored (a caption may gain a full stop, a bubble loses its quote
marks); text a storyboard left out on purpose is declared as spans of the story (attributions the
bubble makes redundant, prose condensed into the picture) and counted apart from what is lost.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

Span = tuple[int, int]
SHORT = 4            # a piece this short is only trusted near where the last one was found
SHORT_REACH = 200    # characters a short piece may skip
_WORD_BREAK = re.compile(r"[^\w]+|_")


@dataclass
class Coverage:
    """Counts in letters and digits of the story; spans are offsets into the story text."""

    total: int
    lettered: int
    exempt: int
    condensed: int
    lost: list[Span] = field(default_factory=list)
    placed: list[Span | None] = field(default_factory=list)  # where each piece was found whole

    @property
    def kept(self) -> float:
        """Share of the story on the page: lettered, or left out only as a redundant attribution."""
        return 1.0 if not self.total else (self.lettered + self.exempt) / self.total

    @property
    def accounted(self) -> float:
        """Share lettered, attributed or declared condensed: 1 - this is the text silently lost."""
        return 1.0 if not self.total else (self.lettered + self.exempt + self.condensed) / self.total

    @property
    def lost_chars(self) -> int:
        return self.total - self.lettered - self.exempt - self.condensed


def _fold(text: str, keep_offsets: bool) -> tuple[str, list[int]]:
    chars: list[str] = []
    offsets: list[int] = []
    for index, ch in enumerate(text):
        for folded in unicodedata.normalize("NFKC", ch).casefold():
            if folded.isalnum():
                chars.append(folded)
                if keep_offsets:
                    offsets.append(index)
    return "".join(chars), offsets


def fold(text: str) -> str:
    """Letters and digits only, NFKC and case folded: what coverage compares."""
    return _fold(text, False)[0]


def coverage(story: str, pieces: Sequence[str], exempt: Sequence[Span] = (),
             condensed: Sequence[Span] = ()) -> Coverage:
    """Find `pieces` (in reading order) in `story` one after another; count what they cover.

    A piece found whole moves the search on; one that is not (a caption that joins two clauses, a
    paraphrase) is matched word by word near the current place. A piece found only before the current
    place covers nothing: the page tells it out of order.
    """
    folded, offsets = _fold(story, True)
    covered = bytearray(len(folded))  # 0 none, 1 lettered, 2 exempt, 3 condensed
    cursor = 0
    placed: list[Span | None] = []
    for piece in pieces:
        target = fold(piece)
        if not target:
            placed.append(None)
            continue
        pos = folded.find(target, cursor)
        if pos != -1 and (len(target) >= SHORT or pos - cursor <= SHORT_REACH):
            covered[pos : pos + len(target)] = b"\x01" * len(target)
            cursor = pos + len(target)
            placed.append((offsets[pos], offsets[pos + len(target) - 1] + 1))
            continue
        placed.append(None)
        cursor = _by_words(piece, folded, covered, cursor, len(target))
    index = _index(offsets)
    for marks, value in ((exempt, 2), (condensed, 3)):
        for start, end in marks:
            lo, hi = index(start), index(end)
            for i in range(lo, hi):
                if covered[i] == 0:
                    covered[i] = value
    lost: list[Span] = []
    i = 0
    while i < len(covered):
        if covered[i] == 0:
            j = i
            while j < len(covered) and covered[j] == 0:
                j += 1
            lost.append((offsets[i], offsets[j - 1] + 1))
            i = j
        else:
            i += 1
    return Coverage(total=len(folded), lettered=covered.count(1), exempt=covered.count(2),
                    condensed=covered.count(3), lost=lost, placed=placed)


def _by_words(piece: str, folded: str, covered: bytearray, cursor: int, size: int) -> int:
    """Match the words of a piece one by one within a short reach of `cursor`; returns the new cursor.
    Most of the piece must be found so, or it covers nothing (a caption the story never said)."""
    reach = cursor + 3 * size + 60
    found: list[tuple[int, int]] = []
    at = cursor
    for word in (fold(w) for w in _WORD_BREAK.split(piece)):
        if len(word) < 2 and not word.isdigit():
            continue
        pos = folded.find(word, at, reach + len(word))
        if pos != -1:
            found.append((pos, pos + len(word)))
            at = pos + len(word)
    if sum(b - a for a, b in found) < 0.6 * size:
        return cursor
    for a, b in found:
        for i in range(a, b):
            if covered[i] == 0:
                covered[i] = 1
    return at


def _index(offsets: list[int]):
    """Story offset -> index of the first folded character at or after it (binary search)."""
    def at(position: int) -> int:
        lo, hi = 0, len(offsets)
        while lo < hi:
            mid = (lo + hi) // 2
            if offsets[mid] < position:
                lo = mid + 1
            else:
                hi = mid
        return lo
    return at
