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
from .people import Figure, absent_spans, figure_pattern, find_figures, mention_positions
from .text import in_spans
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
    absent = absent_spans(masked, language)
    on_stage = [(p, k) for p, k in mentions if not in_spans(absent, p)]
    spans = _scene_spans(text, quotes, language, max_scenes)
    scenes = [SceneDraft(start, end) for start, end in spans]
    _attribute_and_beat(text, quotes, figures, mentions, on_stage, scenes, language)
    if stranger is not None:
        for scene in scenes:
            if any(b.kind == "dialogue" for b in scene.beats):
                scene.figures.append(stranger.key)
    _settings(text, scenes, language, figures)
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
            body = text[line[0] : line[1]]
            if _starts_with_shift(body, language) or _moves_elsewhere(text[current[0] : current[1]], body, language):
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


def _moves_to(line: str, language: str) -> str:
    """The place a line takes someone to ("老人は駅前の古い喫茶店に入り", "she walked into the forest"),
    or "" when nobody goes anywhere new. Remembered or reported sentences move nobody."""
    places = lx.PLACES_JA if language == "ja" else lx.PLACES_EN
    pattern = r"[^。！？\n]*[。！？]?" if language == "ja" else r"[^.!?\n]*[.!?]?"
    for m in re.finditer(pattern, line):
        sentence = m.group(0) if language == "ja" else m.group(0).lower()
        markers = lx.ABSENT_JA if language == "ja" else lx.ABSENT_EN
        if not sentence.strip() or any(w in sentence for w in markers):
            continue
        if language == "ja":
            verb = min((sentence.find(v) for v in lx.MOVE_JA if v in sentence), default=-1)
            place = _first_place(sentence[:verb], places, language) if verb > 0 else ""
        else:
            verb_match = re.search(r"\b(?:" + "|".join(lx.MOVE_EN) + r")\b", sentence)
            place = _first_place(sentence[verb_match.end():], places, language) if verb_match else ""
        if place and place not in lx.GENERAL_PLACES:
            return place
    return ""


def _moves_elsewhere(current: str, line: str, language: str) -> bool:
    """True when `line` takes the story somewhere other than where the current unit is."""
    destination = _moves_to(line, language)
    if not destination:
        return False
    places = lx.PLACES_JA if language == "ja" else lx.PLACES_EN
    here = _first_place(current if language == "ja" else current.lower(), places, language)
    return bool(here) and here != destination


def _merge_to(text: str, pieces: list[tuple[int, int]], language: str, limit: int) -> list[tuple[int, int]]:
    """Merge neighbouring pieces at their weakest boundaries until at most `limit` remain."""
    strength = [3 if _starts_with_shift(text[p[0] : p[1]], language)
                else 2 if _moves_to(text[p[0] : p[1]].split("\n", 1)[0], language) else 1 for p in pieces]
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

_ATTRIB_JA = re.compile(r"^\s*と[、\s]*([^。「」\n]{0,24}?)(?:た|だ|る|ます|ました)(?=[。、\s]|$)[。、]?")
_VERBS_EN = "|".join(lx.SPEECH_VERBS_EN)
# who speaks: a name ("Moss", "the Chief Inspector"), a described person ("the old woman") or a pronoun
_WHO_EN = (r"(?:(?:the|The|a|A|an|An|his|His|her|Her|my|My|their|Their|our|Our)\s+[a-z][\w’'-]*(?:\s+[a-z][\w’'-]*){0,2}"
           r"|(?:the\s+)?[A-Z][\w’']*(?:\s+[A-Z][\w’']*)*|he|she|they|I|it|He|She|They|It)")
_ATTRIB_EN_AFTER = re.compile(
    r"^[ \t]*,?[ \t]*(?:(?:" + _VERBS_EN + r")\s+(" + _WHO_EN + r")|(" + _WHO_EN + r")\s+(?:" + _VERBS_EN +
    r"))(?:\s+\w+ly)?\s*[.,;:!?]?")
_ATTRIB_EN_BEFORE = re.compile(
    r"(" + _WHO_EN + r")\s+(?:((?:[a-z]+\s+){1,4}?)and\s+)?(?:" + _VERBS_EN + r")(?:\s+\w+ly)?\s*[,:]?\s*$")
_PRONOUNS = {"she": "female", "彼女": "female", "he": "male", "彼": "male", "they": "group"}


