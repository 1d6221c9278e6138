"""Who is in the story: named people, titled people, groups, kinship figures and unnamed figures.

Japanese names come from janome (人名 proper nouns, nouns before honorifics); English names from
capitalised words with evidence of being a person (named/called X, said X, X's, recurring subject).
"""
from __future__ import annotations

import re
from collections import Counter

from . import lexicon as lx
from . import identity
from .figure import Figure, figure_pattern, mention_positions, role_pattern
from .japanese import Token, tokenize
from .text import in_spans, protect_abbreviations, sentence_spans

__all__ = ["Figure", "absent_spans", "figure_pattern", "find_figures", "mention_positions", "role_pattern"]

_KATAKANA = re.compile(r"^[\u30a0-\u30ffー]{2,}$")
_LATIN_NAME = re.compile(r"^[A-Z][a-z]{1,15}$")


def find_figures(masked: str, language: str, full_text: str | None = None) -> list[Figure]:
    """People of the story, in order of first appearance.

    `masked` is the text with quoted lines blanked (names inside dialogue are not presence);
    `full_text` lets kinship aliases used only in dialogue (じいちゃん) join their character.
    """
    full_text = full_text if full_text is not None else masked
    if language == "ja":
        figures = identity.unify_ja(_figures_ja(masked, full_text), masked, full_text)
        for fig in figures:
            _describe_ja(masked, fig)
    else:
        figures = identity.unify_en(_figures_en(masked, full_text), masked, full_text)
        _describe_all_en(masked, figures)
    if not re.search(r"[^\W_]", masked):
        figures += _called_in_dialogue(full_text, language, figures)
        masked = full_text  # a story told only in dialogue: its people are named only there
    absent = absent_spans(masked, language)
    for fig in figures:
        positions = mention_positions(masked, fig, language)
        fig.mentions = len(positions)
        fig.present = sum(1 for p in positions if not in_spans(absent, p))
        fig.first_pos = positions[0] if positions else len(masked)
    figures = [f for f in figures if f.mentions > 0]
    figures.sort(key=lambda f: (f.first_pos, f.name))
    unique: dict[str, Figure] = {}
    for fig in figures:  # one character per name, whichever rule found it first
        unique.setdefault(fig.name, fig)
    return list(unique.values())


def _called_in_dialogue(text: str, language: str, known: list[Figure]) -> list[Figure]:
    """The people a story told only in dialogue calls by name (「ユイ？」, "Marcus? …", 「お母さん」)."""
    from .speakers import vocative
    from .text import extract_quotes

    found: dict[str, Figure] = {}
    for quote in extract_quotes(text):
        word = vocative(quote.text, language)
        if not word or any(word in f.aliases for f in known):
            continue
        kin = next((k for k, aliases in lx.KINSHIP_JA.items() if word in aliases), None) if language == "ja" else None
        base = re.sub(r"(?:さん|くん|ちゃん|様)$", "", word) if language == "ja" and kin is None else word
        if kin is not None:
            base = lx.KINSHIP_JA[kin][0]  # お母さん is the mother, 母
        fig = found.setdefault(base, Figure(name=base, aliases=[base], named=kin is None, kin=kin,
                                            gender=lx.KIN_GENDER.get(kin or "", "unknown"),
                                            age=lx.KIN_AGE.get(kin or "", "teen" if language == "ja" else "adult")))
        if word not in fig.aliases:
            fig.aliases.append(word)
    return list(found.values())


def absent_spans(masked: str, language: str) -> list[tuple[int, int]]:
    """Sentences that remember the past or report hearsay ("…らしい", "years ago"): a person named
    only there is talked about, not on stage."""
    markers = lx.ABSENT_JA if language == "ja" else lx.ABSENT_EN
    spans = []
    for start, end in sentence_spans(masked, 0, len(masked), language):
        sentence = masked[start:end] if language == "ja" else masked[start:end].lower()
        if any(w in sentence for w in markers):
            spans.append((start, end))
    return spans


# ---------------------------------------------------------------- Japanese

