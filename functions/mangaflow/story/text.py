"""Plain-text mechanics: language detection, quoted lines, sentences and scene-sized units.

Everything works on character offsets into the normalised story so later steps can ask
"what lies between these two quotes" without re-searching.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
# Binary-looking characters: C0 controls other than tab/newline/carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_OPEN_TO_CLOSE = {"「": "」", "『": "』", "“": "”"}


@dataclass(frozen=True)
class Quote:
    """One quoted line: `start`/`end` include the quote marks, `text` excludes them."""

    start: int
    end: int
    text: str
    mark: str


def normalise(text: str) -> str:
    """Unify line endings and strip trailing space so offsets are stable across platforms."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def detect_language(text: str) -> str:
    """`ja` when any kana or kanji is present, `en` otherwise (the agreed rule)."""
    return "ja" if _KANA_KANJI.search(text) else "en"


def has_control_characters(text: str) -> bool:
    """True when the text holds characters that only binary data would contain."""
    return _CONTROL.search(text) is not None


def extract_quotes(text: str) -> list[Quote]:
    """Every top-level quoted line in story order.

    「」 nest (a quote inside a quote stays part of the outer line); 『』 counts only at top level;
    straight double quotes pair up within a paragraph, so a stray one never swallows the story.
    Empty quotes are not lines.
    """
    quotes: list[Quote] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _OPEN_TO_CLOSE:
            close = _OPEN_TO_CLOSE[ch]
            depth, j = 1, i + 1
            limit = _paragraph_end(text, i) if ch == "“" else n
            while j < limit and depth:
                if text[j] == ch and ch != close:
                    depth += 1
                elif text[j] == close:
                    depth -= 1
                j += 1
            if depth == 0:
                _append(quotes, text, i, j, ch)
                i = j
                continue
        elif ch == "（" and (i == 0 or text[i - 1] == "\n"):
            # a line that is wholly in parentheses is the character's inner voice (心の声)
            end = text.find("）", i + 1, _paragraph_end(text, i))
            if end != -1:
                _append(quotes, text, i, end + 1, ch)
                i = end + 1
                continue
        elif ch == '"':
            end = text.find('"', i + 1, _paragraph_end(text, i))
            if end != -1:
                _append(quotes, text, i, end + 1, ch)
                i = end + 1
                continue
        i += 1
    return quotes


def _append(quotes: list[Quote], text: str, start: int, end: int, mark: str) -> None:
    # the comma before an attribution ("…alive," said Moss) belongs to the sentence, not the line
    inner = text[start + 1 : end - 1].strip().rstrip(",")
    if inner:
        quotes.append(Quote(start, end, inner, mark))


def _paragraph_end(text: str, pos: int) -> int:
    found = text.find("\n\n", pos)
    return len(text) if found == -1 else found


_JA_SENTENCE = re.compile(r"[^。！？!?\n]*[。！？!?]+|[^。！？!?\n]+")
_EN_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+[\"'”’)]*|$)")


def sentences(prose: str, language: str) -> list[str]:
    """Split prose (no quotes inside) into sentences, dropping empty bits and stray punctuation."""
    pattern = _JA_SENTENCE if language == "ja" else _EN_SENTENCE
    found = []
    limit = 40 if language == "ja" else 130
    for piece in (s.strip() for s in pattern.findall(prose)):
        # a long sentence with a colon or semicolon reads as two captions, not one cut short
        if len(piece) > limit and re.search(r"[:;：；]\s", piece + " "):
            found += [p.strip() for p in re.split(r"(?<=[:;：；])\s*", piece) if p.strip()]
        else:
            found.append(piece)
    return [s for s in found if len(s.strip("、。,.!?！？ 　…—-\"'“”:;")) >= 2]


def shorten(sentence: str, language: str, limit: int | None = None) -> str:
    """Cut a sentence to a panel-sized caption at a clause boundary, marking the cut with …."""
    limit = limit or (40 if language == "ja" else 130)
    if len(sentence) <= limit:
        return sentence
    head = sentence[:limit]
    cut = max(head.rfind(p) for p in ("、", "，", ",", ";", "：", " "))
    if cut < limit // 3:
        cut = limit - 1
    return head[:cut].rstrip("、，,; ") + "…"


def split_units(text: str, quotes: list[Quote]) -> list[tuple[int, int]]:
    """Paragraph spans (start, end) split at blank lines that are not inside a quote."""
    inside = _quote_mask(quotes)
    spans: list[tuple[int, int]] = []
    start = 0
    for match in re.finditer(r"\n\s*\n", text):
        if in_spans(inside, match.start()):
            continue
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def split_lines(text: str, span: tuple[int, int], quotes: list[Quote]) -> list[tuple[int, int]]:
    """Single-newline lines of a paragraph span, never cutting through a quote."""
    inside = _quote_mask(quotes)
    start, end = span
    spans: list[tuple[int, int]] = []
    cursor = start
    pos = text.find("\n", start, end)
    while pos != -1:
        if not in_spans(inside, pos):
            spans.append((cursor, pos))
            cursor = pos + 1
        pos = text.find("\n", pos + 1, end)
    spans.append((cursor, end))
    return [s for s in spans if text[s[0] : s[1]].strip()]


def split_long(text: str, span: tuple[int, int], quotes: list[Quote], size: int) -> list[tuple[int, int]]:
    """Cut an over-long span at sentence ends outside quotes into pieces of about `size`."""
    start, end = span
    if end - start <= size * 2:
        return [span]
    inside = _quote_mask(quotes)
    pieces: list[tuple[int, int]] = []
    cursor = start
    for match in re.finditer(r"[。！？.!?]\s*", text[start:end]):
        cut = start + match.end()
        if cut - cursor >= size and not in_spans(inside, cut - 1) and end - cut >= size // 2:
            pieces.append((cursor, cut))
            cursor = cut
    pieces.append((cursor, end))
    return pieces


def _quote_mask(quotes: list[Quote]) -> list[tuple[int, int]]:
    return [(q.start, q.end) for q in quotes]


def in_spans(spans: list[tuple[int, int]], pos: int) -> bool:
    """True when `pos` falls inside one of the sorted, disjoint `spans` (binary search)."""
    lo, hi = 0, len(spans)
    while lo < hi:
        mid = (lo + hi) // 2
        if spans[mid][1] <= pos:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(spans) and spans[lo][0] <= pos < spans[lo][1]
