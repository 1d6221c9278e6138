"""Story analysis: scenes (time-shift segmentation), beats (narration and quoted lines in order),
speaker attribution, delivery, settings and emotions. Pure and deterministic; cached per text.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from . import lexicon as lx
from .people import Figure, find_figures, mention_positions
from .text import (Quote, detect_language, extract_quotes, normalise, sentences, shorten, split_lines,
                   split_long, split_units)


@dataclass
class Beat:
    """One storytelling unit: a quoted line (`dialogue`) or a sentence of prose."""

    kind: str  # narration | dialogue | action
    text: str
    speaker: str | None
    delivery: str  # speech | thought | shout | narration | sfx
    pos: int


@dataclass
class SceneDraft:
    """A run of the story that happens in one place and time."""

    start: int
    end: int
    beats: list[Beat] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    place: str = ""
    time_of_day: str = "day"
    weather: str = "clear"
    indoor: bool = False
    emotion: str = "calm"
    intensity: float = 0.3
    final_marker: bool = False
    climax: bool = False
    act: str = ""


@dataclass
class StoryAnalysis:
    """Everything the offline provider knows about a story."""

    text: str
    language: str
    digest: str
    quotes: list[Quote]
    figures: list[Figure]
    scenes: list[SceneDraft]
    keywords: list[str]
    places: list[str]
    speaking: Counter


def analyse(text: str, language: str | None = None, max_scenes: int = 24) -> StoryAnalysis:
    """Analyse `text`; the same arguments always give the same (shared, read-only) result."""
    clean = normalise(text)
    lang = language if language in ("ja", "en") else detect_language(clean)
    return _analyse(clean, lang, max(1, int(max_scenes)))


@lru_cache(maxsize=8)
def _analyse(text: str, language: str, max_scenes: int) -> StoryAnalysis:
    quotes = extract_quotes(text)
    masked = _mask(text, quotes, language)
    figures = find_figures(masked, language, text)
    stranger = None
    if not figures and quotes:
        # someone speaks but is never named: an unnamed figure keeps a consistent look
        stranger = Figure(name="見知らぬ人" if language == "ja" else "the stranger", aliases=[], named=False)
        stranger.aliases = [stranger.name]
        figures = [stranger]
    mentions = _mention_index(masked, figures, language)
    spans = _scene_spans(text, quotes, language, max_scenes)
    scenes = [SceneDraft(start, end) for start, end in spans]
    _attribute_and_beat(text, quotes, figures, mentions, scenes, language)
    if stranger is not None:
        for scene in scenes:
            if any(b.kind == "dialogue" for b in scene.beats):
                scene.figures.append(stranger.key)
    _settings(text, scenes, language)
    _emotions(text, scenes, language)
    _acts(scenes, language)
    speaking = Counter(b.speaker for s in scenes for b in s.beats if b.kind == "dialogue" and b.speaker)
    _traits(text, figures, language)
    return StoryAnalysis(text=text, language=language, digest=hashlib.sha256(text.encode()).hexdigest(),
                         quotes=quotes, figures=figures, scenes=scenes, keywords=_keywords(masked, language, figures),
                         places=[s.place for s in scenes], speaking=speaking)


def _mask(text: str, quotes: list[Quote], language: str) -> str:
    blank = "　" if language == "ja" else " "
    parts, cursor = [], 0
    for q in quotes:
        parts += [text[cursor : q.start], blank * (q.end - q.start)]
        cursor = q.end
    parts.append(text[cursor:])
    return "".join(parts)


def _mention_index(masked: str, figures: list[Figure], language: str) -> list[tuple[int, str]]:
    index = [(pos, f.key) for f in figures for pos in mention_positions(masked, f, language)]
    return sorted(index)


# ---------------------------------------------------------------- scenes

def _starts_with_shift(unit: str, language: str) -> bool:
    if unit.lstrip().startswith(("「", "\"", "“", "『", "（")):
        return False  # a line of dialogue is never a time shift, whatever its first word
    head = unit.lstrip()[:14]
    if language == "ja":
        return any(m in head[:8] for m in lx.TIME_SHIFT_JA)
    lowered = head.lower() + unit.lstrip()[14:30].lower()
    return any(lowered.startswith(m) for m in lx.TIME_SHIFT_EN)


def _scene_spans(text: str, quotes: list[Quote], language: str, max_scenes: int) -> list[tuple[int, int]]:
    units: list[tuple[int, int]] = []
    for para in split_units(text, quotes):
        lines = split_lines(text, para, quotes)
        current = lines[0]
        for line in lines[1:]:
            if _starts_with_shift(text[line[0] : line[1]], language):
                units.append(current)
                current = line
            else:
                current = (current[0], line[1])
        units.append(current)
    if not units:
        return [(0, len(text))]
    # a paragraph that is only a short exchange continues the scene before it
    merged: list[tuple[int, int]] = [units[0]]
    for unit in units[1:]:
        prose = _prose_length(text, unit, quotes)
        if prose < (12 if language == "ja" else 30) and not _starts_with_shift(text[unit[0] : unit[1]], language):
            merged[-1] = (merged[-1][0], unit[1])
        else:
            merged.append(unit)
    size = max(len(text) // max_scenes, 300 if language == "ja" else 700)
    pieces = [p for u in merged for p in split_long(text, u, quotes, size)]
    return _merge_to(text, pieces, language, max_scenes)


def _prose_length(text: str, span: tuple[int, int], quotes: list[Quote]) -> int:
    """Characters of prose in a span, not counting quoted lines or their attributions."""
    body = text[span[0] : span[1]]
    inner = sum(q.end - q.start for q in quotes if span[0] <= q.start < span[1])
    # "と春香は聞いた" / "said Moss" are part of the exchange, not prose of their own
    attributions = len(re.findall(r"[」\"”]\s*と|\bsaid\b|\basked\b|\breplied\b", body))
    return len(body) - inner - attributions * (8 if detect_language(body) == "ja" else 12)


def _merge_to(text: str, pieces: list[tuple[int, int]], language: str, limit: int) -> list[tuple[int, int]]:
    """Merge neighbouring pieces at their weakest boundaries until at most `limit` remain."""
    strength = [3 if _starts_with_shift(text[p[0] : p[1]], language) else 1 for p in pieces]
    while len(pieces) > limit:
        best, best_cost = 1, None
        for i in range(1, len(pieces)):
            cost = (strength[i], (pieces[i][1] - pieces[i - 1][0]))
            if best_cost is None or cost < best_cost:
                best, best_cost = i, cost
        pieces[best - 1] = (pieces[best - 1][0], pieces[best][1])
        del pieces[best]
        del strength[best]
    return pieces


# ---------------------------------------------------------------- beats and speakers

_ATTRIB_JA = re.compile(r"^\s*と[、\s]*([^。「」\n]{0,24}?)(?:た|だ|る|ます|ました)[。、]?")
_VERBS_EN = "|".join(lx.SPEECH_VERBS_EN)
_ATTRIB_EN_AFTER = re.compile(
    r"^\s*,?\s*(?:(?:" + _VERBS_EN + r")\s+((?:the\s+)?[A-Z][\w’']*(?:\s+[A-Z][\w’']*)*|he|she|they|I|it)"
    r"|((?:the\s+)?[A-Z][\w’']*(?:\s+[A-Z][\w’']*)*|he|she|they|I|it|He|She|They)\s+(?:" + _VERBS_EN +
    r"))(?:\s+\w+ly)?\s*[.,;:!?]?")
_ATTRIB_EN_BEFORE = re.compile(
    r"((?:the\s+)?[A-Z][\w’']*(?:\s+[A-Z][\w’']*)*|he|she|they|He|She|They)\s+(?:" + _VERBS_EN +
    r")(?:\s+\w+ly)?\s*[,:]?\s*$")


def _attribute_and_beat(text: str, quotes: list[Quote], figures: list[Figure],
                        mentions: list[tuple[int, str]], scenes: list[SceneDraft], language: str) -> None:
    by_alias = sorted(((a, f.key) for f in figures for a in f.aliases), key=lambda x: (-len(x[0]), x[0]))
    gender = {f.key: f.gender for f in figures}
    kinds = {f.key: f.kind for f in figures}
    for scene in scenes:
        inside = [q for q in quotes if scene.start <= q.start < scene.end]
        cursor = scene.start
        history: list[str | None] = []
        attributed_after = False
        for qi, q in enumerate(inside):
            nxt = inside[qi + 1].start if qi + 1 < len(inside) else scene.end
            before, after = text[cursor : q.start], text[q.end : nxt]
            speaker, attribution = _speaker(before, after, q, by_alias, gender, mentions, language)
            if speaker is None and attributed_after and not before.strip() and "\n" not in before and history:
                speaker = history[-1]  # '"…," said Moss. "…"': the speaker carries on
            attributed_after = bool(attribution)
            if speaker is None:
                speaker = _alternate(history, scene, mentions, kinds)
            _prose_beats(scene, before, cursor, by_alias, language, trailing=True)
            scene.beats.append(Beat("dialogue", q.text, speaker, _delivery(q, attribution), q.start))
            history.append(speaker)
            cursor = q.end + len(attribution)
        _prose_beats(scene, text[cursor : scene.end], cursor, by_alias, language, trailing=False)
        if not any(b.kind != "dialogue" for b in scene.beats):
            speakers = list(dict.fromkeys(b.speaker for b in scene.beats if b.speaker))
            scene.beats.insert(0, Beat("narration", _fallback_caption(speakers, language), None, "narration",
                                       scene.start))
        present = [k for p, k in mentions if scene.start <= p < scene.end]
        present += [b.speaker for b in scene.beats if b.speaker]
        scene.figures = list(dict.fromkeys(present))


def _alias_in(fragment: str, by_alias: list[tuple[str, str]], last: bool = False) -> str | None:
    hits = [(m.start(), key) for alias, key in by_alias for m in re.finditer(re.escape(alias), fragment)]
    if not hits:
        return None
    return (max(hits) if last else min(hits))[1]


def _pronoun_target(word: str, pos: int, gender: dict[str, str], mentions: list[tuple[int, str]]) -> str | None:
    wanted = {"she": "female", "彼女": "female", "he": "male", "彼": "male"}.get(word.lower())
    if wanted is None:
        return None
    for mpos, key in reversed(mentions):
        if mpos >= pos:
            continue
        # a person of unknown gender can be "she"; a group ("the inspectors") only if marked so
        if gender.get(key) == wanted or (gender.get(key) == "unknown" and not key.startswith("the ")):
            return key
    return None


def _speaker(before: str, after: str, q: Quote, by_alias, gender, mentions, language) -> tuple[str | None, str]:
    """The speaker of quote `q` and the attribution text that follows it (to leave out of narration)."""
    if language == "ja":
        m = _ATTRIB_JA.match(after)
        attribution = m.group(0) if m else ""
        clause = after[: after.find("。") + 1] if after.lstrip().startswith("と") and "。" in after else attribution
        who = _alias_in(clause, by_alias)
        if who is None:
            for pronoun in ("彼女", "彼"):
                if pronoun in clause:
                    who = _pronoun_target(pronoun, q.start, gender, mentions)
                    break
        if who is None:  # 蒼太は「…」と言った: the subject of the sentence the quote sits in
            sentence = re.split(r"[。\n]", before)[-1]
            who = _subject(sentence, by_alias)
        if who is None:  # 春香は和紙を手に取った。「…」: the subject of the sentence before
            sentences_before = [s for s in re.split(r"[。\n]", before) if s.strip()]
            if sentences_before:
                who = _subject(sentences_before[-1], by_alias)
        return who, attribution if len(attribution) <= 24 else ""
    m = _ATTRIB_EN_AFTER.match(after)
    if m:
        name = m.group(1) or m.group(2)
        who = _alias_in(name, by_alias) or _pronoun_target(name, q.start, gender, mentions)
        return who, m.group(0)
    b = _ATTRIB_EN_BEFORE.search(before[-60:])
    if b:
        return _alias_in(b.group(1), by_alias) or _pronoun_target(b.group(1), q.start, gender, mentions), ""
    # "…," said Moss. "Someone has…": the same speaker carries on after a short attribution
    cont = _ATTRIB_EN_AFTER.match(before) if len(before) < 40 else None
    if cont:
        name = cont.group(1) or cont.group(2)
        return _alias_in(name, by_alias) or _pronoun_target(name, q.start, gender, mentions), ""
    return None, ""


def _subject(sentence: str, by_alias) -> str | None:
    hits = [(m.start(), key) for alias, key in by_alias
            for m in re.finditer(re.escape(alias) + r"(?:さん|くん|ちゃん)?[はが]", sentence)]
    return min(hits)[1] if hits else None


def _alternate(history: list[str | None], scene: SceneDraft, mentions, kinds) -> str | None:
    """Two people trading lines: an unattributed line belongs to whoever did not speak last."""
    known = [h for h in history if h]
    if len(set(known[-2:])) == 2 and history and history[-1]:
        a, b = known[-2], known[-1]
        return a if history[-1] == b else None
    if history and history[-1]:
        present = [k for p, k in mentions if scene.start <= p < scene.end and kinds.get(k) != "group"]
        others = sorted(set(present) - {history[-1]})
        return others[0] if len(others) == 1 else None
    return None


def _delivery(q: Quote, attribution: str) -> str:
    if q.mark == "（" or any(v in attribution for v in lx.THOUGHT_VERBS):
        return "thought"
    if any(v in attribution for v in lx.SHOUT_VERBS) or q.text.count("！") + q.text.count("!") >= 2:
        return "shout"
    if _is_sfx(q.text):
        return "sfx"
    return "speech"


_SFX_JA = re.compile(r"([\u30a1-\u30faー]{1,4})\1[！!]*")


def _is_sfx(text: str) -> bool:
    core = text.strip("！!？?…ー〜 ")
    return bool(core) and (bool(_SFX_JA.fullmatch(core)) or core.lower().strip(".") in lx.SFX_EN)


def _prose_beats(scene: SceneDraft, prose: str, offset: int, by_alias, language: str, trailing: bool) -> None:
    if language == "ja" and trailing:
        # "蒼太は「…」と言った": the bare subject before a quote is attribution, not narration
        prose = re.sub(r"[^。\n]{0,10}[はが]\s*$", "", prose)
    if language == "en":
        prose = _ATTRIB_EN_BEFORE.sub("", prose) if trailing else prose
    found = sentences(prose, language)
    if len(found) > 4:  # keep the run's shape (first, middle, last) so narration stays panel-sized
        n = len(found)
        found = [found[i] for i in sorted({0, n // 3, (2 * n) // 3, n - 1})]
    for sentence in found:
        sentence = sentence.strip().rstrip("、,")
        kind = "action" if _alias_in(sentence, by_alias) else "narration"
        pos = offset + max(prose.find(sentence[:8]), 0)
        for sfx in _sfx_in(sentence, language):
            scene.beats.append(Beat("action", sfx, None, "sfx", pos))
        scene.beats.append(Beat(kind, shorten(sentence, language), None, "narration", pos))


def _sfx_in(sentence: str, language: str) -> list[str]:
    if language == "ja":
        return [m.group(0) for m in _SFX_JA.finditer(sentence) if len(m.group(0)) >= 4][:1]
    words = re.findall(r"\b([A-Za-z]+)!", sentence) + re.findall(r"\b([A-Z]{3,})\b", sentence)
    return [w.upper() + "!" for w in words if w.lower() in lx.SFX_EN][:1]


def _fallback_caption(speakers: list[str], language: str) -> str:
    """A scene told only in dialogue still opens with a caption that says who is talking."""
    if language == "ja":
        return ("と".join(speakers[:3]) + "の会話。") if speakers else "どこからか声が聞こえる。"
    if not speakers:
        return "Voices carry through the quiet."
    names = speakers[0] if len(speakers) == 1 else ", ".join(speakers[:-1]) + " and " + speakers[-1]
    return f"{names[0].upper() + names[1:]} talk{'s' if len(speakers) == 1 else ''}."


# ---------------------------------------------------------------- settings and emotions

def _settings(text: str, scenes: list[SceneDraft], language: str) -> None:
    places = lx.PLACES_JA if language == "ja" else lx.PLACES_EN
    times = lx.TIME_JA if language == "ja" else lx.TIME_EN
    weathers = lx.WEATHER_JA if language == "ja" else lx.WEATHER_EN
    place, indoor, time_of_day = "", False, "day"
    for scene in scenes:
        body = text[scene.start : scene.end]
        probe = body if language == "ja" else body.lower()
        found = _first_place(probe, places, language)
        if found:
            place, indoor = found, places[found]
        scene.place = place or ("町" if language == "ja" else "town")
        scene.indoor = indoor
        hits = [(probe.find(w), tod) for w, tod in times if _word_in(probe, w, language)]
        if hits:
            time_of_day = min(hits)[1]
        elif _starts_with_shift(body, language):
            time_of_day = "day"  # "One day" / ある日: a new day with no hour named
        scene.time_of_day = time_of_day
        scene.weather = next((wt for w, wt in weathers if _word_in(probe, w, language)), "clear")
        if scene.weather == "storm" and language == "ja" and "店" in probe:
            scene.place, scene.indoor = "店", True
        scene.final_marker = any(m in probe[:40].lower() for m in lx.FINAL_MARKERS)


def _word_in(probe: str, word: str, language: str) -> bool:
    if language == "ja":
        return word in probe
    return re.search(r"\b" + re.escape(word) + r"s?\b", probe) is not None


def _first_place(probe: str, places: dict[str, bool], language: str) -> str:
    # the earliest specific place wins; a city or the sea only when nothing more specific is named
    best: tuple[int, int, int, str] | None = None
    for word in places:
        if language == "ja":
            pos = probe.find(word)
        else:
            m = re.search(r"\b" + re.escape(word) + r"s?\b", probe)
            pos = m.start() if m else -1
        if pos >= 0 and language == "ja" and any(o != word and word in o and probe.find(o) == pos - o.find(word)
                                                  for o in places):
            pos = -1  # 港 inside 港町 is the town, not the harbour
        if pos >= 0:
            rank = (1 if word in lx.GENERAL_PLACES else 0, pos, -len(word), word)
            best = rank if best is None or rank < best else best
    if best and language == "en":
        # "the lighthouse kitchen": the last noun of a compound is where we are
        tail = probe[best[1] + len(best[3]) :]
        head = next((w for w in places if re.match(r"s?\s+" + re.escape(w) + r"s?\b", tail)), None)
        if head:
            return head
    return best[3] if best else ""


def _emotions(text: str, scenes: list[SceneDraft], language: str) -> None:
    lexicon = lx.EMOTION_WORDS_JA if language == "ja" else lx.EMOTION_WORDS_EN
    order = ["tension", "sad", "warm", "joy", "mystery"]
    for scene in scenes:
        body = text[scene.start : scene.end]
        probe = body if language == "ja" else body.lower()
        hits = {e: sum(probe.count(w) for w in words) for e, words in lexicon.items()}
        best = max(order, key=lambda e: (hits[e], -order.index(e)))
        scene.emotion = best if hits[best] else "calm"
        base = {"calm": 0.25, "warm": 0.4, "joy": 0.45, "mystery": 0.5, "sad": 0.55, "tension": 0.65}[scene.emotion]
        exclaim = body.count("！") + body.count("!")
        scene.intensity = round(min(1.0, base + 0.05 * min(hits[best], 5) + 0.03 * min(exclaim, 5)), 3)
    n = len(scenes)
    if n == 1:
        scenes[0].climax = True
        return
    def climax_score(i: int) -> float:
        position = i / (n - 1)
        return scenes[i].intensity + (0.4 if scenes[i].final_marker else 0) + 0.2 * (1 - abs(position - 0.75) * 2)
    candidates = range(n // 2, n) if n > 2 else range(n)
    peak = max(candidates, key=lambda i: (round(climax_score(i), 6), i))
    scenes[peak].climax = True
    scenes[peak].emotion = "climax"
    scenes[peak].intensity = 1.0


def _acts(scenes: list[SceneDraft], language: str) -> None:
    n = len(scenes)
    peak = next(i for i, s in enumerate(scenes) if s.climax)
    opening = max(1, round(n * 0.25)) if n > 2 else (1 if n == 2 and peak != 0 else 0)
    for i, scene in enumerate(scenes):
        if language == "ja":
            if i == peak or (i == peak - 1 and scene.intensity >= 0.7 and i >= opening):
                scene.act = "ten"
            elif i > peak:
                scene.act = "ketsu"
            elif i < opening:
                scene.act = "ki"
            else:
                scene.act = "sho"
        else:
            scene.act = "resolution" if i > peak else ("setup" if i < opening and i != peak else "confrontation")


def _traits(text: str, figures: list[Figure], language: str) -> None:
    """Traits come from sentences whose first-named person is the character (its subject, mostly)."""
    table = lx.TRAITS_JA if language == "ja" else lx.TRAITS_EN
    by_alias = sorted(((a, f.key) for f in figures for a in f.aliases), key=lambda x: (-len(x[0]), x[0]))
    found: dict[str, list[str]] = {f.key: [] for f in figures}
    for sentence in re.split(r"(?<=[。.!?！？])\s*", text[:60000]):
        owner = _alias_in(sentence, by_alias)
        if owner is None or len(found[owner]) >= 3:
            continue
        for word, trait in table:
            if word in sentence and trait not in found[owner]:
                found[owner].append(trait)
    for fig in figures:
        fig.traits = found[fig.key][:3]


def _keywords(masked: str, language: str, figures: list[Figure]) -> list[str]:
    names = {a.lower() for f in figures for a in f.aliases} | {a.lower().removeprefix("the ") for f in figures
                                                               for a in f.aliases}
    if language == "ja":
        from .japanese import tokenize

        nouns = [t.surface for t in tokenize(masked)
                 if t.pos.startswith(("名詞,一般", "名詞,固有名詞,地域", "名詞,サ変接続"))]
        words = [w for w in nouns if len(w) >= 2] or nouns  # a one-line story may only have 猫 and 塀
    else:
        stop = lx.NOT_NAMES_EN | {"there", "were", "would", "could", "which", "about", "into", "from", "with",
                                  "have", "had", "been", "them", "then", "than", "what", "were", "every", "only",
                                  "other", "still", "long", "time", "left", "back", "next", "year", "each", "away", "under",
                                  "over", "instead", "things", "will", "onto", "down", "something", "anything"}
        words = [w for w in re.findall(r"[a-z]{4,}", masked.lower())
                 if w not in stop and not w.endswith(("ed", "ing", "ly"))]
    words = [w for w in words if w.lower() not in names]
    counts = Counter(words)
    first = {}
    for i, w in enumerate(words):
        first.setdefault(w, i)
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:8]
