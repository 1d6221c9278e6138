"""Line breaking for bubbles: vertical Japanese columns with kinsoku rules, horizontal word wrap,
and `fit_text`, which finds the largest font size whose lines fit a box.

Vertical text is a list of *cells* (one em square each, top to bottom); a cell is usually one
character, but two Latin digits or a "!?" pair share one cell set horizontally (tate-chu-yoko).
"""
from __future__ import annotations

from mangaflow.errors import RenderError

import math
import re
from dataclasses import dataclass

from mangaflow.render.fonts import FontFamily, get_font

# Column pitch: columns are 1 em wide with 0.4 em between them; a cell is 1 em tall.
COLUMN_GAP_EM = 0.4
# Horizontal lines: 1.18 em apart, which keeps descenders off the next line's capitals.
LINE_HEIGHT_EM = 1.18

SMALL_KANA = frozenset("ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ")
# Characters that may not begin a column (gyoto kinsoku).
NO_COLUMN_START = frozenset(
    "、。，．,.」』）〕】〉》〙〗｝)]}’”!?！？‼⁇⁈⁉ー－～〜…‥・：；:;ゝゞヽヾ々"
) | SMALL_KANA
# Characters that may not end a column (gyomatsu kinsoku).
NO_COLUMN_END = frozenset("「『（〔【〈《〘〖｛([{‘“")

_HIRAGANA = re.compile(r"[\u3041-\u309f]")
_OPENING = NO_COLUMN_END
_CLOSING_PUNCT = frozenset("、。，．」』）〕】〉》！？!?…‥")

# Vertical presentation forms for punctuation the font draws differently in columns.
_VERTICAL_FORMS = {
    "「": "﹁", "」": "﹂", "『": "﹃", "』": "﹄", "（": "︵", "）": "︶", "(": "︵", ")": "︶",
    "【": "︻", "】": "︼", "〔": "︹", "〕": "︺", "〈": "︿", "〉": "﹀", "《": "︽", "》": "︾",
    "｛": "︷", "｝": "︸", "、": "︑", "。": "︒", "，": "︐", "：": "︓", "；": "︔",
    "…": "︙", "‥": "︰", "―": "︱", "—": "︱", "－": "︱",
}
# Characters with no vertical form that are turned a quarter clockwise in a column.
_ROTATED = frozenset("ー～〜-–=＝→←")
_TCY_MARKS = frozenset("!?！？")


class TextDoesNotFit(RenderError):
    """Raised when a text cannot be set inside a box even at the smallest allowed size."""


@dataclass(frozen=True)
class VerticalGlyph:
    """How one cell is drawn in a column: the text to draw, whether it is turned 90 degrees
    clockwise, an offset in em (small kana sit up and to the right), and tate-chu-yoko."""

    text: str
    rotate: bool = False
    dx_em: float = 0.0
    dy_em: float = 0.0
    tate_chu_yoko: bool = False


def vertical_cells(text: str) -> list[str]:
    """Split text into the cells of a vertical column (concatenating the cells gives the text)."""
    cells: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        run = re.match(r"[0-9０-９]+", text[i:])
        if run and len(run.group()) == 2:
            cells.append(run.group())  # two digits read as one upright horizontal cell
            i += 2
            continue
        if run:
            cells.extend(run.group())  # one digit or 3+ digits: each digit upright
            i += len(run.group())
            continue
        if ch in _TCY_MARKS and i + 1 < len(text) and text[i + 1] in _TCY_MARKS:
            cells.append(text[i:i + 2])  # "!?" set side by side in one cell
            i += 2
            continue
        cells.append(ch)
        i += 1
    return cells


def vertical_glyph(cell: str) -> VerticalGlyph:
    """The vertical form of one cell (see VerticalGlyph)."""
    if len(cell) == 2:
        half = cell.translate(_FULL_TO_HALF)
        return VerticalGlyph(half, tate_chu_yoko=True)
    if cell in _VERTICAL_FORMS:
        return VerticalGlyph(_VERTICAL_FORMS[cell])
    if cell in _ROTATED:
        return VerticalGlyph(cell, rotate=True)
    if cell in SMALL_KANA:
        return VerticalGlyph(cell, dx_em=0.1, dy_em=-0.1)
    if cell in "!?":
        return VerticalGlyph(chr(ord(cell) + 0xFEE0))  # full-width, upright
    if "!" <= cell <= "~":
        return VerticalGlyph(chr(ord(cell) + 0xFEE0))  # Latin letters and digits upright
    return VerticalGlyph(cell)


