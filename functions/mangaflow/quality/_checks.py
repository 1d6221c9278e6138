"""Small shared checks the phase evaluators are built from; each returns a fraction 0..1."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from ..story import extract_quotes, normalise

HEX = set("0123456789abcdefABCDEF")


def present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def fields(obj: object, names: tuple[str, ...]) -> float:
    if not isinstance(obj, dict) or not names:
        return 0.0
    return sum(present(obj.get(n)) for n in names) / len(names)


def share(items: list, test) -> float:
    """Fraction of items passing `test`; an empty list passes (nothing is wrong with it)."""
    if not items:
        return 1.0
    ok = 0
    for item in items:
        try:
            ok += bool(test(item))
        except (TypeError, ValueError, KeyError, AttributeError, IndexError):
            pass
    return ok / len(items)


def is_hex(colour: object) -> bool:
    return isinstance(colour, str) and len(colour) == 7 and colour[0] == "#" and all(c in HEX for c in colour[1:])


def metadata(output: dict, phase: int) -> float:
    meta = output.get("processing_metadata")
    if not isinstance(meta, dict):
        return 0.0
    score = 0.0
    score += meta.get("phase") == phase
    score += bool(meta.get("status"))
    try:
        stamp = datetime.fromisoformat(str(meta.get("timestamp")))
        score += stamp.tzinfo is not None
    except ValueError:
        pass
    return score / 3


def story_quotes(inputs: dict) -> list[str]:
    return [q.text for q in extract_quotes(normalise(str(inputs.get("text") or "")))]


def quotes_once(expected: list[str], found: list[str]) -> tuple[float, list[str]]:
    """How exactly the found lines cover the story's quoted lines (each once, none invented)."""
    want, got = Counter(expected), Counter(found)
    if not want:
        return 1.0, []
    missing = sum((want - got).values())
    doubled = sum((got - want).values()) if got else 0
    extra_of_known = sum(max(0, got[t] - want[t]) for t in want)
    problems = missing + extra_of_known
    detail = []
    if missing:
        detail.append(f"{missing} quoted line(s) missing")
    if extra_of_known:
        detail.append(f"{extra_of_known} quoted line(s) used more than once")
    del doubled  # lines that are not quotes (sfx captions) are not errors
    return max(0.0, 1 - problems / len(expected)), detail


def in_unit(box: object) -> bool:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return False
    x, y, w, h = (float(v) for v in box)
    eps = 1e-6
    return w > 0 and h > 0 and x >= -eps and y >= -eps and x + w <= 1 + eps and y + h <= 1 + eps


def overlap(a: list, b: list) -> float:
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    dx = min(ax + aw, bx + bw) - max(ax, bx)
    dy = min(ay + ah, by + bh) - max(ay, by)
    return dx * dy if dx > 1e-6 and dy > 1e-6 else 0.0