def _attribute_and_beat(text: str, quotes: list[Quote], figures: list[Figure], mentions: list[tuple[int, str]],
                        on_stage: list[tuple[int, str]], scenes: list[SceneDraft], language: str) -> None:
    by_alias = matchers(figures, language)
    people = {f.key: f for f in figures}
    kinds = {f.key: f.kind for f in figures}
    persons = [f.key for f in figures if f.kind != "group" and f.mentions > 0]  # not the fallback stranger
    for scene in scenes:
        inside = [q for q in quotes if scene.start <= q.start < scene.end]
        cursor = scene.start
        history: list[str | None] = []
        attributed_after = False
        lead = ""
        for qi, q in enumerate(inside):
            nxt = inside[qi + 1].start if qi + 1 < len(inside) else scene.end
            before, after = text[cursor : q.start], text[q.end : nxt]
            speaker, attribution, next_lead = _speaker(before, after, q, by_alias, people, mentions, language)
            if speaker is None and attributed_after and not before.strip() and "\n" not in before and history:
                speaker = history[-1]  # '"…," said Moss. "…"': the speaker carries on
            attributed_after = bool(attribution)
            if speaker is None:
                speaker = _alternate(history, scene, on_stage, kinds)
            if speaker is None and len(persons) == 1:
                speaker = persons[0]  # a story with one person: whoever else could be talking?
            _prose_beats(scene, before, cursor, by_alias, language, trailing=True, lead=lead)
            scene.beats.append(Beat("dialogue", q.text, speaker, _delivery(q, attribution), q.start))
            history.append(speaker)
            cursor = q.end + len(attribution)
            lead = next_lead
        _prose_beats(scene, text[cursor : scene.end], cursor, by_alias, language, trailing=False, lead=lead)
        if not any(b.kind != "dialogue" for b in scene.beats):
            speakers = list(dict.fromkeys(b.speaker for b in scene.beats if b.speaker))
            scene.beats.insert(0, Beat("narration", _fallback_caption(speakers, language), None, "narration",
                                       scene.start))
        # on stage: named in the scene outside remembered/hearsay sentences, or speaking in it
        present = [k for p, k in on_stage if scene.start <= p < scene.end]
        present += _pronoun_presence(text, scene, people, mentions, language)
        present += [b.speaker for b in scene.beats if b.speaker]
        scene.figures = list(dict.fromkeys(present))


Matchers = list[tuple[re.Pattern, str]]

_SUBJECT_PRONOUN = {"en": re.compile(r"\b(She|He|she|he)\s+[a-z]"),  # "her"/"him" are objects: only subjects
                    "ja": re.compile(r"(彼女|彼)[はが]")}


def _pronoun_presence(text: str, scene: SceneDraft, people: dict[str, Figure], mentions: list[tuple[int, str]],
                      language: str) -> list[str]:
    """'That evening she returned to the castle': a pronoun subject puts its person in the scene."""
    found = []
    body = text[scene.start : scene.end]
    for m in _SUBJECT_PRONOUN[language].finditer(body):
        key = _pronoun_target(m.group(1), scene.start + m.start(1), people, mentions)
        if key:
            found.append(key)
    return found



def matchers(figures: list[Figure], language: str) -> Matchers:
    """One whole-word pattern per figure (its aliases, and its role noun in English)."""
    return [(figure_pattern(tuple(f.aliases), language, f.role if language == "en" else None), f.key)
            for f in figures]


def _alias_in(fragment: str, by_alias: Matchers, last: bool = False) -> str | None:
    hits = [(m.start(), -len(m.group(0)), key) for pattern, key in by_alias for m in pattern.finditer(fragment)]
    if not hits:
        return None
    return (max(hits) if last else min(hits))[2]


def _pronoun_target(word: str, pos: int, people: dict[str, Figure], mentions: list[tuple[int, str]]) -> str | None:
    if word in ("I", "私", "僕", "俺"):
        return next((k for k, f in people.items() if f.narrator), None)
    wanted = _PRONOUNS.get(word.lower()) or _PRONOUNS.get(word)
    if wanted is None:
        return None
    for mpos, key in reversed(mentions):
        fig = people.get(key)
        if mpos >= pos or fig is None or fig.narrator:
            continue
        if wanted == "group":
            if fig.kind == "group":
                return key
            continue
        # a named person of unknown gender can be "she"; an unnamed one or a group only if marked so
        if fig.gender == wanted or (fig.gender == "unknown" and fig.named and fig.kind != "group"):
            return key
    return None


