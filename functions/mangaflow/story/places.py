"""Where things happen: place words of the story, found as words of their own (janome's token
boundaries for Japanese, whole words for English; 道 inside 柔道部 is no road, 山 in 山田 no mountain),
weighed by how the sentence uses them (入った店で / in the kitchen: here; 坂を下りて / from the station:
passed through or left), and a club's practice taking place where that club trains (柔道部の練習 -> 道場).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon as lx
from .text import in_spans, sentence_spans

Span = tuple[int, int]
HERE, PLAIN, PASSED = 2, 1, 0  # how strongly a mention says the scene is there
_LOCATIVE_EN = re.compile(r"\b(?:in|at|into|inside|on|onto|to|toward|towards|through|across|along|near|by|behind|"
                          r"under|outside|over|reached|entered|beside|around|down)\s+(?:the|a|an|his|her|their|my|our|"
                          r"its|this|that|your)?\s*(?:[a-z'-]+\s+){0,3}$")
_POSSESSIVE_EN = re.compile(r"\b(?:his|her|their|my|our|your)\s+(?:[a-z'-]+\s+){0,1}$")
_LEAVING_EN = re.compile(r"\b(?:from|left|leaving|leave|past|beyond)\s+(?:the|a|an|his|her|their|my|our|its)?\s*"
                         r"(?:[a-z'-]+\s+){0,2}$")
_SUBJECT_EN = re.compile(r"(?:^|[.!?\n]\s*)(?:The|A|An|Her|His|Their|My|Our)\s+(?:[a-z'-]+\s+){0,2}$")
_THROUGH_JA = re.compile(r"を")  # 坂を下りて, 小屋を出た, 屋根を叩く: passed, left or acted on, not where we are
_FROM_JA = re.compile(r"から|より")
_AT_JA = re.compile(r"(?:に|へ|で|には|では|の中|の奥|の前|の外|まで)")
_PRACTICE_JA = ("練習", "稽古", "部活", "朝練", "試合")


def _token_spans(text: str, quotes: list[Span]) -> list[tuple[int, int, object]]:
    """(start, end, token) of every janome token of the story. The prose is tokenized with its quoted
    lines blanked (the analysis of people does the same, and janome remembers the last texts), each
    quoted line on its own: one pass over the story's characters, not two."""
    from .japanese import tokenize, tokenize_once

    blank = list(text)
    for start, end in quotes:
        blank[start:end] = "　" * (end - start)
    pieces = [(0, "".join(blank))] + [(start, text[start:end]) for start, end in quotes]
    spans = []
    for offset, piece in pieces:
        at = 0
        for tok in (tokenize(piece) if not offset else tokenize_once(piece)):
            begin = piece.find(tok.surface, at)
            if begin == -1:
                continue
            at = begin + len(tok.surface)
            if tok.surface.strip("　 \n\t") and (offset or not in_spans(quotes, begin)):
                spans.append((offset + begin, offset + at, tok))
    return sorted(spans, key=lambda s: s[0])


@dataclass(frozen=True)
class PlaceHit:
    """One mention of a place: its span, the lexicon word, indoors or not, and its weight."""

    start: int
    end: int
    word: str
    indoor: bool
    weight: int
    general: bool