_SPEAKER_JA = re.compile(r"[」）]\s*と、?\s*([\u4e00-\u9fff\u30a1-\u30faー]{1,6}?)(?:さん|くん|ちゃん|先生|先輩|様)?[はが]"
                         r"[^。「」]{0,12}?(?:言|聞|叫|答|返|つぶや|呟|怒鳴|尋|笑|囁|ささや|話)")
_NOT_NAMES_JA = {"彼", "彼女", "私", "僕", "俺", "二人", "皆", "誰", "母", "父", "兄", "姉", "人", "声", "男", "女",
                 "少年", "少女", "老人", "先生"}


def _figures_ja(masked: str, full_text: str) -> list[Figure]:
    tokens = tokenize(masked)
    names: dict[str, Figure] = {}
    evidence: Counter = Counter()
    _person_names(tokens, names, evidence)
    kin_words = {a for aliases in lx.KINSHIP_JA.values() for a in aliases}
    said = [m.group(1) for m in _SPEAKER_JA.finditer(full_text)] + [m.group(1) for m in _SAID_WAS_JA.finditer(masked)]
    for word in said:
        # 「…」と春香は叫んだ / そう言ったのは、学級委員の中村だった: whoever is said to speak is a person
        if word not in _NOT_NAMES_JA and word not in kin_words and word not in lx.ROLES_JA \
                and word not in lx.NARRATOR_JA and word not in lx.TITLES_JA:
            _add_name(names, word, "")
            evidence[word] += 2
    for surface in [n for n in names if evidence[n] < 2 and not names[n].parts]:
        del names[surface]  # 沢の水: a word janome took for a family name, seen only before の
    figures = list(names.values())
    figures += _kin_figures(tokens, masked, full_text, names)
    figures = _merge_teacher(figures)
    figures += _role_figures_ja(tokens, names, has_names=bool(figures))
    narrator = _narrator_ja(tokens)
    if narrator is not None:
        figures.append(narrator)
    return figures


_PARTICLES = {"は", "が", "の", "に", "と", "を", "も", "へ", "や", "から", "より", "で"}
_SUBJECT_OR_AND = {"は", "が", "も", "と"}
_SAID_WAS_JA = re.compile(r"そう(?:言|叫|聞|答|つぶや|呟)[^。「」]{0,6}?のは、?[^。「」]{0,10}?の?"
                          r"([\u4e00-\u9fff\u30a1-\u30faー]{1,6}?)(?:さん|くん|ちゃん)?(?:だった|です|だ)")
_GIVEN_NUMERAL = re.compile(r"^[一二三四五六七八九十]$")


def _name_evidence(following: str) -> int:
    """How strongly the word after a candidate says it is a person's name."""
    if following in lx.HONORIFICS_JA or following in lx.TITLES_JA:
        return 3
    if following in _SUBJECT_OR_AND:
        return 2
    return 1 if following in _PARTICLES else 0


