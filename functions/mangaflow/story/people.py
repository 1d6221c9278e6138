"""Who is in the story: named people, titled people, groups, kinship figures and unnamed figures.

Japanese names come from janome (人名 proper nouns, nouns before honorifics); English names from
capitalised words with evidence of being a person (named/called X, said X, X's, recurring subject).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import lexicon as lx
from .japanese import Token, tokenize


@dataclass
class Figure:
    """A character found in the text; `key` is the canonical name used everywhere else."""

    name: str
    aliases: list[str]
    kind: str = "person"  # person | robot | group
    gender: str = "unknown"
    age: str = "adult"
    named: bool = True
    kin: str | None = None
    kin_of: str | None = None
    traits: list[str] = field(default_factory=list)
    first_pos: int = 0
    mentions: int = 0

    @property
    def key(self) -> str:
        return self.name


_KATAKANA = re.compile(r"^[\u30a0-\u30ffー]{2,}$")
_LATIN_NAME = re.compile(r"^[A-Z][a-z]{1,15}$")


def find_figures(masked: str, language: str, full_text: str | None = None) -> list[Figure]:
    """People of the story, in order of first appearance.

    `masked` is the text with quoted lines blanked (names inside dialogue are not presence);
    `full_text` lets kinship aliases used only in dialogue (じいちゃん) join their character.
    """
    full_text = full_text if full_text is not None else masked
    figures = _figures_ja(masked, full_text) if language == "ja" else _figures_en(masked)
    for fig in figures:
        positions = mention_positions(masked, fig, language)
        fig.mentions = len(positions)
        fig.first_pos = positions[0] if positions else len(masked)
    figures = [f for f in figures if f.mentions > 0]
    figures.sort(key=lambda f: (f.first_pos, f.name))
    unique: dict[str, Figure] = {}
    for fig in figures:  # one character per name, whichever rule found it first
        unique.setdefault(fig.name, fig)
    return list(unique.values())


def mention_positions(text: str, fig: Figure, language: str) -> list[int]:
    """Start offsets of every mention of any alias (longest alias wins where they overlap)."""
    covered = bytearray(len(text) + 1)
    starts: list[int] = []
    for alias in sorted(set(fig.aliases), key=lambda a: (-len(a), a)):
        if language == "ja":
            pattern = re.escape(alias)
        else:
            pattern = r"(?<![A-Za-z])" + re.escape(alias) + r"(?![a-z])"
        for m in re.finditer(pattern, text):
            if language == "ja" and fig.kin and not _kin_standalone(text, m.start(), m.end()):
                continue
            if not covered[m.start()]:
                covered[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
                starts.append(m.start())
    return sorted(starts)


def _kin_standalone(text: str, start: int, end: int) -> bool:
    # 祖父母 (grandparents) or 母親 inside a longer word is not the grandfather / mother
    after = text[end : end + 1]
    return not (after in ("母", "父") and text[start:end] in ("祖父", "祖母"))


# ---------------------------------------------------------------- Japanese

_SPEAKER_JA = re.compile(r"[」）]\s*と、?\s*([\u4e00-\u9fff\u30a1-\u30faー]{1,6}?)(?:さん|くん|ちゃん)?[はが]"
                         r"[^。「」]{0,12}?(?:言|聞|叫|答|返|つぶや|呟|怒鳴|尋|笑|囁|ささや|話)")
_NOT_NAMES_JA = {"彼", "彼女", "私", "僕", "俺", "二人", "皆", "誰", "母", "父", "兄", "姉", "人", "声", "男", "女",
                 "少年", "少女", "老人", "先生"}


def _figures_ja(masked: str, full_text: str) -> list[Figure]:
    tokens = tokenize(masked)
    names: dict[str, Figure] = {}
    _person_names(tokens, names)
    kin_words = {a for aliases in lx.KINSHIP_JA.values() for a in aliases}
    for m in _SPEAKER_JA.finditer(full_text):
        # 「…」と春香は叫んだ: whoever is said to speak is a person, whatever janome tagged the word
        word = m.group(1)
        if word not in _NOT_NAMES_JA and word not in kin_words and word not in lx.GENERIC_JA and word not in names:
            _add_name(names, word, "")
    figures = list(names.values())
    figures += _kin_figures(tokens, masked, full_text, names)
    if not figures:
        figures = _generic_ja(tokens)
    for fig in figures:
        _describe_ja(masked, fig)
    return figures


_PARTICLES = {"は", "が", "の", "に", "と", "を", "も", "へ", "や", "から", "より", "で"}


def _person_names(tokens: list[Token], names: dict[str, Figure]) -> None:
    katakana_subject: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if "人名" in tok.pos and tok.pos.startswith("名詞,固有名詞"):
            j, surface = i, ""
            while j < len(tokens) and tokens[j].pos.startswith("名詞,固有名詞,人名"):
                surface += tokens[j].surface
                j += 1
            nxt = tokens[j].surface if j < len(tokens) else ""
            if (nxt in _PARTICLES or nxt in lx.HONORIFICS_JA) and not _reduplicated(surface):
                _add_name(names, surface, nxt)
            i = j
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None and tok.pos.startswith("名詞") and not _generic_noun(tok):
            if nxt.surface in lx.HONORIFICS_JA and (nxt.pos.startswith("名詞,接尾,人名") or
                                                    "固有名詞" in tok.pos or _KATAKANA.match(tok.surface)):
                _add_name(names, tok.surface, nxt.surface)
            elif _LATIN_NAME.match(tok.surface) and nxt.surface in ("は", "が", "と", "に", *lx.HONORIFICS_JA):
                _add_name(names, tok.surface, nxt.surface)  # a romanised name in Japanese prose (Annaは)
            elif _KATAKANA.match(tok.surface) and nxt.surface in ("は", "が"):
                katakana_subject[tok.surface] = katakana_subject.get(tok.surface, 0) + 1
        i += 1
    for surface, count in katakana_subject.items():
        if count >= 2 and surface not in lx.GENERIC_JA and surface not in names:
            _add_name(names, surface, "")


def _generic_noun(tok: Token) -> bool:
    return any(part in tok.pos for part in ("代名詞", "数", "非自立", "接尾", "副詞可能"))


def _reduplicated(surface: str) -> bool:
    half = len(surface) // 2
    return len(surface) >= 2 and len(surface) % 2 == 0 and surface[:half] == surface[half:]


_KIN_WORDS = {a for aliases in lx.KINSHIP_JA.values() for a in aliases}


def _add_name(names: dict[str, Figure], surface: str, honorific: str) -> None:
    if surface in _KIN_WORDS or surface in lx.GENERIC_JA or surface in lx.HONORIFICS_JA:
        return  # 先生さん, 母さん: a role, handled as a kinship figure
    fig = names.setdefault(surface, Figure(name=surface, aliases=[surface]))
    if honorific in lx.HONORIFICS_JA and surface + honorific not in fig.aliases:
        fig.aliases.append(surface + honorific)


def _kin_figures(tokens: list[Token], masked: str, full_text: str, names: dict[str, Figure]) -> list[Figure]:
    surfaces = [t.surface for t in tokens]
    found: list[Figure] = []
    for kin, aliases in lx.KINSHIP_JA.items():
        present = []
        for idx, s in enumerate(surfaces):
            if s in aliases and not (kin == "teacher" and idx > 0 and "人名" in tokens[idx - 1].pos):
                present.append(s)
        if not present:
            continue
        # dialogue often uses the familiar form (じいちゃん) of the narration's 祖父
        present += [a for a in aliases if len(a) >= 3 and _stands_alone(full_text, a, aliases)]
        ordered = sorted(set(present), key=lambda a: (full_text.find(a), a))
        ordered.sort(key=lambda a: a not in surfaces)
        fig = Figure(name=ordered[0], aliases=ordered, kin=kin, named=False,
                     gender=lx.KIN_GENDER.get(kin, "unknown"), age=lx.KIN_AGE.get(kin, "adult"))
        for owner in names:
            if any(owner + "の" + a in masked for a in ordered):
                fig.kin_of = owner
                break
        found.append(fig)
    return found


def _stands_alone(text: str, alias: str, aliases: tuple[str, ...]) -> bool:
    """True when `alias` occurs somewhere not as part of a longer alias (じいさん inside おじいさん)."""
    longer = [a for a in aliases if alias in a and a != alias]
    for m in re.finditer(re.escape(alias), text):
        if not any(text.find(a, max(0, m.start() - len(a)), m.end() + len(a)) != -1 for a in longer):
            return True
    return False


def _generic_ja(tokens: list[Token]) -> list[Figure]:
    found: dict[str, Figure] = {}
    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.surface in lx.GENERIC_JA and nxt.surface in ("は", "が", "も") and tok.surface not in found:
            gender, age = lx.GENERIC_JA[tok.surface]
            found[tok.surface] = Figure(name=tok.surface, aliases=[tok.surface], named=False, gender=gender,
                                        age=age, kind="robot" if tok.surface == "ロボット" else "person")
    return list(found.values())


_FEMALE_END = ("子", "香", "美", "花", "奈", "菜", "恵", "江", "代", "乃", "里", "咲", "愛")
_MALE_END = ("太", "郎", "介", "平", "人", "也", "男", "吾", "助", "輔", "斗", "翔", "樹", "彦")


def _describe_ja(masked: str, fig: Figure) -> None:
    first = masked.find(fig.aliases[0])
    before = masked[max(0, first - 14) : first]
    sentence_end = masked.find("。", first)
    sentence = masked[max(0, first - 30) : sentence_end if sentence_end != -1 else first + 40]
    if any(w in before for w in lx.ROBOT_WORDS):
        fig.kind = "robot"
    if fig.gender == "unknown" and fig.named:
        if fig.name.endswith(_FEMALE_END) or "彼女" in masked[first : first + 60]:
            fig.gender = "female"
        elif fig.name.endswith(_MALE_END):
            fig.gender = "male"
    if fig.named:
        if any(w in sentence for w in ("高校", "中学", "大学を目指")):
            fig.age = "teen"
        elif "小学" in sentence or "子ども" in before:
            fig.age = "child"
        elif any(w in before for w in ("老", "おじいさん", "おばあさん")):
            fig.age = "elder"
        elif fig.kind != "robot":
            fig.age = "teen"  # manga protagonists skew young when the text says nothing


# ---------------------------------------------------------------- English

_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_CAP_RUN = re.compile(r"(?:(?<=\s)|^)(?:(the|The)\s+)?((?:[A-Z][a-z]+(?:\s+|(?=['’]s)|(?=[^A-Za-z])))+)",
                      re.MULTILINE)
_PREPOSITIONS = {"of", "in", "at", "from", "to", "into", "near", "towards", "toward", "across", "onto"}


def _figures_en(masked: str) -> list[Figure]:
    lower_words = {w.lower() for w in _WORD.findall(masked) if w[0].islower()}
    found: dict[str, Figure] = {}
    evidence: dict[str, int] = {}
    counts: dict[str, int] = {}
    for m in _CAP_RUN.finditer(masked):
        words = [w for w in re.split(r"\s+", m.group(2).strip()) if w]
        start = m.start(2)
        initial = _sentence_initial(masked, start if not m.group(1) else m.start(1))
        # a sentence-initial common word glued to a name ("Then Moss") is not part of it
        while words and words[0].lower() in lx.NOT_NAMES_EN:
            start += len(words[0]) + 1
            words = words[1:]
            initial = False
        if not words:
            continue
        phrase = " ".join(words)
        # "the" belongs to the phrase only when no leading word was dropped after it
        has_the = bool(m.group(1)) and start == m.start(2)
        lowered = [w.lower() for w in words]
        if any(w in lx.TITLES_EN for w in lowered):
            name = ("the " + phrase) if has_the else phrase
            fig = found.setdefault(name, Figure(name=name, aliases=[name]))
            if has_the and len(words) > 1:
                fig.aliases.append("the " + words[-1])
            fig.kind = "group" if "council" in lowered else fig.kind
            evidence[name] = evidence.get(name, 0) + 2
            continue
        if len(words) > 1 or lowered[-1] in lx.PLACES_EN or (has_the and not initial):
            continue  # places, organisations and title-less multiword names are settings here
        word = words[0]
        if lowered[0] in lx.NOT_NAMES_EN or (initial and lowered[0] in lower_words):
            continue
        counts[word] = counts.get(word, 0) + 1
        evidence[word] = evidence.get(word, 0) + _person_evidence(masked, start, start + len(word), initial)
    for word, count in counts.items():
        # a person is named/called, speaks, owns something or acts; or simply keeps coming back
        if evidence.get(word, 0) >= 1 or (count >= 3 and evidence.get(word, 0) >= 0):
            found.setdefault(word, Figure(name=word, aliases=[word]))
    for m in re.finditer(r"\bthe\s+(?:other\s+)?(" + "|".join(sorted(lx.GROUPS_EN)) + r")\b", masked):
        name = "the " + m.group(1)
        found.setdefault(name, Figure(name=name, aliases=[name, m.group(1)], kind="group", named=False))
    figures = _merge_aliases(list(found.values()))
    if not any(f.kind != "group" for f in figures):
        figures += _generic_en(masked)
    for fig in figures:
        _describe_en(masked, fig)
    return figures


def _merge_aliases(figures: list[Figure]) -> list[Figure]:
    # "the Council" on its own is the same body as "the City Council"
    kept: list[Figure] = []
    for fig in sorted(figures, key=lambda f: (-len(f.name), f.name)):
        owner = next((k for k in kept if fig.name in k.aliases), None)
        if owner is None:
            kept.append(fig)
        else:
            owner.aliases += [a for a in fig.aliases if a not in owner.aliases]
    return kept


def _sentence_initial(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t")
    return not before or before[-1] in ".!?\n\"”:" or before.endswith("\n")


def _person_evidence(text: str, start: int, end: int, initial: bool) -> int:
    before = text[max(0, start - 12) : start].lower()
    after = text[end : end + 14].lower()
    score = 0
    if re.search(r"\b(named|called)\s+$", before):
        score += 2
    if any(after.lstrip(" ,").startswith(v) for v in lx.SPEECH_VERBS_EN) or \
            any(before.rstrip().endswith(v) for v in lx.SPEECH_VERBS_EN):
        score += 2
    if after.startswith(("'s", "’s")):
        score += 1
    prev_word = before.split()[-1] if before.split() else ""
    if prev_word in _PREPOSITIONS:
        score -= 2
    if initial and re.match(r"\s+[a-z]+(ed|s|ght|ew|ame|ook|ent|ad|as)?\b", after):
        score += 1
    return score


def _generic_en(masked: str) -> list[Figure]:
    found: list[Figure] = []
    lowered = masked.lower()
    for noun, (gender, age) in sorted(lx.GENERIC_EN.items(), key=lambda kv: -len(kv[0])):
        m = re.search(r"\b(?:the|a|an)\s+(?:[a-z]+\s+)?" + re.escape(noun) + r"\b(?!\s+(?:named|called))", lowered)
        if m and not any(noun in f.name for f in found):
            found.append(Figure(name="the " + noun, aliases=["the " + noun, "The " + noun], named=False,
                                gender=gender, age=age, kind="robot" if noun == "robot" else "person"))
    return found[:3]


def _describe_en(masked: str, fig: Figure) -> None:
    first = masked.find(fig.aliases[0])
    if first < 0:
        return
    before = masked[max(0, first - 40) : first].lower()
    if re.search(r"\b(" + "|".join(lx.ROBOT_WORDS) + r")\b[^.]*$", before) or fig.kind == "robot":
        fig.kind = "robot"
        fig.age = "adult"
    if fig.kind != "robot":
        female = male = 0
        for pos in mention_positions(masked, fig, "en")[:12]:
            window = re.findall(r"[a-z]+", masked[max(0, pos - 25) : pos + 120].lower())
            female += sum(w in lx.FEMALE_EN for w in window)
            male += sum(w in lx.MALE_EN for w in window)
        if female > male:
            fig.gender = "female"
        elif male > female:
            fig.gender = "male"
        sentence = masked[first : first + 80].split(".")[0].lower()
        young = re.search(r"\b(?:[1-9]|1[0-2]|five|six|seven|eight|nine|ten|eleven|twelve)\b", sentence)
        if young and re.search(r"years? old|older than|aged", sentence):
            fig.age = "child"  # "a girl named Pia, no older than ten"
        elif re.search(r"\b(girl|boy|teenager|student)\b", before):
            fig.age = "teen"
        elif re.search(r"\b(child|kid|little)\b", before):
            fig.age = "child"
        elif re.search(r"\b(old|elderly|grand(?:father|mother))\b", before):
            fig.age = "elder"
    if fig.kind == "group":
        fig.age, fig.gender = "adult", "unknown"