_FULL_TO_HALF = {ord(c): ord(c) - 0xFEE0 for c in "０１２３４５６７８９！？"}


def _violates_kinsoku(cells: list[str], j: int) -> bool:
    """Whether breaking a column before cells[j] breaks a kinsoku rule."""
    return cells[j][0] in NO_COLUMN_START or cells[j - 1][-1] in NO_COLUMN_END


def _is_phrase_break(cells: list[str], j: int) -> bool:
    """A natural place to end a column: after punctuation, or where hiragana (particles,
    endings) meets the next word; letterers break bubbles between phrases, not inside words."""
    before, after = cells[j - 1][-1], cells[j][0]
    if before in _CLOSING_PUNCT or before == " " or after in _OPENING:
        return True
    return bool(_HIRAGANA.match(before)) and not _HIRAGANA.match(after) and after not in NO_COLUMN_START


def break_vertical(text: str, column_cells: int) -> list[str]:
    """Break text into columns of at most `column_cells` cells, honouring kinsoku and
    preferring phrase boundaries. Raises ValueError if column_cells < 1."""
    if column_cells < 1:
        raise ValueError(f"column_cells must be at least 1, got {column_cells}")
    columns: list[str] = []
    for paragraph in text.strip().split("\n"):
        cells = vertical_cells(paragraph.strip())
        columns.extend("".join(c) for c in _balanced_columns(cells, column_cells))
    return [c for c in columns if c]


def _balanced_columns(cells: list[str], n: int) -> list[list[str]]:
    """Break at column length n, then try shorter lengths giving no more columns and keep the
    most even result: a bubble ending in a one-character column looks broken."""
    best = _break_cells(cells, n)
    if len(best) < 2:
        return best

    for m in range(n - 1, max(1, math.ceil(n * 0.6)) - 1, -1):
        trial = _break_cells(cells, m)
        if len(trial) > len(best):
            break
        if raggedness(trial) < raggedness(best):
            best = trial
    return best


def raggedness(columns: list[list[str]] | list[str]) -> float:
    """How badly a set of columns reads: uneven lengths, a last column of one or two
    characters, and breaks inside a word all count against it (0 is best)."""
    cols = [vertical_cells(c) if isinstance(c, str) else c for c in columns]
    if len(cols) < 2:
        return 0.0
    lengths = [len(c) for c in cols]
    mid_word = sum(1 for a, b in zip(cols, cols[1:]) if not _is_phrase_break(a + b, len(a)))
    return (max(lengths) - min(lengths)) + 4 * (lengths[-1] < 3) + 4 * mid_word


def _break_cells(cells: list[str], n: int) -> list[list[str]]:
    columns: list[list[str]] = []
    i = 0
    while len(cells) - i > n:
        j = _choose_break(cells, i, n)
        columns.append(cells[i:j])
        i = j
        while i < len(cells) and cells[i] in (" ", "\u3000"):
            i += 1  # a space never starts a column
    if i < len(cells):
        columns.append(cells[i:])
    return columns


def _choose_break(cells: list[str], i: int, n: int) -> int:
    """Index of the first cell of the next column, for a column starting at i."""
    hard = i + n
    # Prefer a phrase boundary in the last half of the column.
    for j in range(hard, i + max(1, math.ceil(n / 2)) - 1, -1):
        if j > i and _is_phrase_break(cells, j) and not _violates_kinsoku(cells, j):
            return j
    # Otherwise pull characters back into the next column until the kinsoku rules hold.
    j = hard
    while j > i + 1 and _violates_kinsoku(cells, j):
        j -= 1
    if _violates_kinsoku(cells, j):
        return hard  # e.g. a column of nothing but "！！！！": no legal break exists
    return j


def join_lines(lines: list[str], vertical: bool) -> str:
    """The text as it was before breaking (inverse of break_vertical / wrap_horizontal)."""
    if vertical:
        return "".join(lines)
    out = ""
    for k, line in enumerate(lines):
        if k == 0:
            out = line
        elif out.endswith(SOFT_HYPHEN_MARK):
            out = out[: -len(SOFT_HYPHEN_MARK)] + line
        elif out.endswith("-"):
            out += line
        else:
            out += " " + line
    return out