def _person_names(tokens: list[Token], names: dict[str, Figure], evidence: Counter) -> None:
    katakana_subject: dict[str, int] = {}
    subjects = Counter(tokens[k].surface for k in range(len(tokens) - 1) if tokens[k + 1].surface in _SUBJECT_OR_AND)
    apposition_words = set(_KIN_WORDS) | set(lx.TITLES_JA) | set(lx.APPOSITION_ROLES_JA) | set(lx.APPOSITION_KIN_JA)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if "人名" in tok.pos and tok.pos.startswith("名詞,固有名詞"):
            j, parts = i, []
            while j < len(tokens) and tokens[j].pos.startswith("名詞,固有名詞,人名"):
                parts.append(tokens[j].surface)
                j += 1
            surface = "".join(parts)
            nxt = tokens[j].surface if j < len(tokens) else ""
            score = _name_evidence(nxt) + _after_role(tokens, i, apposition_words)
            if score and not _reduplicated(surface):
                _add_name(names, surface, nxt, tuple(parts) if len(parts) > 1 else ())
                evidence[surface] += score + (2 if len(parts) > 1 else 0)
            i = j
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None and tok.pos.startswith("名詞") and not _generic_noun(tok):
            after = tokens[i + 2].surface if i + 2 < len(tokens) else ""
            if nxt.surface in lx.HONORIFICS_JA and (nxt.pos.startswith("名詞,接尾,人名") or
                                                    "固有名詞" in tok.pos or _KATAKANA.match(tok.surface)):
                _add_name(names, tok.surface, nxt.surface)
                evidence[tok.surface] += 3
            elif _LATIN_NAME.match(tok.surface) and nxt.surface in ("は", "が", "と", "に", *lx.HONORIFICS_JA):
                _add_name(names, tok.surface, nxt.surface)  # a romanised name in Japanese prose (Annaは)
                evidence[tok.surface] += 2
            elif _KATAKANA.match(tok.surface) and nxt.surface in ("は", "が"):
                katakana_subject[tok.surface] = katakana_subject.get(tok.surface, 0) + 1
            elif _GIVEN_NUMERAL.match(nxt.surface) and "数" in nxt.pos and after in _SUBJECT_OR_AND \
                    and len(tok.surface) == 1 and re.match(r"[\u4e00-\u9fff]", tok.surface):
                surface = tok.surface + nxt.surface  # 源三は: a given name janome cut in two
                _add_name(names, surface, after)
                evidence[surface] += 1
            elif _after_role(tokens, i, apposition_words) and nxt.surface in _SUBJECT_OR_AND | set(lx.HONORIFICS_JA) \
                    and 1 <= len(tok.surface) <= 4 and tok.surface not in apposition_words \
                    and tok.surface not in lx.ROLES_JA and tok.surface not in lx.PLACES_JA:
                # 兄の大樹が / 妻の千代と: a role, then its name; a plain noun (部長の声が) does not come back
                _add_name(names, tok.surface, nxt.surface)
                evidence[tok.surface] += subjects[tok.surface]  # itself one of them: 1 + the others
        i += 1
    for surface, count in katakana_subject.items():
        if count >= 2 and surface not in lx.ROLES_JA and surface not in names:
            _add_name(names, surface, "")
            evidence[surface] += 2


def _after_role(tokens: list[Token], i: int, words: set[str]) -> int:
    """2 when tokens[i] follows "<kinship or title>の" (兄の大樹, 部長の佐藤), else 0."""
    if i >= 2 and tokens[i - 1].surface == "の" and tokens[i - 2].surface in words:
        return 2
    return 0


def _generic_noun(tok: Token) -> bool:
    return any(part in tok.pos for part in ("代名詞", "数", "非自立", "接尾", "副詞可能"))


def _reduplicated(surface: str) -> bool:
    half = len(surface) // 2
    return len(surface) >= 2 and len(surface) % 2 == 0 and surface[:half] == surface[half:]


_KIN_WORDS = {a for aliases in lx.KINSHIP_JA.values() for a in aliases}


def _add_name(names: dict[str, Figure], surface: str, honorific: str, parts: tuple[str, ...] = ()) -> None:
    if surface in _KIN_WORDS or surface in lx.ROLES_JA or surface in lx.HONORIFICS_JA or surface in lx.TITLES_JA:
        return  # 先生さん, 母さん: a role, handled as a kinship figure
    if not re.search(r"[\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fffA-Za-z]", surface) or surface in _NOT_NAMES_JA:
        return  # 「みーちゃん」 cut as み / ー / ちゃん: a long-vowel mark is nobody
    fig = names.setdefault(surface, Figure(name=surface, aliases=[surface], parts=parts))
    fig.parts = fig.parts or parts
    if (honorific in lx.HONORIFICS_JA or honorific in lx.TITLES_JA) and surface + honorific not in fig.aliases:
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


def _merge_teacher(figures: list[Figure]) -> list[Figure]:
    """先生 on its own is 佐藤先生 when exactly one named person is called 先生."""
    teacher = next((f for f in figures if f.kin == "teacher"), None)
    titled = [f for f in figures if f.named and any(a.endswith("先生") for a in f.aliases)]
    if teacher is None or len(titled) != 1:
        return figures
    titled[0].aliases += [a for a in teacher.aliases if a not in titled[0].aliases]
    return [f for f in figures if f is not teacher]


_SUBJECT_JA = ("は", "が", "も")