def _speaker(before: str, after: str, q: Quote, by_alias: Matchers, people: dict[str, Figure],
             mentions: list[tuple[int, str]], language: str) -> tuple[str | None, str, str]:
    """The speaker of quote `q`, the attribution text that follows it (to leave out of narration), and
    a subject to lead the narration that goes on after the attribution ("…," she said, and left.)."""
    if language == "ja":
        m = _ATTRIB_JA.match(after)
        attribution = m.group(0) if m else ""
        clause = after[: after.find("。") + 1] if after.lstrip().startswith("と") and "。" in after else attribution
        who = _alias_in(clause, by_alias)
        if who is None:
            for pronoun in ("彼女", "彼", "私", "僕", "俺"):
                if pronoun in clause:
                    who = _pronoun_target(pronoun, q.start, people, mentions)
                    break
        if who is None:  # 蒼太は「…」と言った: the subject of the sentence the quote sits in
            sentence = re.split(r"[。\n]", before)[-1]
            who = _subject(sentence, by_alias)
        if who is None:  # 春香は和紙を手に取った。「…」: the subject of the sentence before
            sentences_before = [s for s in re.split(r"[。\n]", before) if s.strip()]
            if sentences_before:
                who = _subject(sentences_before[-1], by_alias)
                if who is None:
                    who = _pronoun_subject_ja(sentences_before[-1], q.start, people, mentions)
        return who, attribution if len(attribution) <= 24 else "", ""
    m = _ATTRIB_EN_AFTER.match(after)
    if m:
        name = m.group(1) or m.group(2)
        who = _alias_in(name, by_alias) or _pronoun_target(name.split()[0], q.start, people, mentions)
        attribution, lead = _attribution_clause(after, m.end(), name)
        return who, attribution, lead
    b = _ATTRIB_EN_BEFORE.search(before[-80:])
    if b:
        who = _alias_in(b.group(1), by_alias) or _pronoun_target(b.group(1), q.start, people, mentions)
        if who is not None or b.group(1).lower() in _PRONOUNS or b.group(1) == "I":
            return who, "", ""
    # "…," said Moss. "Someone has…": the same speaker carries on after a short attribution
    cont = _ATTRIB_EN_AFTER.match(before) if len(before) < 40 else None
    if cont:
        name = cont.group(1) or cont.group(2)
        return _alias_in(name, by_alias) or _pronoun_target(name, q.start, people, mentions), "", ""
    # The king laughed. "You are only a child.": the subject of the sentence right before the line
    line = before.rsplit("\n", 1)[-1]
    last = [s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s.strip()]
    if last and before.strip() and not before.endswith("\n"):
        return _subject_en(last[-1], q.start, by_alias, people, mentions), "", ""
    return None, "", ""


def _attribution_clause(after: str, end: int, who: str) -> tuple[str, str]:
    """The whole attribution clause: 'she whispered to the cat.' leaves no 'to the cat.' behind.
    A clause that goes on with a new action ('…, and climbed the stairs.') keeps that action as
    narration, led by the speaker ('She climbed the stairs.')."""
    if after[:end].rstrip().endswith((".", "!", "?")):
        return after[:end], ""
    rest = after[end:]
    stop = re.search(r"[.!?]+[\"'”’)]*|\n|[\"“「]", rest)
    tail = rest[: stop.end() if stop and stop.group(0)[0] in ".!?" else (stop.start() if stop else len(rest))]
    joined = re.match(r"\s*,?\s*(?:and|then|but)\s+(?:then\s+)?", tail)
    if joined and len(tail) > 40:
        new_subject = re.match(r"(?:he|she|they|I|it|the\s|[A-Z])", tail[joined.end():])
        lead = "" if new_subject else (who if who[0].isupper() or who in ("he", "she", "they") else who)
        return after[: end + joined.end()], lead
    return after[: end + len(tail)], ""


def _subject_en(sentence: str, pos: int, by_alias: Matchers, people: dict[str, Figure],
                mentions: list[tuple[int, str]]) -> str | None:
    """Whoever opens the sentence ("Theo checked his watch.", "She smiled."), after a short adverbial."""
    m = re.match(r"\s*(?:(?:Then|Now|Still|So|But|And|Suddenly|Finally|At last|At once),?\s+)?", sentence)
    head = sentence[m.end() : m.end() + 40]
    pronoun = re.match(r"(He|She|They|I)\b", head)
    if pronoun:
        return _pronoun_target(pronoun.group(1), pos, people, mentions)
    hits = [(mm.start(), key) for pattern, key in by_alias for mm in pattern.finditer(head) if mm.start() == 0]
    return hits[0][1] if hits else None


