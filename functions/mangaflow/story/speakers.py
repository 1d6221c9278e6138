"""Who says each quoted line, and which words around it only say so (the attribution a bubble makes
redundant: と佐藤は言った, "said Moss", 'Mara asked,').

Cues, strongest first: an attribution next to the line; the line that goes on after an attributed one;
the subject of the sentence just before (unless the line addresses that very person); the person a
previous line addressed answering; the subject of the sentence right after a line that opens a
paragraph; two people taking turns; the only person of the story.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon as lx
from .figure import Figure, figure_pattern
from .text import Quote

Span = tuple[int, int]
Matchers = list[tuple[re.Pattern, str]]

_HONORIFIC = r"(?:さん|くん|ちゃん|様|先生|先輩|部長|課長|おばさん|おじさん)?"
_JA_VERB = (r"(?:言い出|言い返|叫び返|聞き返|問い返|話しかけ|呼びかけ|笑いかけ|言|聞|訊|叫|答|返|つぶや|呟|怒鳴|尋|"
            r"たずね|笑|囁|ささや|話|続け|頷|うなず|問|促|告げ|教え|わめ|ぼや|謝|叱|励ま|誘|念を押)")
_JA_POST = re.compile(r"(?:と|って)[、\s]*(?:([^、。「」\s]{1,10}?)" + _HONORIFIC + r"[はが]、?)?" + _JA_VERB +
                      r"[ぁ-ゖ]*(?:[。、]|(?=\s|$))")
_JA_PARTICLE = re.compile(r"(?:と|って)[、\s]*")
_JA_PRONOUNS = ("彼女", "彼", "私", "僕", "俺")
_VERBS_EN = "|".join(lx.SPEECH_VERBS_EN)
_MODAL = r"(?:(?:would|will|could|might|did|had|then)\s+)?"
# who speaks: a name ("Moss", "Mr. Lee", "the Chief Inspector"), a described person ("the old woman") or a pronoun
_WHO_EN = (r"(?:(?:the|The|a|A|an|An|his|His|her|Her|my|My|their|Their|our|Our)\s+[a-z][\w’'-]*(?:\s+[a-z][\w’'-]*){0,2}"
           r"|(?:(?:Mr|Mrs|Ms|Dr|Prof|Capt)\.\s+)?(?:the\s+)?[A-Z][\w’']*(?:\s+[A-Z][\w’']*)*"
           r"|he|she|they|I|it|He|She|They|It)")
_EN_POST = re.compile(
    r"[ \t]*,?[ \t]*(?:(?:" + _VERBS_EN + r")\s+(" + _WHO_EN + r")|(" + _WHO_EN + r")\s+" + _MODAL + r"(?:" +
    _VERBS_EN + r"))(?:\s+\w+ly)?\s*[.,;:!?]?")
_EN_PRE = re.compile(
    r"(" + _WHO_EN + r")\s+(?:((?:[a-z]+\s+){1,4}?)and\s+)?" + _MODAL + r"(?:" + _VERBS_EN +
    r")(?:\s+\w+ly)?\s*[,:]?\s*$")
PRONOUN_GENDER = {"she": "female", "彼女": "female", "he": "male", "彼": "male", "they": "group"}
_INTERJECTION_JA = re.compile(r"^(?:もしもし|ねえ|ねぇ|おい|あの|ほら|ちょっと|ああ|あっ|えっ|え|よう|やあ)[、,\s]*")


@dataclass
class Cue:
    """What the words around one quoted line say: the speaker (a figure key or None), the spans of
    attribution before and after the line (absolute offsets), and a subject to lead the narration
    that continues after an attribution ('"…," she said, and left.' -> 'She left.')."""

    speaker: str | None = None
    pre: Span | None = None
    post: Span | None = None
    lead: str = ""
    words: str = ""  # the attribution's own words, for the delivery (叫んだ, whispered)


def matchers(figures: list[Figure], language: str) -> Matchers:
    """One whole-word pattern per figure (its aliases, and its role noun in English)."""
    return [(figure_pattern(tuple(f.aliases), language, f.role if language == "en" else None), f.key)
            for f in figures]


def alias_in(fragment: str, by_alias: Matchers, last: bool = False) -> str | None:
    hits = [(m.start(), -len(m.group(0)), key) for pattern, key in by_alias for m in pattern.finditer(fragment)]
    if not hits:
        return None
    return (max(hits) if last else min(hits))[2]


class Reader:
    """Reads the cues around quoted lines of one story."""

    def __init__(self, text: str, figures: list[Figure], mentions: list[tuple[int, str]], language: str) -> None:
        self.text = text
        self.language = language
        self.people = {f.key: f for f in figures}
        self.mentions = mentions
        self.by_alias = matchers(figures, language)

    # ------------------------------------------------------------ explicit attribution

    def cue(self, q: Quote, before_start: int, after_end: int) -> Cue:
        """The attribution next to `q` (between `before_start` and `after_end`), if any."""
        if self.language == "ja":
            return self._cue_ja(q, before_start, after_end)
        return self._cue_en(q, before_start, after_end)

    def _cue_ja(self, q: Quote, before_start: int, after_end: int) -> Cue:
        text = self.text
        cue = Cue()
        m = _JA_POST.match(text, q.end, after_end)
        if m and m.group(1) is not None and self._who_ja(m.group(1), q.start) is None:
            m = None  # 「…」といつもは無口な翔が…: the words before the verb say more than who
        if m:
            cue.post, cue.words = (q.end, m.end()), m.group(0)
            if m.group(1):
                cue.speaker = self._who_ja(m.group(1), q.start)
        else:
            particle = _JA_PARTICLE.match(text, q.end, after_end)
            if particle and text[q.end : q.end + 1] in ("と", "っ"):
                cue.post = (q.end, particle.end())
                clause_end = text.find("。", particle.end(), after_end)
                clause = text[particle.end() : clause_end if clause_end != -1 else after_end]
                cue.words = clause
                if re.search(_JA_VERB, clause):
                    cue.speaker = alias_in(clause, self.by_alias) or self._pronoun_in(clause, q.start)
                else:  # 「男子？」と健太くんが身を乗り出した: the subject of the clause it opens
                    cue.speaker = subject_ja(clause, self.by_alias)
        # 蒼太は「…」: the bare subject right before the line only says who speaks
        fragment_start = max(text.rfind(c, before_start, q.start) for c in "。！？\n」』") + 1
        fragment_start = max(fragment_start, before_start)
        fragment = text[fragment_start : q.start]
        bare = re.fullmatch(r"\s*(.{1,10}?)" + _HONORIFIC + r"[はが]、?\s*", fragment)
        if bare:
            who = self._who_ja(bare.group(1), q.start)
            if who is not None:
                cue.pre = (fragment_start, q.start)
                cue.speaker = cue.speaker or who
        if cue.speaker is None and fragment.strip():
            cue.speaker = subject_ja(fragment, self.by_alias)  # 佐藤部長が「…」と怒鳴ると
        if cue.speaker is None and m and m.group(0).endswith("、"):
            # 「…」と言って、蒼太は店を出た: the one who goes on in the same sentence
            clause_end = text.find("。", m.end(), after_end)
            clause = text[m.end() : clause_end if clause_end != -1 else after_end]
            cue.speaker = alias_in(clause, self.by_alias) or self._pronoun_in(clause, q.start)
        return cue

    def _who_ja(self, word: str, pos: int) -> str | None:
        if word in _JA_PRONOUNS:
            return self.pronoun_target(word, pos)
        hit = alias_in(word, self.by_alias)
        if hit is not None:
            for pattern, key in self.by_alias:
                if key == hit and pattern.fullmatch(word):
                    return key
        return None

    def _pronoun_in(self, clause: str, pos: int) -> str | None:
        for pronoun in _JA_PRONOUNS:
            if pronoun in clause:
                return self.pronoun_target(pronoun, pos)
        return None

    def _cue_en(self, q: Quote, before_start: int, after_end: int) -> Cue:
        text = self.text
        cue = Cue()
        after = text[q.end : after_end]
        m = _EN_POST.match(after)
        if m:
            name = m.group(1) or m.group(2)
            cue.speaker = alias_in(name, self.by_alias) or self.pronoun_target(name.split()[0], q.start)
            end, cue.lead = _attribution_clause(after, m.end(), name)
            cue.post, cue.words = (q.end, q.end + end), after[:end]
        before = text[max(before_start, q.start - 80) : q.start]
        offset = q.start - len(before)
        b = _EN_PRE.search(before)
        if b and "\n" not in before[b.start() :]:
            who = alias_in(b.group(1), self.by_alias) or self.pronoun_target(b.group(1), q.start)
            if who is not None or b.group(1).lower() in PRONOUN_GENDER or b.group(1) == "I":
                start = offset + (b.end(2) if b.group(2) else b.start())
                cue.pre = (start, q.start)
                cue.speaker = cue.speaker or who
                cue.words = cue.words or before[b.start() :]
        return cue

    # ------------------------------------------------------------ weaker cues

    def subject_before(self, before: str, pos: int) -> str | None:
        """The subject of the sentence right before the line, in the same paragraph."""
        if self.language == "ja":
            sentences = [s for s in re.split(r"[。\n]", before) if s.strip()]
            if not sentences or before.rstrip(" 　").endswith("\n\n"):
                return None
            return subject_ja(sentences[-1], self.by_alias) or self._pronoun_subject_ja(sentences[-1], pos)
        if not before.strip() or re.search(r"\n\s*\n\s*$", before):
            return None  # a blank line: a new paragraph starts fresh
        line = before.rstrip().rsplit("\n", 1)[-1]
        last = [s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s.strip()]
        return self.subject_en(last[-1], pos) if last else None

    def subject_after(self, after: str, pos: int) -> str | None:
        """The subject of the sentence right after a line that stands on its own line
        (「お帰り」\n振り向くと、叔母の恵子さんが立っていた。)."""
        body = after.lstrip(" 　")
        if not body.startswith("\n") or body.startswith("\n\n"):
            return None
        sentence = re.split(r"[。！？.!?\n「“\"]", body.lstrip("\n"), maxsplit=1)[0]
        if self.language == "ja":
            return subject_ja(sentence, self.by_alias)
        return self.subject_en(sentence, pos)

    def said_so(self, after: str, pos: int) -> str | None:
        """祖母はそう言って… / そう言ったのは、中村だった: the next sentence names who said it."""
        if self.language != "ja":
            return None
        sentence = re.split(r"[。！？\n]", after.lstrip(), maxsplit=1)[0]
        if not re.search(r"そう(?:言|叫|聞|答|つぶや|呟)", sentence):
            return None
        return alias_in(sentence, self.by_alias) or self._pronoun_in(sentence, pos)

    def subject_en(self, sentence: str, pos: int) -> str | None:
        """Whoever opens the sentence ("Theo checked his watch.", "She smiled."), after a short adverbial."""
        m = re.match(r"\s*(?:(?:Then|Now|Still|So|But|And|Suddenly|Finally|At last|At once),?\s+)?", sentence)
        opener = re.match(r"\s*[A-Z][^,.!?]{0,60},\s+", sentence)  # "On the first day of the season, Coach Mills …"
        for start in [m.end()] + ([opener.end()] if opener else []):
            head = sentence[start : start + 40]
            pronoun = re.match(r"(He|She|They|I|he|she|they)\b", head)
            if pronoun:
                return self.pronoun_target(pronoun.group(1), pos)
            hits = [(mm.start(), key) for pattern, key in self.by_alias for mm in pattern.finditer(head)
                    if mm.start() == 0]
            if hits:
                return hits[0][1]
        return None

    def _pronoun_subject_ja(self, sentence: str, pos: int) -> str | None:
        m = re.search(r"(彼女|彼|私|僕|俺)[はが]", sentence)
        return self.pronoun_target(m.group(1), pos) if m else None

    def pronoun_target(self, word: str, pos: int) -> str | None:
        if word in ("I", "私", "僕", "俺"):
            return next((k for k, f in self.people.items() if f.narrator), None)
        wanted = PRONOUN_GENDER.get(word.lower()) or PRONOUN_GENDER.get(word)
        if wanted is None:
            return None
        for mpos, key in reversed(self.mentions):
            fig = self.people.get(key)
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

    def addressee(self, line: str) -> str | None:
        """The person a line calls by name ("Marcus? …", "…, Nell.", 「ユイ？…」, 「…、佐々木さん」)."""
        word = vocative(line, self.language)
        if not word:
            return None
        if self.language == "en":
            hit = alias_in(word, self.by_alias)
            if hit is not None:
                return hit
            carriers = [k for k, f in self.people.items() if f.named and any(
                word.lower() in (w.rstrip(".").lower() for w in a.split()) for a in f.aliases)]
            return carriers[0] if len(carriers) == 1 else None
        for pattern, key in self.by_alias:
            if pattern.fullmatch(word):
                return key
        bare = re.sub(_HONORIFIC + "$", "", word)
        for pattern, key in self.by_alias:
            if bare and pattern.fullmatch(bare):
                return key
        titled = [k for k, f in self.people.items() if any(a.endswith(word) and a != word for a in f.aliases)]
        return titled[0] if len(titled) == 1 else None


def subject_ja(sentence: str, by_alias: Matchers) -> str | None:
    hits = [(m.start(), key) for pattern, key in by_alias for m in pattern.finditer(sentence)
            if re.match(_HONORIFIC + r"[はが]", sentence[m.end() :])]
    return min(hits)[1] if hits else None


def vocative(line: str, language: str) -> str | None:
    """The word a line calls someone by, at its start or its end, or None."""
    if language == "ja":
        body = _INTERJECTION_JA.sub("", line.strip())
        m = re.match(r"([\u4e00-\u9fff\u30a0-\u30ffー\u3040-\u309f]{1,8}?)か?[、？！?!…。]", body)
        if m and _callable_ja(m.group(1)):
            return m.group(1)
        m = re.search(r"、([\u4e00-\u9fff\u30a0-\u30ffー\u3040-\u309f]{1,8})[！？。!?]*$", body)
        if m and _callable_ja(m.group(1)):
            return m.group(1)
        return None
    body = line.strip()
    m = re.match(r"(?:(?:Oh|Well|Look|Listen|Hey|Sorry|Thanks|Yes|No),?\s+)?([A-Z][a-z]+)(?=[,?!])", body)
    if m and _callable_en(m.group(1)):
        return m.group(1)
    m = re.search(r",\s+([A-Z][a-z]+)[.?!]*$", body)
    if m and _callable_en(m.group(1)):
        return m.group(1)
    return None


def _callable_ja(word: str) -> bool:
    kin = any(word == a or word == "お" + a for aliases in lx.KINSHIP_JA.values() for a in aliases)
    named = bool(re.fullmatch(r"(?:[\u30a0-\u30ffー]{2,6}|[\u4e00-\u9fff]{1,4})" + _HONORIFIC, word))
    return (kin or named or word in lx.TITLES_JA) and word not in ("大丈夫", "本当", "ごめん", "ありがとう")


def _callable_en(word: str) -> bool:
    low = word.lower()
    return low not in lx.NOT_NAMES_EN and low not in lx.COMMON_WORDS_EN and low not in lx.SFX_EN


def _attribution_clause(after: str, end: int, who: str) -> tuple[int, str]:
    """Where the attribution clause ends: 'she whispered to the cat.' leaves no 'to the cat.' behind.
    A clause that goes on with a new action ('…, and climbed the stairs.') keeps that action as
    narration, led by the speaker ('She climbed the stairs.')."""
    if after[:end].rstrip().endswith((".", "!", "?")):
        return end, ""
    rest = after[end:]
    stop = re.search(r"[.!?]+[\"'”’)]*|\n|[\"“「]", rest)
    tail = rest[: stop.end() if stop and stop.group(0)[0] in ".!?" else (stop.start() if stop else len(rest))]
    joined = re.match(r"\s*,?\s*(?:and|then|but)\s+(?:then\s+)?", tail)
    if joined and len(tail) > 40:
        new_subject = re.match(r"(?:he|she|they|I|it|the\s|[A-Z])", tail[joined.end():])
        return end + joined.end(), "" if new_subject else who
    if re.match(r"\s*(?:to|at|under|with|into)\b", tail) and len(tail.split()) <= 4:
        return end + len(tail), ""  # "…," she whispered to the cat. / said under her breath.
    return end, ""  # "…," she would say, sliding a plate across the table: the action stays prose