def _role_figures_ja(tokens: list[Token], names: dict[str, Figure], has_names: bool) -> list[Figure]:
    """Unnamed people by role noun (老人, 少女, 店主 ...): a character when the role comes back and
    acts as a subject, or (when nobody has a name) when it is the subject once."""
    mentions: dict[str, int] = {}
    subjects: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok.surface not in lx.ROLES_JA or not tok.pos.startswith("名詞"):
            continue
        nxt = tokens[i + 1].surface if i + 1 < len(tokens) else ""
        after = tokens[i + 2].surface if i + 2 < len(tokens) else ""
        if nxt == "の" and after in names:
            continue  # 店主の娘の美咲: the role describes a named person
        if i > 0 and "人名" in tokens[i - 1].pos:
            continue  # 田中医者: part of a name
        mentions[tok.surface] = mentions.get(tok.surface, 0) + 1
        if nxt in _SUBJECT_JA:
            subjects[tok.surface] = subjects.get(tok.surface, 0) + 1
    found = []
    for role, count in mentions.items():
        acts = subjects.get(role, 0)
        if (count >= 2 and acts) or (acts and not has_names):
            gender, age, kind = lx.ROLES_JA[role]
            found.append(Figure(name=role, aliases=[role], named=False, gender=gender, age=age, kind=kind, role=role))
    return found


def _narrator_ja(tokens: list[Token]) -> Figure | None:
    """A first-person story: 私 / 僕 / 俺 in the narration (not in dialogue) is a character."""
    seen: dict[str, int] = {}
    acts = 0
    for i, tok in enumerate(tokens):
        if tok.surface in lx.NARRATOR_JA and "代名詞" in tok.pos:
            seen[tok.surface] = seen.get(tok.surface, 0) + 1
            nxt = tokens[i + 1].surface if i + 1 < len(tokens) else ""
            acts += nxt in _SUBJECT_JA
    if not seen or (sum(seen.values()) < 2 and not acts):
        return None
    name = max(seen, key=lambda w: (seen[w], w))
    genders = {lx.NARRATOR_JA[w] for w in seen} - {"unknown"}
    return Figure(name=name, aliases=sorted(seen, key=lambda w: -seen[w]), named=False, narrator=True, age="teen",
                  gender=genders.pop() if len(genders) == 1 else "unknown")


_FEMALE_END = ("子", "香", "美", "花", "奈", "菜", "恵", "江", "代", "乃", "里", "咲", "愛", "衣", "絵", "織", "音",
               "華", "希")
_MALE_END = ("太", "郎", "介", "平", "人", "也", "男", "吾", "助", "輔", "斗", "翔", "樹", "彦", "雄", "夫", "蔵",
             "治", "司", "一")


def _describe_ja(masked: str, fig: Figure) -> None:
    first = masked.find(fig.aliases[0])
    before = masked[max(0, first - 14) : first]
    sentence_end = masked.find("。", first)
    sentence = masked[max(0, first - 30) : sentence_end if sentence_end != -1 else first + 40]
    if any(w in before for w in lx.ROBOT_WORDS):
        fig.kind = "robot"
    if fig.gender == "unknown" and fig.named:
        if fig.name.endswith(_FEMALE_END):
            fig.gender = "female"
        elif fig.name.endswith(_MALE_END):
            fig.gender = "male"
        elif "彼女" in masked[first : first + 60]:
            fig.gender = "female"
    if fig.named:
        if any(a.endswith(("先生", "博士", "医師")) for a in fig.aliases):
            fig.age = "adult"  # 佐藤先生: whoever is called 先生 is grown up
        elif any(w in sentence for w in ("高校", "中学", "大学を目指")):
            fig.age = "teen"
        elif "小学" in sentence or "子ども" in before:
            fig.age = "child"
        elif any(w in before for w in ("老", "おじいさん", "おばあさん")):
            fig.age = "elder"
        elif fig.kind != "robot":
            fig.age = "teen"  # manga protagonists skew young when the text says nothing


# ---------------------------------------------------------------- English

