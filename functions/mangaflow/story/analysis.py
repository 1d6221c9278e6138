"""Story analysis: scenes (time shifts and moves to a new place), beats (every sentence of the prose and
every quoted line, in order, each with the span of story it renders), speakers, delivery, settings and
emotions. Pure and deterministic; cached per text.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from . import lexicon as lx
from .people import Figure, absent_spans, figure_pattern, find_figures, mention_positions
from .places import PlaceIndex
from .speakers import Matchers, Reader, alias_in, matchers
from .text import (Quote, caption_spans, detect_language, extract_quotes, in_spans, normalise, sentence_spans,
                   split_lines, split_long, split_units)

Span = tuple[int, int]


@dataclass
class Beat:
    """One storytelling unit: a quoted line (`dialogue`) or a sentence of prose."""

    kind: str  # narration | dialogue | action
    text: str
    speaker: str | None
    delivery: str  # speech | thought | shout | narration | sfx
    pos: int  # where in the story the beat's text starts
    end: int = -1  # and ends (exclusive); pos == end for a beat the story does not say in words


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
    attributions: list[Span] = field(default_factory=list)  # words left out: the bubble says who speaks


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
    absent = absent_spans(masked, language)
    on_stage = [(p, k) for p, k in mentions if not in_spans(absent, p)]
    # 山 in 山田, Park in "Mr. Park": a person's name is not a place
    names = [(m.start(), m.end()) for f in figures if f.named
             for m in figure_pattern(tuple(f.aliases), language).finditer(text)]
    where = PlaceIndex(text, language, names, [(q.start, q.end) for q in quotes])
    spans = _scene_spans(text, quotes, language, max_scenes, where, absent)
    scenes = [SceneDraft(start, end) for start, end in spans]
    attributions = _attribute_and_beat(text, quotes, figures, mentions, on_stage, scenes, language)
    if stranger is not None:
        for scene in scenes:
            if any(b.kind == "dialogue" for b in scene.beats):
                scene.figures.append(stranger.key)
    _settings(text, scenes, language, where, absent)
    _emotions(text, scenes, language)
    _acts(scenes, language)
    speaking = Counter(b.speaker for s in scenes for b in s.beats if b.kind == "dialogue" and b.speaker)
    _traits(text, figures, language)
    return StoryAnalysis(text=text, language=language, digest=hashlib.sha256(text.encode()).hexdigest(),
                         quotes=quotes, figures=figures, scenes=scenes,
                         # a story told only in dialogue has its words there
                         keywords=_keywords(masked, language, figures) or _keywords(text, language, figures),
                         places=[s.place for s in scenes], speaking=speaking, attributions=attributions)


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


def _scene_spans(text: str, quotes: list[Quote], language: str, max_scenes: int, where: PlaceIndex,
                 absent: list[Span]) -> list[Span]:
    units: list[Span] = []
    for para in split_units(text, quotes):
        lines = split_lines(text, para, quotes)
        current = lines[0]
        for line in lines[1:]:
            body = text[line[0] : line[1]]
            if _starts_with_shift(body, language) or _moves_elsewhere(where, current, line, absent):
                units.append(current)
                current = line
            else:
                current = (current[0], line[1])
        units.append(current)
    if not units:
        return [(0, len(text))]
    # a paragraph that is only a short exchange continues the scene before it
    merged: list[Span] = [units[0]]
    for unit in units[1:]:
        prose = _prose_length(text, unit, quotes)
        if prose < (12 if language == "ja" else 30) and not _starts_with_shift(text[unit[0] : unit[1]], language):
            merged[-1] = (merged[-1][0], unit[1])
        else:
            merged.append(unit)
    size = max(len(text) // max_scenes, 300 if language == "ja" else 700)
    pieces = [p for u in merged for p in split_long(text, u, quotes, size)]
    return _merge_to(text, pieces, language, max_scenes, where, absent)


def _prose_length(text: str, span: Span, quotes: list[Quote]) -> int:
    """Characters of prose in a span, not counting quoted lines or their attributions."""
    body = text[span[0] : span[1]]
    inner = sum(q.end - q.start for q in quotes if span[0] <= q.start < span[1])
    # "と春香は聞いた" / "said Moss" are part of the exchange, not prose of their own
    attributions = len(re.findall(r"[」\"”]\s*と|\bsaid\b|\basked\b|\breplied\b", body))
    return len(body) - inner - attributions * (8 if detect_language(body) == "ja" else 12)


def _moves_elsewhere(where: PlaceIndex, current: Span, line: Span, absent: list[Span]) -> bool:
    """True when `line` takes the story somewhere other than where the current unit is."""
    destination = where.destination(line[0], line[1], absent)
    if not destination:
        return False
    here = where.place_of(current[0], current[1], absent)
    return here is not None and here.word != destination


def _merge_to(text: str, pieces: list[Span], language: str, limit: int, where: PlaceIndex,
              absent: list[Span]) -> list[Span]:
    """Merge neighbouring pieces at their weakest boundaries until at most `limit` remain."""
    def strength(piece: Span) -> int:
        if _starts_with_shift(text[piece[0] : piece[1]], language):
            return 3
        first_line = text.find("\n", piece[0], piece[1])
        return 2 if where.destination(piece[0], first_line if first_line != -1 else piece[1], absent) else 1

    strengths = [strength(p) for p in pieces]
    while len(pieces) > limit:
        best, best_cost = 1, None
        for i in range(1, len(pieces)):
            cost = (strengths[i], (pieces[i][1] - pieces[i - 1][0]))
            if best_cost is None or cost < best_cost:
                best, best_cost = i, cost
        pieces[best - 1] = (pieces[best - 1][0], pieces[best][1])
        del pieces[best]
        del strengths[best]
    return pieces


# ---------------------------------------------------------------- beats and speakers

def _attribute_and_beat(text: str, quotes: list[Quote], figures: list[Figure], mentions: list[tuple[int, str]],
                        on_stage: list[tuple[int, str]], scenes: list[SceneDraft], language: str) -> list[Span]:
    """Beats of every scene, each with the span of story it renders; returns the attribution spans
    left out because the bubble says who speaks."""
    reader = Reader(text, figures, mentions, language)
    kinds = {f.key: f.kind for f in figures}
    persons = [f.key for f in figures if f.kind != "group" and f.mentions > 0]  # not the fallback stranger
    attributions: list[Span] = []
    for scene in scenes:
        inside = [q for q in quotes if scene.start <= q.start < scene.end]
        cursor = scene.start
        history: list[str | None] = []
        addressed: str | None = None  # whom the line before called by name: they answer next
        carried = False
        lead = ""
        for qi, q in enumerate(inside):
            nxt = inside[qi + 1].start if qi + 1 < len(inside) else scene.end
            cue = reader.cue(q, cursor, nxt)
            before, after = text[cursor : q.start], text[q.end : nxt]
            called = reader.addressee(q.text)
            speaker = cue.speaker
            if speaker is None and carried and "\n" not in before and history and \
                    alias_in(before, reader.by_alias) in (None, history[-1]):
                speaker = history[-1]  # '"…," said Moss. "…"' / '"…," he said as he jogged past. "…"': carries on
            if speaker is None:
                speaker = reader.said_so(after, q.start)
            if speaker is None:
                subject = reader.subject_before(before, q.start)
                speaker = subject if subject != called else None
            if speaker is None and addressed and addressed != called and (not history or history[-1] != addressed):
                speaker = addressed  # called by name in a line, they answer
            if speaker is None:
                speaker = _alternate(history, scene, on_stage, kinds, called)
            if speaker is None and (not before.strip() or before.endswith("\n")):
                subject = reader.subject_after(after, q.start)
                speaker = subject if subject != called else None
            if speaker is None and len(persons) == 1:
                speaker = persons[0]  # a story with one person: whoever else could be talking?
            if speaker is None and called and len(persons) == 2:
                speaker = next(p for p in persons if p != called)
            _prose_beats(scene, text, cursor, cue.pre[0] if cue.pre else q.start, reader.by_alias, language, lead)
            scene.beats.append(Beat("dialogue", q.text, speaker, _delivery(q, cue.words), q.start, q.end))
            attributions += [span for span in (cue.pre, cue.post) if span]
            history.append(speaker)
            if called:
                addressed = called
            elif addressed == speaker:
                addressed = None  # the one called has answered
            carried = cue.post is not None
            cursor = cue.post[1] if cue.post else q.end
            lead = cue.lead
        _prose_beats(scene, text, cursor, scene.end, reader.by_alias, language, lead)
        _take_turns(scene, persons)
        if not any(b.kind != "dialogue" for b in scene.beats):
            speakers = list(dict.fromkeys(b.speaker for b in scene.beats if b.speaker))
            scene.beats.insert(0, Beat("narration", _fallback_caption(speakers, language), None, "narration",
                                       scene.start, scene.start))
        # on stage: named in the scene outside remembered/hearsay sentences, or speaking in it
        present = [k for p, k in on_stage if scene.start <= p < scene.end]
        present += _pronoun_presence(text, scene, reader, language)
        present += [b.speaker for b in scene.beats if b.speaker]
        scene.figures = list(dict.fromkeys(present))
    return attributions


def _take_turns(scene: SceneDraft, persons: list[str]) -> None:
    """Two people talking: a line nobody could place belongs to whoever did not say the next one."""
    lines = [b for b in scene.beats if b.kind == "dialogue"]
    known = {b.speaker for b in lines if b.speaker}
    if len(known) != 2:
        return
    for i in range(len(lines) - 2, -1, -1):
        if lines[i].speaker is None and lines[i + 1].speaker:
            lines[i].speaker = next(k for k in known if k != lines[i + 1].speaker)


_SUBJECT_PRONOUN = {"en": re.compile(r"\b(She|He|she|he)\s+[a-z]"),  # "her"/"him" are objects: only subjects
                    "ja": re.compile(r"(彼女|彼)[はが]")}


def _pronoun_presence(text: str, scene: SceneDraft, reader: Reader, language: str) -> list[str]:
    """'That evening she returned to the castle': a pronoun subject puts its person in the scene."""
    found = []
    body = text[scene.start : scene.end]
    for m in _SUBJECT_PRONOUN[language].finditer(body):
        key = reader.pronoun_target(m.group(1), scene.start + m.start(1))
        if key:
            found.append(key)
    return found


def _alternate(history: list[str | None], scene: SceneDraft, mentions, kinds, called: str | None) -> str | None:
    """People trading lines: an unattributed line belongs to whoever spoke before the last speaker;
    with no one yet, to the only person on stage the line does not address."""
    last = history[-1] if history else None
    if last:
        before = next((h for h in reversed(history) if h and h != last), None)
        if before is not None:
            return before if before != called else None
    present = [k for p, k in mentions if scene.start <= p < scene.end and kinds.get(k) != "group"]
    others = sorted(set(present) - {last, called, None})
    return others[0] if len(others) == 1 and (last or called) else None


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


def _prose_beats(scene: SceneDraft, text: str, start: int, end: int, by_alias: Matchers, language: str,
                 lead: str = "") -> None:
    """Every sentence of text[start:end] as caption beats (long ones cut at clause ends), in order."""
    first = True
    for sentence in sentence_spans(text, start, end, language):
        for a, b in caption_spans(text, sentence, language):
            piece = text[a:b]
            if not _WORDS.search(piece):
                continue  # a stray comma or full stop left between a line and its attribution
            shown = piece
            if language == "en":
                shown = shown.lstrip(",;: ")
                if first and lead:
                    shown = lead + " " + shown
                if shown[:1].islower():  # the clause after an attribution opens a sentence of its own
                    shown = shown[0].upper() + shown[1:]
                if not text[b:end].strip() and not shown.endswith((".", "!", "?", "…", '"', "”", "'", "’", ":", ";", ",")):
                    shown += "."  # 'Mara stopped and asked, "…"': the caption ends where the asking begins
            first = False
            kind = "action" if alias_in(shown, by_alias) else "narration"
            for sfx in _sfx_in(shown, language):
                scene.beats.append(Beat("action", sfx, None, "sfx", a, a))
            scene.beats.append(Beat(kind, shown, None, "narration", a, b))


_WORDS = re.compile(r"[^\W_]")


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

def _settings(text: str, scenes: list[SceneDraft], language: str, where: PlaceIndex, absent: list[Span]) -> None:
    times = lx.TIME_JA if language == "ja" else lx.TIME_EN
    weathers = lx.WEATHER_JA if language == "ja" else lx.WEATHER_EN
    hints = lx.INDOOR_HINTS_JA if language == "ja" else lx.INDOOR_HINTS_EN
    place, indoor, time_of_day = "", False, "day"
    last_room, weather = "", "clear"
    unplaced: list[SceneDraft] = []  # the opening scenes before any place is named
    for scene in scenes:
        body = text[scene.start : scene.end]
        probe = body if language == "ja" else body.lower()
        # a remembered or reported sentence ("同じ学校に通っていたらしい") is not where the scene is,
        # unless the whole scene is the memory (十年前の夏、私は毎朝浜辺へ走った。)
        flashback = in_spans(absent, _first_word(text, scene.start))
        found = where.place_of(scene.start, scene.end, None if flashback else absent)
        if found is not None:
            place, indoor = found.word, found.indoor
        elif last_room and any(_word_in(probe, w, language) for w in hints):
            place, indoor = last_room, True  # the table, the window seat: back in the last room seen
        if indoor and place:
            last_room = place
        if not place:
            unplaced.append(scene)
        elif unplaced:
            for opening in unplaced:  # "Thomas Reed was the tallest boy…": the story starts where it goes on
                opening.place, opening.indoor = place, indoor
            unplaced = []
        scene.place = place or ("町" if language == "ja" else "town")
        scene.indoor = indoor
        hits = [(probe.find(w), tod) for w, tod in times if _word_in(probe, w, language)]
        if hits:
            time_of_day = min(hits)[1]
        elif _starts_with_shift(body, language):
            time_of_day = "day"  # "One day" / ある日: a new day with no hour named
        scene.time_of_day = time_of_day
        named = next(((w, wt) for w, wt in weathers if _word_in(probe, w, language)), None)
        if named:
            # 雪がやむと / the rain stopped: the weather named is ending
            stops = re.search(re.escape(named[0]) + (r"[がは]?(?:や[むみん]|止[むみん]|上が)" if language == "ja"
                                                     else r"\w*\s+(?:stopped|cleared|eased|ended)"), probe)
            weather = "clear" if stops else named[1]
        elif _starts_with_shift(body, language):
            weather = "clear"  # a new day brings its own weather; an unbroken scene keeps the last
        scene.weather = weather
        scene.final_marker = any(m in probe[:40].lower() for m in lx.FINAL_MARKERS)


def _first_word(text: str, start: int) -> int:
    while start < len(text) and not text[start].isalnum():
        start += 1
    return start


def _word_in(probe: str, word: str, language: str) -> bool:
    if language == "ja":
        return word in probe
    return re.search(r"\b" + re.escape(word) + r"s?\b", probe) is not None


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
    candidates = range(n // 2, n)  # the turn comes in the second half (with two scenes, the second)
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
    by_alias = matchers(figures, language)
    found: dict[str, list[str]] = {f.key: [] for f in figures}
    for sentence in re.split(r"(?<=[。.!?！？])\s*", text[:60000]):
        owner = alias_in(sentence, by_alias)
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
