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


# A quoted word that names or labels something is part of the sentence, not a spoken line:
# 皆に「タロちゃん」と呼ばれている / 黒板に「候補」と書く / everyone called him "Stretch".
_NAMING_AFTER_JA = re.compile(r"(?:と|って)(?:呼|名付|書|記)|という(?:名|あだ名|文字|言葉)")
_NAMING_BEFORE_EN = re.compile(r"\b(?:called|call|calls|named|nicknamed|known as)(?:\s+(?:him|her|me|them|it|us|you))?"
                               r"\s+$", re.IGNORECASE)


def is_naming(text: str, start: int, end: int) -> bool:
    """True when the quoted span start..end names or labels something instead of being spoken."""
    if _NAMING_AFTER_JA.match(text, end):
        return True
    return text[start] in ('"', "“") and _NAMING_BEFORE_EN.search(text[max(0, start - 30) : start]) is not None


def _append(quotes: list[Quote], text: str, start: int, end: int, mark: str) -> None:
    # the comma before an attribution ("…alive," said Moss) belongs to the sentence, not the line
    inner = text[start + 1 : end - 1].strip().rstrip(",")
    if inner and not is_naming(text, start, end):
        quotes.append(Quote(start, end, inner, mark))


def _paragraph_end(text: str, pos: int) -> int:
    found = text.find("\n\n", pos)
    return len(text) if found == -1 else found


# Titles written with a full stop ("Dr. Okafor") do not end a sentence.
_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|Capt|Lt|Sgt|Col|Gen|Mt|Jr|Sr)\.")
_HOLD = "\u2024"  # one dot leader: the same length as the full stop it stands in for
_JA_END = re.compile(r"[。！？!?]+[」』）)”]*|\n")
_EN_END = re.compile(r"[.!?]+[\"'”’)]*(?=\s|$)|\n")
_CLAUSE_END = re.compile(r"[、，,;；:：]+|—|――")
CAPTION_LIMIT = {"ja": 40, "en": 130}


def protect_abbreviations(text: str) -> str:
    """`text` with the full stop of each title abbreviation held back (same length, same offsets)."""
    return _ABBREVIATION.sub(lambda m: m.group(0)[:-1] + _HOLD, text)


def sentence_spans(text: str, start: int, end: int, language: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end], whitespace trimmed; a sentence ends at its
    closing punctuation (with any closing bracket or quote after it) or at a line break."""
    body = protect_abbreviations(text[start:end]) if language == "en" else text[start:end]
    ender = _JA_END if language == "ja" else _EN_END
    spans, cursor = [], 0
    for m in ender.finditer(body):
        spans.append((cursor, m.end()))
        cursor = m.end()
    spans.append((cursor, len(body)))
    found = []
    for a, b in spans:
        piece = body[a:b]
        lead, trail = len(piece) - len(piece.lstrip()), len(piece) - len(piece.rstrip())
        if b - trail > a + lead:
            found.append((start + a + lead, start + b - trail))
    return found


def caption_spans(text: str, span: tuple[int, int], language: str, limit: int | None = None) -> list[tuple[int, int]]:
    """A sentence cut into captions of about `limit` characters at clause ends (、 , ; :), never inside
    a clause: a clause longer than the limit stays whole."""
    limit = limit or CAPTION_LIMIT[language]
    start, end = span
    if end - start <= limit:
        return [span]
    cuts = [start + m.end() for m in _CLAUSE_END.finditer(text, start, end) if start + m.end() < end]
    pieces, cursor, last = [], start, start
    for cut in cuts + [end]:
        if cut - cursor > limit and last > cursor:
            pieces.append((cursor, last))
            cursor = last
        last = cut
    pieces.append((cursor, end))
    trimmed = []
    for a, b in pieces:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            trimmed.append((a, b))
    return trimmed


def sentences(prose: str, language: str) -> list[str]:
    """Split prose (no quotes inside) into sentences, dropping empty bits and stray punctuation."""
    found = [prose[a:b] for a, b in sentence_spans(prose, 0, len(prose), language)]
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