_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_CAP_RUN = re.compile(r"(?:(?<=\s)|^)(?:(the|The)\s+)?((?:(?:Mr|Mrs|Ms|Dr|Prof|Capt|Lt|Sgt)\.\s+)?"
                      r"(?:[A-Z][a-z]+(?:\s+|(?=['’]s)|(?=[^A-Za-z])))+)",
                      re.MULTILINE)
_PREPOSITIONS = {"of", "in", "at", "from", "to", "into", "near", "towards", "toward", "across", "onto"}


def _figures_en(masked: str, full_text: str) -> list[Figure]:
    lower_words = {w.lower() for w in _WORD.findall(masked) if w[0].islower()}
    found: dict[str, Figure] = {}
    evidence: dict[str, int] = {}
    counts: dict[str, int] = {}
    full: dict[str, int] = {}
    mid_sentence: set[str] = set()
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
        lowered = [w.lower().rstrip(".") for w in words]
        if any(w in lx.TITLES_EN for w in lowered):
            name = ("the " + phrase) if has_the else phrase
            fig = found.setdefault(name, Figure(name=name, aliases=[name]))
            if has_the and len(words) > 1:
                fig.aliases.append("the " + words[-1])
            fig.kind = "group" if "council" in lowered else fig.kind
            evidence[name] = evidence.get(name, 0) + 2
            continue
        if len(words) > 1 and not has_the and lowered[-1] not in lx.PLACES_EN \
                and not any(w in lx.NOT_PERSON_WORDS_EN or w in lx.NOT_NAMES_EN for w in lowered):
            # "Thomas Reed", "Anna Lind": a full name when it acts like a person or holds one
            full[phrase] = full.get(phrase, 0) + _person_evidence(masked, start, start + len(phrase), initial)
            continue
        if len(words) > 1 or lowered[-1] in lx.PLACES_EN or (has_the and not initial):
            continue  # places, organisations and multiword names of things are settings here
        word = words[0]
        if lowered[0] in lx.NOT_NAMES_EN or (initial and lowered[0] in lower_words):
            continue
        counts[word] = counts.get(word, 0) + 1
        if not initial:
            mid_sentence.add(word)
        evidence[word] = evidence.get(word, 0) + _person_evidence(masked, start, start + len(word), initial)
    for word, count in counts.items():
        score = evidence.get(word, 0)
        if word in mid_sentence:
            # a person is named/called, speaks, owns something or acts; or simply keeps coming back
            accepted = score >= 1 or count >= 3
        else:
            # only ever at a sentence start ("Light swept across the water"): a capital proves nothing,
            # so it needs real evidence, and an everyday word needs to be named, called or speak
            common = word.lower() in lx.COMMON_WORDS_EN or word.lower().endswith(("ly", "ing", "ed"))
            accepted = score >= 2 * count + 1 if common else score >= 1
        if accepted:
            found.setdefault(word, Figure(name=word, aliases=[word]))
    for phrase, score in full.items():
        words = phrase.split()
        if score >= 1 or any(w in found for w in words):
            found.setdefault(phrase, Figure(name=phrase, aliases=[phrase], parts=tuple(words)))
    for m in re.finditer(r"\bthe\s+(?:other\s+)?(" + "|".join(sorted(lx.GROUPS_EN)) + r")\b", masked):
        name = "the " + m.group(1)
        found.setdefault(name, Figure(name=name, aliases=[name, m.group(1)], kind="group", named=False))
    figures = _merge_aliases(list(found.values()))
    figures = _role_figures_en(masked, full_text, figures)
    narrator = _narrator_en(masked)
    if narrator is not None:
        figures.append(narrator)
    _describe_all_en(masked, figures)  # genders first: nicknames ("called her Ellie") are resolved by them
    return figures


def _describe_all_en(masked: str, figures: list[Figure]) -> None:
    """Kind, gender and age of each figure; a second call (after merging) fills what is still unknown."""
    starts = sorted((p, f.name) for f in figures for p in mention_positions(masked, f, "en"))
    narrators = {f.name for f in figures if f.narrator}  # "my door" is no one else being described
    for fig in figures:
        _describe_en(masked, fig, [p for p, name in starts if name != fig.name and name not in narrators])


