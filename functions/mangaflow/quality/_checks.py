"""Small shared checks the phase evaluators are built from; each returns a fraction 0..1."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from . import room
from ..story import detect_language, extract_quotes, normalise
from ..story import lexicon as lx
from ..story.coverage import Coverage, coverage

Span = tuple[int, int]

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


# ---------------------------------------------------------------- reading the story back

ATTRIBUTION_LIMIT = {"ja": 40, "en": 80}  # an "attribution" longer than this is prose left out
_BOUNDARY = re.compile(r"[、。，,.;；:：!！?？…—―「」『』“”\"()（）\n]")


def story_text(inputs: dict) -> str:
    return normalise(str(inputs.get("text") or ""))


def language_of(output: dict, inputs: dict, story: str) -> str:
    language = (output.get("story_context") or {}).get("language") or inputs.get("language")
    return language if language in ("ja", "en") else detect_language(story)


def declared_spans(entries: object, story: str, language: str) -> tuple[list[Span], list[Span], int]:
    """Attribution spans, condensed spans and how many entries could not be trusted, from a `condensed[]`.

    An entry counts only where its text is in the story (at its `source`, else found by its words); an
    "attribution" must touch a quoted line and be short, or it is counted as condensed prose.
    """
    quotes = extract_quotes(story)
    attributions: list[Span] = []
    condensed: list[Span] = []
    untrusted = 0
    for entry in entries if isinstance(entries, list) else []:
        span = _entry_span(entry, story)
        if span is None:
            untrusted += 1
            continue
        if entry.get("reason") == "attribution":
            if span[1] - span[0] <= ATTRIBUTION_LIMIT[language] and _touches_quote(span, quotes, story):
                attributions.append(span)
                continue
            untrusted += 1
        condensed.append(span)
    return attributions, condensed, untrusted


def _entry_span(entry: object, story: str) -> Span | None:
    if not isinstance(entry, dict):
        return None
    text = str(entry.get("text") or "").strip()
    source = entry.get("source")
    if isinstance(source, list) and len(source) == 2 and all(isinstance(v, int) for v in source):
        start, end = source
        if 0 <= start < end <= len(story) and (not text or story[start:end].strip() == text):
            return start, end
    if text:
        found = story.find(text)
        if found != -1:
            return found, found + len(text)
    return None


def _touches_quote(span: Span, quotes: list, story: str) -> bool:
    start, end = span
    for q in quotes:
        if not story[q.end : start].strip() or not story[end : q.start].strip():
            return True
    return False


def text_kept(story: str, pieces: list[str], entries: object, language: str) -> tuple[Coverage, int]:
    """In-order coverage of the story by `pieces`, attributions and condensed prose declared in `entries`."""
    attributions, condensed, untrusted = declared_spans(entries, story, language)
    return coverage(story, pieces, exempt=attributions, condensed=condensed), untrusted


def lost_hint(story: str, found: Coverage, where: str) -> str:
    first = max(found.lost, key=lambda s: s[1] - s[0]) if found.lost else (0, 0)
    sample = story[first[0] : first[1]][:30].replace("\n", " ")
    return (f"{where}: {found.lost_chars} characters of the story reach no caption or bubble (e.g. '{sample}'); "
            "letter every sentence, or record what you leave out in condensed[] with its source and reason")


def cut_captions(story: str, captions: list[tuple[str, Span | None]]) -> list[str]:
    """Captions that end in the middle of a clause: '…' where the story has none, a caption ending
    mid-word, or the next caption going on with the same clause."""
    cut = []
    for index, (text, span) in enumerate(captions):
        shown = text.rstrip()
        if shown.endswith(("…", "...")) and span is not None and not story[span[0] : span[1] + 1].rstrip().endswith(
                ("…", "...")):
            cut.append(text)
            continue
        if span is None:
            continue
        end = span[1]
        if end < len(story) and story[end - 1].isalnum() and story[end].isalnum():
            cut.append(text)  # ところが部員の一 | 人、…
            continue
        following = captions[index + 1][1] if index + 1 < len(captions) else None
        if following is not None and following[0] >= end and following[0] - end < 40 \
                and not _BOUNDARY.search(story[end - 1 : following[0] + 1]):
            cut.append(text)  # the next caption carries on the same clause
    return cut


def crowded(panels: list[dict], page_size_px: object, language: str) -> list[tuple[str, float]]:
    """(panel_id, share covered) of every panel whose lettering covers more than room.CROWDED_AT of it."""
    found = []
    for panel in panels:
        share = room.load(panel, page_size_px, language)
        if share > room.CROWDED_AT:
            found.append((str(panel.get("panel_id")), share))
    return found


# ---------------------------------------------------------------- one person, one character

_TITLE_WORDS_EN = {"mr", "mrs", "ms", "dr", "miss", "captain", "capt", "coach", "professor", "prof", "sir",
                   "lady", "lord", "doctor", "grandma", "grandpa", "aunt", "uncle", "the", "a", "an", "my", "her",
                   "his", "their", "our", "your"}
_NICKNAME_EN = re.compile(r"\b(?:called|call|calls|nicknamed)\s+(?:him|her|me|them)\s+[\"“]?([A-Z][a-z]+)")
_NICKNAME_JA = re.compile(r"[「『]?([^「」『』\s、。]{1,10}?)[」』]?(?:と|って)呼")


def _personal(name: str, language: str) -> list[str]:
    if language == "ja":
        bare = name
        for ending in sorted(lx.HONORIFICS_JA + lx.TITLES_JA + ("おばさん", "おじさん"), key=len, reverse=True):
            if bare.endswith(ending) and len(bare) > len(ending):
                bare = bare[: -len(ending)]
                break
        return [bare]
    return [w for w in re.split(r"[\s.]+", name) if w and w.lower() not in _TITLE_WORDS_EN and w[:1].isupper()]


def split_people(characters: list[dict], story: str, language: str) -> list[tuple[str, str]]:
    """Pairs of characters that are one person under two names: a name that is part of another's full
    name (太郎 / 山田太郎, Vance / Eleanor Vance), the same name with an honorific or title (山田くん,
    Dr. Okafor), or a nickname the story gives someone and a character of its own."""
    people = [c for c in characters if isinstance(c, dict) and c.get("kind", "person") != "group"]
    names = {str(c.get("id")): [str(n) for n in [c.get("name", ""), *(c.get("aliases") or [])] if n] for c in people}
    pairs = []
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            if _same_person(names[str(a.get("id"))], names[str(b.get("id"))], language):
                pairs.append((str(a.get("name")), str(b.get("name"))))
    nicknames = set(m.group(1) for m in (_NICKNAME_JA if language == "ja" else _NICKNAME_EN).finditer(story))
    for nickname in nicknames:
        holders = [c for c in people if nickname in names[str(c.get("id"))] or
                   (language == "ja" and _personal(nickname, language)[0] in names[str(c.get("id"))])]
        if len(holders) == 1 and holders[0].get("name") in (nickname, _personal(nickname, language)[0]) \
                and len(people) > 1 and not holders[0].get("aliases"):
            pairs.append((nickname, f"the person the story calls {nickname}"))
    return pairs


def _same_person(a: list[str], b: list[str], language: str) -> bool:
    for x in a:
        for y in b:
            if x == y:
                return True
            if language == "ja":
                px, py = _personal(x, language)[0], _personal(y, language)[0]
                if px == py and len(px) >= 1:
                    return True
                short, long_ = sorted((px, py), key=len)
                if len(short) >= 2 and len(long_) <= 6 and long_ != short and \
                        (long_.startswith(short) or long_.endswith(short)) and _looks_like_name(long_):
                    return True
            else:
                wx, wy = _personal(x, language), _personal(y, language)
                if wx and wy and (set(wx) <= set(wy) or set(wy) <= set(wx)) and (len(wx) > 1 or len(wy) > 1 or wx == wy):
                    return True
    return False


def _looks_like_name(word: str) -> bool:
    return bool(re.fullmatch(r"[\u4e00-\u9fff]{2,4}|[\u30a0-\u30ffー]{2,6}|[\u4e00-\u9fff]{1,2}[\u30a0-\u30ffー]{2,4}",
                             word))


# ---------------------------------------------------------------- places

def place_problems(scenes: list[dict], story: str, language: str) -> list[tuple[str, str]]:
    """(scene_id, what is wrong) for scenes whose place is no place word of the story, contradicts its
    own indoor flag, or is not what the scene's own opening says."""
    from ..story.places import PlaceIndex

    index = PlaceIndex(story, language, [], [(q.start, q.end) for q in extract_quotes(story)])
    words = {h.word for h in index.hits}
    places = lx.PLACES_JA if language == "ja" else lx.PLACES_EN
    problems = []
    for scene in scenes:
        setting = scene.get("setting") if isinstance(scene.get("setting"), dict) else {}
        place = str(setting.get("place") or "")
        if not place or place in lx.GENERAL_PLACES:
            continue
        if place in places and place not in words:
            inside = re.search(r"\S{0,3}" + re.escape(place) + r"\S{0,3}", story)
            where = f" (only inside '{inside.group(0)}')" if inside else ""
            problems.append((str(scene.get("scene_id")), f"place '{place}' is not a place word of the story{where}"))
            continue
        if place in places and isinstance(setting.get("indoor"), bool) and setting["indoor"] != places[place]:
            problems.append((str(scene.get("scene_id")), f"'{place}' is {'indoors' if places[place] else 'outdoors'}"))
            continue
        opening = next((b for b in scene.get("beats") or [] if b.get("kind") != "dialogue"
                        and isinstance(b.get("source"), list)), None)
        if opening is not None:
            start, end = opening["source"]
            named = [h for h in index.within(int(start), int(end)) if not h.general and h.weight >= 2]
            if named and place not in {h.word for h in index.within(int(start), _scene_end(scene))}:
                problems.append((str(scene.get("scene_id")),
                                 f"the scene opens in '{named[0].word}' but is set in '{place}'"))
    return problems


def _scene_end(scene: dict) -> int:
    ends = [int(b["source"][1]) for b in scene.get("beats") or [] if isinstance(b.get("source"), list)]
    return max(ends) if ends else 0