# A hyphen we insert when splitting a word too long for the line (U+2010, drawn like "-").
SOFT_HYPHEN_MARK = "\u2010"


def wrap_horizontal(text: str, family: FontFamily, size_px: int, max_width_px: float) -> list[str]:
    """Greedy word wrap; only a word longer than the line is split (with a hyphen)."""
    font = get_font(family, size_px)
    lines: list[str] = []
    for paragraph in text.strip().split("\n"):
        current = ""
        for word in paragraph.split():
            trial = f"{current} {word}" if current else word
            if font.getlength(trial) <= max_width_px:
                current = trial
                continue
            if current:
                lines.append(current)
                current = ""
            while font.getlength(word) > max_width_px:
                head, word = _split_word(word, font, max_width_px)
                lines.append(head)
            current = word
        if current:
            lines.append(current)
    return lines


def _split_word(word: str, font, max_width_px: float) -> tuple[str, str]:
    """The longest head of the word that fits with a hyphen, and the rest (at least 1 char each)."""
    cut = 1
    for k in range(len(word) - 1, 0, -1):
        if font.getlength(word[:k] + SOFT_HYPHEN_MARK) <= max_width_px:
            cut = k
            break
    head = word[:cut]
    if not head.endswith("-"):
        head += SOFT_HYPHEN_MARK
    return head, word[cut:]


def line_rects(lines: list[str], size_px: int, vertical: bool, family: FontFamily) -> list[tuple[float, float, float, float]]:
    """Each line's (x0, y0, x1, y1) inside the text block, block origin at its top-left.
    Vertical: columns top-aligned, the first at the right. Horizontal: lines centred."""
    if vertical:
        n = len(lines)
        pitch = size_px * (1 + COLUMN_GAP_EM)
        width = n * size_px + (n - 1) * size_px * COLUMN_GAP_EM if n else 0.0
        rects = []
        for k, line in enumerate(lines):
            x1 = width - k * pitch
            rects.append((x1 - size_px, 0.0, x1, len(vertical_cells(line)) * size_px))
        return rects
    font = get_font(family, size_px)
    widths = [font.getlength(line) for line in lines]
    block_w = max(widths, default=0.0)
    lh = size_px * LINE_HEIGHT_EM
    return [((block_w - w) / 2, k * lh, (block_w + w) / 2, (k + 1) * lh) for k, w in enumerate(widths)]


def block_size(lines: list[str], size_px: int, vertical: bool, family: FontFamily) -> tuple[float, float]:
    """Width and height of the text block in px."""
    rects = line_rects(lines, size_px, vertical, family)
    if not rects:
        return 0.0, 0.0
    return max(r[2] for r in rects) - min(r[0] for r in rects), max(r[3] for r in rects)


def break_lines(text: str, size_px: int, vertical: bool, family: FontFamily, measure_px: float) -> list[str]:
    """Break text for a column length (vertical) or line width (horizontal) of measure_px."""
    if vertical:
        return break_vertical(text, max(1, int(measure_px // size_px)))
    return wrap_horizontal(text, family, size_px, measure_px)


def fit_text(text: str, box_px: tuple[float, float], vertical: bool, font: FontFamily,
             min_size: int, max_size: int) -> tuple[int, list[str]]:
    """The largest integer size in [min_size, max_size] at which the text, broken into lines for
    the box, fits inside box_px (width, height); and those lines. Raises TextDoesNotFit."""
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}..{max_size}")
    box_w, box_h = box_px
    if box_w <= 0 or box_h <= 0:
        raise ValueError(f"box_px must be positive, got {box_px}")

    def lines_if_fits(size: int) -> list[str] | None:
        lines = break_lines(text, size, vertical, font, box_h if vertical else box_w)
        w, h = block_size(lines, size, vertical, font)
        return lines if w <= box_w + 1e-6 and h <= box_h + 1e-6 else None

    lo, hi, best = min_size, max_size, None
    while lo <= hi:  # fitting is monotone in size for greedy breaking, so bisect
        mid = (lo + hi) // 2
        lines = lines_if_fits(mid)
        if lines is not None:
            best, lo = (mid, lines), mid + 1
        else:
            hi = mid - 1
    if best is None:
        raise TextDoesNotFit(
            f"text of {len(text)} characters does not fit a {box_w:.0f}x{box_h:.0f} px box "
            f"even at {min_size} px")
    return best