_ROLE_INTRO = re.compile(r",?\s+(?:named|called)\s+([A-Z][a-z]+)")
_PREP_BEFORE = re.compile(r"\b(?:at|to|with|of|for|from|by|near|into|onto|toward|towards|about|like|than|under|"
                          r"behind|beside|past|upon)\s+$", re.IGNORECASE)


def _role_figures_en(masked: str, full_text: str, figures: list[Figure]) -> list[Figure]:
    """Unnamed people by role noun ("an old woman", "the fisherman", "her mother").

    A role that introduces a named person ("a girl called Ines") becomes that person's alias; a bare
    head ("the woman") after a two-word role ("an old woman") is the same person; a role is a
    character when it comes back, or acts as the subject while nobody in the story has a name.
    """
    named = {f.name: f for f in figures}
    has_names = any(f.kind != "group" for f in figures)
    roles: dict[str, dict] = {}
    absorbed: set[str] = set()
    for role in sorted(lx.ROLES_EN, key=lambda r: (-len(r), r)):
        pattern = figure_pattern((), "en", role)
        hits = []
        for m in pattern.finditer(masked):
            if any(h["start"] <= m.start() < h["end"] for r in roles.values() for h in r["hits"]):
                continue  # "the old woman" is already the old woman, not also "a woman"
            intro = _ROLE_INTRO.match(masked, m.end())
            if intro and intro.group(1) in named:
                fig = named[intro.group(1)]  # "a girl called Ines": later "the girl" is Ines
                for det in ("the ", "The "):
                    if det + role not in fig.aliases:
                        fig.aliases.append(det + role)
                absorbed.add(role)
                continue
            det = m.group(0).split()[0].lower()
            before = masked[max(0, m.start() - 30) : m.start()]
            after = masked[m.end() : m.end() + 20]
            subject = (not _PREP_BEFORE.search(before) and not after.startswith(("'s", "’s"))
                       and re.match(r"\s*(?:,\s*)?(?:who\b|[a-z]+\b)", after) is not None
                       and not re.match(r"\s*(?:and|or|of|in|on|at|to|with)\b", after))
            # speaks: "said the driver", "the driver said", or "The driver leaned out. \"Get in.\""
            verbs = "|".join(lx.SPEECH_VERBS_EN)
            sentence_end = re.search(r"[.!?]", masked[m.end() : m.end() + 200])
            next_char = full_text[m.end() + sentence_end.end() :].lstrip(" ")[:1] if sentence_end else ""
            speaks = bool(re.search(r"\b(?:" + verbs + r")\s+$", before) or re.match(r"\s+(?:" + verbs + r")\b", after)
                          or (subject and next_char in ('"', "“")))
            hits.append({"start": m.start(), "end": m.end(), "det": det, "subject": subject, "speaks": speaks,
                         "old": bool(re.search(r"\b(?:old|elderly|aged)\b", m.group(0).lower())),
                         "text": m.group(0)})
        if hits:
            roles[role] = {"hits": hits}
    # a later definite bare head ("the woman") is the two-word role met first ("an old woman")
    for role in list(roles):
        compounds = [r for r in roles if r != role and r.split()[-1] == role and len(r.split()) > 1]
        if len(compounds) == 1:
            owner = roles[compounds[0]]
            mine = roles[role]["hits"]
            first = owner["hits"][0]["start"]
            if mine[0]["start"] > first and mine[0]["det"] in ("the", "this", "that"):
                owner["hits"] += [h for h in mine if not any(o["start"] == h["start"] for o in owner["hits"])]
                owner.setdefault("heads", []).append(role)
                del roles[role]
    made: list[Figure] = []
    for role, info in roles.items():
        if role in absorbed:
            continue  # "the girl" after "a girl called Pia" is Pia
        hits = sorted(info["hits"], key=lambda h: h["start"])
        mentions, subjects = len(hits), sum(h["subject"] for h in hits)
        speaks = any(h["speaks"] for h in hits)
        if not (mentions >= 2 and (subjects or not has_names)) and not (subjects and not has_names) and not speaks:
            continue
        gender, age, kind = lx.ROLES_EN[role]
        if any(h["old"] for h in hits) and kind == "person":
            age = "elder"
        det = hits[0]["det"]
        name = f"{det} {role}" if det in ("his", "her", "my", "their", "our", "your") else f"the {role}"
        aliases = [name, name[0].upper() + name[1:]]
        for h in hits:
            plain = h["text"].split()[0] + " " + role
            if plain not in aliases and len(h["text"].split()) == len(role.split()) + 1:
                aliases.append(h["text"])
        for head in info.get("heads", []):
            aliases += ["the " + head, "The " + head]
        title = next((f for f in figures if f.name.lower() == name.lower()), None)
        if title is not None:  # "the King" written with a capital is the same person as "the king"
            title.aliases += [a for a in aliases if a not in title.aliases]
            title.role, title.named, title.gender, title.age = role, False, gender, age
            continue
        made.append(Figure(name=name, aliases=aliases, kind=kind, gender=gender, age=age, named=False,
                           role=role))
    return figures + made