def _subject(sentence: str, by_alias: Matchers) -> str | None:
    hits = [(m.start(), key) for pattern, key in by_alias for m in pattern.finditer(sentence)
            if re.match(r"(?:さん|くん|ちゃん|先生)?[はが]", sentence[m.end() :])]
    return min(hits)[1] if hits else None


def _pronoun_subject_ja(sentence: str, pos: int, people: dict[str, Figure], mentions) -> str | None:
    m = re.search(r"(彼女|彼|私|僕|俺)[はが]", sentence)
    return _pronoun_target(m.group(1), pos, people, mentions) if m else None


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


def _prose_beats(scene: SceneDraft, prose: str, offset: int, by_alias: Matchers, language: str, trailing: bool,
                 lead: str = "") -> None:
    if language == "ja" and trailing:
        # "蒼太は「…」と言った": the bare subject before a quote is attribution, not narration
        prose = re.sub(r"[^。\n]{0,10}[はが]\s*$", "", prose)
    if language == "en" and trailing:
        # 'Mara said, "…"' is attribution; 'Mara stopped and asked, "…"' keeps 'Mara stopped.'
        b = _ATTRIB_EN_BEFORE.search(prose)
        if b:
            prose = prose[: b.end(2)].rstrip() + "." if b.group(2) else prose[: b.start()]
    found = sentences(prose, language)
    if len(found) > 4:  # keep the run's shape (first, middle, last) so narration stays panel-sized
        n = len(found)
        found = [found[i] for i in sorted({0, n // 3, (2 * n) // 3, n - 1})]
    for index, sentence in enumerate(found):
        sentence = sentence.strip().rstrip("、,")
        if language == "en":
            if index == 0 and lead and prose.lstrip().startswith(sentence[:8]):
                sentence = lead + " " + sentence
            if sentence[:1].islower():  # the clause after an attribution opens a sentence of its own
                sentence = sentence[0].upper() + sentence[1:]
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

def _settings(text: str, scenes: list[SceneDraft], language: str, figures: list[Figure]) -> None:
    places = lx.PLACES_JA if language == "ja" else lx.PLACES_EN
    times = lx.TIME_JA if language == "ja" else lx.TIME_EN
    weathers = lx.WEATHER_JA if language == "ja" else lx.WEATHER_EN
    hints = lx.INDOOR_HINTS_JA if language == "ja" else lx.INDOOR_HINTS_EN
    # a remembered or reported sentence ("同じ学校に通っていたらしい") is not where the scene is
    absent = absent_spans(text, language)
    if language == "ja":  # 山 in 山田, 森 in 森さん: a person's name is not a place
        names = [(m.start(), m.end()) for f in figures if f.named
                 for m in figure_pattern(tuple(f.aliases), language).finditer(text)]
        absent = sorted(absent + names)
    place, indoor, time_of_day = "", False, "day"
    last_room, weather = "", "clear"
    for scene in scenes:
        body = text[scene.start : scene.end]
        probe = body if language == "ja" else body.lower()
        here = _blank_spans(probe, scene.start, absent)
        found = _first_place(here, places, language)
        if found:
            place, indoor = found, places[found]
        elif last_room and any(_word_in(here, w, language) for w in hints):
            place, indoor = last_room, True  # the table, the window seat: back in the last room seen
        if indoor and place:
            last_room = place
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
        if scene.weather == "storm" and language == "ja" and "店" in probe:
            scene.place, scene.indoor = "店", True
        scene.final_marker = any(m in probe[:40].lower() for m in lx.FINAL_MARKERS)


def _blank_spans(probe: str, offset: int, spans: list[tuple[int, int]]) -> str:
    chars = list(probe)
    for start, end in spans:
        for i in range(max(start - offset, 0), min(end - offset, len(chars))):
            chars[i] = " "
    return "".join(chars)


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
    if best and language == "ja":
        # 駅前の古い喫茶店: in AのB the place is B
        tail = probe[best[1] + len(best[3]) : best[1] + len(best[3]) + 12]
        m = re.match(r"の[^。、「」の]{0,8}?(" + "|".join(sorted(places, key=len, reverse=True)) + ")", tail)
        if m and m.group(1) not in lx.GENERAL_PLACES:
            return m.group(1)
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
    by_alias = matchers(figures, language)
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