class PlaceIndex:
    """Every place mention of a story, not inside a person's name."""

    def __init__(self, text: str, language: str, names: list[Span], quotes: list[Span]) -> None:
        self.text = text
        self.language = language
        self.places = lx.PLACES_JA if language == "ja" else lx.PLACES_EN
        names = sorted(names)
        self.quotes = sorted(quotes)
        hits = self._hits_ja() if language == "ja" else self._hits_en()
        hits = [h for h in hits if not in_spans(names, h.start)]
        self.hits = sorted((self._spoken(h, quotes) for h in hits if not (h.general and in_spans(quotes, h.start))),
                           key=lambda h: h.start)

    @staticmethod
    def _spoken(hit: PlaceHit, quotes: list[Span]) -> PlaceHit:
        """A place named in dialogue ("The bus broke down") says less about where the speakers are."""
        if not in_spans(quotes, hit.start) or hit.weight == PASSED:
            return hit
        return PlaceHit(hit.start, hit.end, hit.word, hit.indoor, hit.weight - 1, hit.general)

    # ------------------------------------------------------------ finding

    def _hits_ja(self) -> list[PlaceHit]:
        text = self.text
        spans = _token_spans(text, self.quotes)
        starts = {begin for begin, _, _ in spans}
        ends = {end for _, end, _ in spans}
        taken: list[Span] = []
        found: list[PlaceHit] = []
        for word in sorted(self.places, key=len, reverse=True):
            for m in re.finditer(re.escape(word), text):
                s, e = m.start(), m.end()
                if s not in starts or e not in ends or any(a < e and s < b for a, b in taken):
                    continue  # 道 in 柔道, 空 in 空気, 家 in 家庭科室: part of a longer word
                taken.append((s, e))
                found.append(PlaceHit(s, e, word, self.places[word], self._weight_ja(e), word in lx.GENERAL_PLACES))
        for begin, end, tok in spans:
            if tok.pos.startswith("名詞,固有名詞,地域") and not any(a < end and begin < b for a, b in taken):
                # 東京, 渋谷: a named town or region is a broad setting
                found.append(PlaceHit(begin, end, tok.surface, False, self._weight_ja(end), True))
        for begin, end, tok in spans:
            if tok.surface not in lx.ROLES_JA:
                continue
            workplace = next((w for w in self.places if tok.surface.startswith(w) and tok.surface != w), None)
            if workplace and not any(a < end and begin < b for a, b in taken):
                # 灯台守, 店主: a role named after its place puts the scene there
                found.append(PlaceHit(begin, begin + len(workplace), workplace, self.places[workplace], PLAIN,
                                      workplace in lx.GENERAL_PLACES))
        for k, (begin, end, tok) in enumerate(spans[:-1]):
            nxt = spans[k + 1][2]
            venue = lx.CLUB_VENUES_JA.get(tok.surface)
            if venue and nxt.surface == "部" and "接尾" in nxt.pos:
                sentence = self._sentence_at(begin)
                if any(w in sentence for w in _PRACTICE_JA):  # 柔道部の練習: where the club trains
                    found.append(PlaceHit(begin, spans[k + 1][1], venue, lx.PLACES_JA.get(venue, True), PLAIN, False))
        return found

    def _weight_ja(self, end: int) -> int:
        after = self.text[end : end + 4]
        if _THROUGH_JA.match(after) or _FROM_JA.match(after):
            return PASSED
        if after.startswith("の"):
            tail = self.text[end + 1 : end + 14]
            if any(tail.find(w) != -1 and tail.find(w) <= 8 for w in self.places if w not in lx.GENERAL_PLACES):
                return PASSED  # 駅前の居酒屋, 祖母の家の台所: the place is the later, narrower one
        return HERE if _AT_JA.match(after) else PLAIN

    def _hits_en(self) -> list[PlaceHit]:
        text = self.text
        lowered = text.lower()
        taken: list[Span] = []
        found: list[PlaceHit] = []
        for word in sorted(self.places, key=len, reverse=True):
            for m in re.finditer(r"\b" + re.escape(word) + r"(?:s|es)?\b", lowered):
                s, e = m.start(), m.end()
                if any(a < e and s < b for a, b in taken):
                    continue
                taken.append((s, e))
                found.append(PlaceHit(s, e, word, self.places[word], self._weight_en(s, e), word in lx.GENERAL_PLACES))
        return found

    def _weight_en(self, start: int, end: int) -> int:
        before = self.text[max(0, start - 40) : start]
        low = before.lower()
        after = self.text[end : end + 30].lower()
        if re.match(r"\s+(?:" + "|".join(re.escape(w) for w in self.places) + r")\b", after):
            return PASSED  # "the harbour office", "the lighthouse kitchen": the last noun is where we are
        if _LEAVING_EN.search(low):
            return PASSED
        if _LOCATIVE_EN.search(low) or _POSSESSIVE_EN.search(low) or _SUBJECT_EN.search(before):
            return HERE
        return PLAIN

    def _sentence_at(self, pos: int) -> str:
        for a, b in sentence_spans(self.text, max(0, pos - 200), min(len(self.text), pos + 200), self.language):
            if a <= pos < b:
                return self.text[a:b]
        return ""

    # ------------------------------------------------------------ reading

    def within(self, start: int, end: int, absent: list[Span] | None = None) -> list[PlaceHit]:
        return [h for h in self.hits if start <= h.start < end and not (absent and in_spans(absent, h.start))]

    def place_of(self, start: int, end: int, absent: list[Span] | None = None) -> PlaceHit | None:
        """The place text[start:end] happens in: the mention that says "here" most strongly, a specific
        place before a broad one, the earliest first."""
        hits = self.within(start, end, absent)
        if not hits:
            return None
        return min(hits, key=lambda h: (h.general, -h.weight, h.start))

    def destination(self, start: int, end: int, absent: list[Span]) -> str:
        """The place a line takes someone to ("老人は駅前の古い喫茶店に入り", "she walked into the forest"),
        or "" when nobody goes anywhere new. Remembered or reported sentences move nobody."""
        text = self.text
        for a, b in sentence_spans(text, start, end, self.language):
            if in_spans(absent, a):
                continue
            sentence = text[a:b] if self.language == "ja" else text[a:b].lower()
            if self.language == "ja":
                verb = min((sentence.find(v) for v in lx.MOVE_JA if v in sentence), default=-1)
                hits = [h for h in self.within(a, a + verb) if h.weight != PASSED] if verb > 0 else []
            else:
                m = re.search(r"\b(?:" + "|".join(lx.MOVE_EN) + r")\b", sentence)
                hits = [h for h in self.within(a + m.end(), b) if h.weight != PASSED] if m else []
            hits = [h for h in hits if not h.general]
            if hits:
                return min(hits, key=lambda h: (-h.weight, h.start)).word
        return ""