def _narrator_en(masked: str) -> Figure | None:
    """A first-person story: "I" in the narration (not in dialogue) is a character."""
    if len(re.findall(r"(?<![A-Za-z])I(?![a-z])", masked)) < 2:
        return None
    return Figure(name="the narrator", aliases=["I", "me", "my", "myself"], named=False, narrator=True)


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


_APPOSED = re.compile(r"\b(?:" + "|".join(sorted(set(lx.ROLES_EN) | set(lx.KIN_ROLES_EN), key=len, reverse=True))
                     + r")\s*,?\s+$")


def _person_evidence(text: str, start: int, end: int, initial: bool) -> int:
    before = text[max(0, start - 12) : start].lower()
    after = text[end : end + 14].lower()
    score = 0
    if re.search(r"\b(named|called|name was|name is)\s+$", text[max(0, start - 14) : start].lower()) or _APPOSED.search(text[max(0, start - 30) : start].lower()):
        score += 2  # "a man named Oliver Pratt", "my mother, Ruth Hale", "her brother Erik"
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


_PRONOUN_WORDS = {"she", "her", "hers", "herself", "he", "him", "his", "himself"}


def _describe_en(masked: str, fig: Figure, others: list[int]) -> None:
    first = masked.find(fig.aliases[0])
    if first < 0:
        return
    before = masked[max(0, first - 40) : first].lower()
    if re.search(r"\b(" + "|".join(lx.ROBOT_WORDS) + r")\b[^.]*$", before) or fig.kind == "robot":
        fig.kind = "robot"
        fig.age = "adult"
    if fig.narrator:
        pass  # the narrator's "I" says nothing of gender or age
    elif fig.kind != "robot" and fig.gender == "unknown":
        female = male = 0
        for pos in mention_positions(masked, fig, "en")[:12]:
            # what is said of them runs until someone else is named ("Mara met the old man. He …")
            stop = next((o for o in others if o > pos), pos + 120)
            # the rest of its sentence, and the next one when the figure opens the sentence (its subject)
            ends = [m.end() for m in re.finditer(r"[.!?]", protect_abbreviations(masked[pos : pos + 120]))]
            named = re.match(r"[A-Za-z.' -]*?(?=\s+[a-z]|[,.;:!?]|$)", masked[pos : pos + 60])
            subject = named is not None and re.match(r"\s+[a-z]+\b", masked[pos + named.end() :]) is not None
            ends = ends[:2] if subject else ends[:1]
            stop = min(stop, pos + (ends[-1] if ends else 120))
            window = re.findall(r"[a-z]+", masked[pos : min(pos + 120, stop)].lower())
            # before the name only nouns count ("a girl named Pia"): "Behind her, Tom" is someone else's
            window += [w for w in re.findall(r"[a-z]+", masked[max(0, pos - 25) : pos].lower())
                       if w not in _PRONOUN_WORDS]
            female += sum(w in lx.FEMALE_EN for w in window)
            male += sum(w in lx.MALE_EN for w in window)
        if female > male:
            fig.gender = "female"
        elif male > female:
            fig.gender = "male"
    if fig.kind != "robot" and not fig.narrator and not fig.role:
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
