"""One identity per person: the full name, the given and family names, a name with an honorific or a
title (佐藤部長, 先生, Captain Vance, Dr. Okafor), a kinship or role word standing for a named person
(兄の大樹, her brother Erik, the clerk … named Oliver Pratt) and a nickname the story introduces
(「タロちゃん」と呼ばれる, everyone called him Stretch) all become aliases of one Figure.

Merges happen only when they are unambiguous: a family name shared by two full names stays apart.
"""
from __future__ import annotations

import re

from . import lexicon as lx
from .figure import Figure, figure_pattern, mention_positions

_HONORIFIC_END = tuple(sorted(lx.HONORIFICS_JA + lx.TITLES_JA + ("おばさん", "おじさん"), key=len, reverse=True))
_KIN_WORDS_JA = {a for aliases in lx.KINSHIP_JA.values() for a in aliases}


def absorb(owner: Figure, other: Figure) -> None:
    """`other` is `owner` under another name: its names, kinship and what is known of it join `owner`."""
    for alias in [other.name, *other.aliases]:
        if alias and alias not in owner.aliases:
            owner.aliases.append(alias)
    owner.named = owner.named or other.named
    owner.kin = owner.kin or other.kin
    owner.kin_of = owner.kin_of or other.kin_of
    if owner.gender == "unknown":
        owner.gender = other.gender
    if owner.kind == "person" and other.kind == "robot":
        owner.kind = "robot"
    if other.narrator:
        owner.narrator = True


def _merge(figures: list[Figure], owner: Figure, other: Figure) -> None:
    if other is owner or other not in figures:
        return
    absorb(owner, other)
    figures.remove(other)


def _holder(figures: list[Figure], alias: str) -> Figure | None:
    found = [f for f in figures if alias == f.name or alias in f.aliases]
    return found[0] if len(found) == 1 else None


def _add_alias(figure: Figure, alias: str) -> None:
    if alias and alias not in figure.aliases:
        figure.aliases.append(alias)


# ---------------------------------------------------------------- Japanese

def _bare_ja(name: str) -> str:
    for ending in _HONORIFIC_END:
        if name.endswith(ending) and len(name) > len(ending):
            return name[: -len(ending)]
    return name


def unify_ja(figures: list[Figure], masked: str, full_text: str) -> list[Figure]:
    """Merge the Japanese figures that are one person (see the module docstring)."""
    figures = list(figures)
    _appositions_ja(figures, masked)
    _name_parts_ja(figures)
    _titles_ja(figures, full_text)
    _nicknames_ja(figures, full_text)
    _honorific_forms_ja(figures, full_text)
    return figures


def _honorific_forms_ja(figures: list[Figure], text: str) -> None:
    """A name with an honorific anywhere in the story, dialogue too (翔くん, 恵子おばさん), is that person."""
    endings = "|".join(map(re.escape, _HONORIFIC_END))
    for fig in [f for f in figures if f.named]:
        for alias in list(fig.aliases):
            if _bare_ja(alias) != alias:
                continue
            for m in re.finditer(re.escape(alias) + "(" + endings + ")", text):
                if not any(f is not fig and m.group(0) in f.aliases for f in figures):
                    _add_alias(fig, m.group(0))


def _appositions_ja(figures: list[Figure], masked: str) -> None:
    """兄の大樹 / 叔母の恵子さん / 部長の佐藤健一: the kinship word or title is that person."""
    named = [f for f in figures if f.named]
    words = sorted(_KIN_WORDS_JA | set(lx.TITLES_JA) | set(lx.APPOSITION_KIN_JA), key=len, reverse=True)
    for fig in named:
        for alias in sorted(fig.aliases, key=len, reverse=True):
            for m in re.finditer(r"(" + "|".join(map(re.escape, words)) + r")の" + re.escape(alias), masked):
                word = m.group(1)
                if m.start() > 0 and re.match(r"[\u4e00-\u9fff]", masked[m.start() - 1]) and len(word) == 1:
                    continue  # 義兄の…, 祖母の…: part of a longer word
                kin = next((f for f in figures if f is not fig and not f.named and word in f.aliases), None)
                if kin is not None:
                    _merge(figures, fig, kin)
                elif sum(1 for f in named if f is not fig and word in f.aliases) == 0:
                    _add_alias(fig, word)
                kind = next((k for k, aliases in lx.KINSHIP_JA.items() if word in aliases), None) \
                    or lx.APPOSITION_KIN_JA.get(word)
                if kind and not fig.kin:
                    fig.kin = kind
                    fig.gender = fig.gender if fig.gender != "unknown" else lx.KIN_GENDER.get(kind, "unknown")
                    # the other familiar forms of the same kinship (お兄ちゃん in dialogue)
                    for familiar in lx.KINSHIP_JA.get(kind, ()):
                        if len(familiar) >= 3 and familiar in masked.replace("　", ""):
                            _add_alias(fig, familiar)


def _name_parts_ja(figures: list[Figure]) -> None:
    """山田太郎 is also 山田 and 太郎 (when no one else shares the part); 山田くん is 山田."""
    named = [f for f in figures if f.named]
    for full in sorted(named, key=lambda f: -len(f.name)):
        if full not in figures:
            continue
        parts = list(full.parts)
        if not parts and len(full.name) >= 3:
            parts = [f.name for f in named if f is not full and f.name != full.name and len(f.name) >= 1
                     and (full.name.startswith(f.name) or full.name.endswith(f.name))]
        for part in parts:
            sharing = [f for f in named if f is not full and f in figures and len(f.name) > len(part)
                       and (f.name.startswith(part) or f.name.endswith(part)) and f.name != part]
            if sharing:
                continue  # 山田太郎 and 山田花子: 山田 alone could be either
            _add_alias(full, part)
            for other in [f for f in figures if f is not full and _bare_ja(f.name) == part]:
                _merge(figures, full, other)


def _titles_ja(figures: list[Figure], text: str) -> None:
    """A title used on its own (部長, 先生, 先輩) is the one person who carries it (佐藤部長)."""
    for title in lx.TITLES_JA:
        carriers = [f for f in figures if f.named and any(a.endswith(title) and a != title for a in f.aliases)]
        if len(carriers) != 1:
            continue
        owner = carriers[0]
        for other in [f for f in figures if f is not owner and not f.named and title in f.aliases]:
            _merge(figures, owner, other)
        alone = re.search(r"(?<![\u4e00-\u9fff\u30a0-\u30ff])" + re.escape(title), text)
        if alone and not any(title in f.aliases for f in figures if f is not owner):
            _add_alias(owner, title)


_NICKNAME_JA = re.compile(r"(?:[「『]([^「」『』\n]{1,10})[」』]|([\u30a0-\u30ffー]{1,8}(?:ちゃん|くん|さん)?))"
                          r"(?:と|って)(呼ば|呼ん|呼ぶ|呼び)")


def _nicknames_ja(figures: list[Figure], text: str) -> None:
    """太郎は皆に「タロちゃん」と呼ばれている / 美羽のことを「みーちゃん」と呼ぶ."""
    for m in _NICKNAME_JA.finditer(text):
        nickname = m.group(1) or m.group(2)
        sentence_start = max(text.rfind(c, 0, m.start()) for c in "。！？\n") + 1
        sentence = text[sentence_start : m.start()]
        if m.group(3) == "呼ば":  # passive: the sentence's topic is the one so called
            owner = _topic_ja(figures, sentence, r"(?:さん|くん|ちゃん)?[はがも]")
        else:  # active: whoever is called is the object
            owner = _topic_ja(figures, sentence, r"(?:さん|くん|ちゃん)?(?:のことを|を)")
        if owner is None:
            continue
        for alias in dict.fromkeys([nickname, _bare_ja(nickname)]):
            other = next((f for f in figures if f is not owner and (f.name == alias or alias in f.aliases)), None)
            if other is not None:
                _merge(figures, owner, other)
            _add_alias(owner, alias)


def _topic_ja(figures: list[Figure], sentence: str, particle: str) -> Figure | None:
    hits = []
    for fig in figures:
        for m in figure_pattern(tuple(fig.aliases), "ja").finditer(sentence):
            if re.match(particle, sentence[m.end() :]):
                hits.append((m.start(), fig))
    return min(hits, key=lambda h: h[0])[1] if hits else None


# ---------------------------------------------------------------- English

def unify_en(figures: list[Figure], masked: str, full_text: str) -> list[Figure]:
    """Merge the English figures that are one person (see the module docstring)."""
    figures = list(figures)
    _name_parts_en(figures)
    _appositions_en(figures, masked)
    _titled_roles_en(figures, masked)
    _nicknames_en(figures, masked)
    return figures


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"\s+", name.replace(".", ". ").strip()) if w]


def personal_words(name: str) -> list[str]:
    """The words of a name that are the person's own ("Captain Eleanor Vance" -> Eleanor, Vance)."""
    words = [w.rstrip(".") for w in _words(name)]
    return [w for w in words if w.lower() not in lx.TITLES_EN and w.lower() not in ("the", "a", "an", "my", "her",
                                                                                 "his", "our", "their", "your")
            and w[:1].isupper()]


def _name_parts_en(figures: list[Figure]) -> None:
    """Eleanor Vance is also Eleanor and Vance; Captain Vance and Dr. Okafor are the titled person."""
    people = [f for f in figures if f.kind != "group" and f.named]
    for full in sorted(people, key=lambda f: -len(personal_words(f.name))):
        if full not in figures:
            continue
        words = personal_words(full.name)
        if not words:
            continue
        titles = [w.rstrip(".") for w in _words(full.name) if w.rstrip(".").lower() in lx.TITLES_EN]
        for word in words if len(words) > 1 else []:
            sharing = [f for f in people if f is not full and f in figures and word in personal_words(f.name)
                       and len(personal_words(f.name)) > 1]
            if sharing or word.lower() in lx.COMMON_WORDS_EN:
                continue
            _add_alias(full, word)
            for other in [f for f in figures if f is not full and f.name == word]:
                _merge(figures, full, other)
        for title in titles:  # Captain Eleanor Vance -> Captain Vance; Dr. Amara Okafor -> Dr. Okafor
            written = next(w for w in _words(full.name) if w.rstrip(".") == title)
            _add_alias(full, f"{written} {words[-1]}")
        if titles and len(words) > 1:
            _add_alias(full, " ".join(words))  # Eleanor Vance
        elif titles and words[0].lower() not in lx.COMMON_WORDS_EN:
            _add_alias(full, words[0])  # Mr. Lee is also Lee
        for other in [f for f in figures if f is not full and f.named and f.kind != "group"]:
            other_words = personal_words(other.name)
            if other_words and set(other_words) <= set(words) and len(other_words) < len(words) + 1 \
                    and other_words[-1] in words and not any(
                        other_words[-1] in personal_words(p.name) for p in people if p not in (full, other)
                        and p in figures):
                _merge(figures, full, other)  # "Dr. Okafor" and "Dr. Amara Okafor"
    for fig in figures:  # the fullest form of a name is the one it goes by ("Eleanor Vance", not "Vance")
        best = max([fig.name, *fig.aliases], key=lambda a: (len(personal_words(a)), -_title_count(a), -len(a)))
        if fig.named and len(personal_words(best)) >= max(2, len(personal_words(fig.name))):
            fig.name = best


def _title_count(name: str) -> int:
    return sum(1 for w in _words(name) if w.rstrip(".").lower() in lx.TITLES_EN)


_APPOSITION_EN = re.compile(r"\b((?:[Tt]he|[Hh]is|[Hh]er|[Mm]y|[Tt]heir|[Oo]ur)\s+(?:[a-z][a-z-]*\s+){0,2}?"
                            r"([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?))(?:,\s+(?:a|an)\s[^.]{0,80}?\b"
                            r"(?:named|called|name tag that said|name tag that read|badge that said)\s+|,\s+|\s+)"
                            r"([A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+)?)\b")


def _appositions_en(figures: list[Figure], masked: str) -> None:
    """"my mother, Ruth Hale," / "her brother Erik" / "The clerk, a thin young man named Oliver Pratt"."""
    for m in _APPOSITION_EN.finditer(masked):
        phrase, noun, name = m.group(1), m.group(2), m.group(3)
        role = next((r for r in sorted(lx.ROLES_EN, key=len, reverse=True)
                     if noun == r or noun.endswith(" " + r)), None) or (noun if noun in lx.KIN_ROLES_EN else None)
        if role is None:
            continue
        person = _named_as(figures, name)
        if person is None:
            continue
        det = phrase.split()[0].lower()
        alias = f"{det} {role}" if det in ("my", "his", "her", "their", "our") else f"the {role}"
        for other in [f for f in figures if f is not person and f.role == role and not f.named]:
            _merge(figures, person, other)
        _add_alias(person, alias)
        _add_alias(person, alias[0].upper() + alias[1:])
        if person.gender == "unknown" and role in lx.ROLES_EN:
            person.gender = lx.ROLES_EN[role][0]


def _named_as(figures: list[Figure], name: str) -> Figure | None:
    if name.isupper():
        name = name.title()  # a name tag that said DOT
    return _holder(figures, name) or next((f for f in figures if name in personal_words(f.name)), None)


def _titled_roles_en(figures: list[Figure], masked: str) -> None:
    """"the captain" is Captain Vance, "the doctor" Dr. Okafor, "my grandmother" Grandma Rose,
    when exactly one named person carries the title."""
    for role_fig in [f for f in figures if f.role and not f.named]:
        titles = lx.TITLE_OF_ROLE_EN.get(role_fig.role, (role_fig.role,))
        carriers = [f for f in figures if f.named and f is not role_fig and any(
            w.rstrip(".").lower() in titles for a in [f.name, *f.aliases] for w in _words(a))]
        if len(carriers) == 1:
            _merge(figures, carriers[0], role_fig)
    for fig in figures:  # a titled person is also "the captain" / "my grandmother" when the story says so
        if not fig.named:
            continue
        for alias in list(fig.aliases) + [fig.name]:
            for word in _words(alias):
                title = word.rstrip(".").lower()
                role = lx.ROLE_OF_TITLE_EN.get(title)
                if role and not any(f is not fig and f.role == role for f in figures):
                    _add_alias(fig, f"the {role}")
                    _add_alias(fig, f"The {role}")
                kin = lx.KIN_OF_TITLE_EN.get(title)
                if kin and not any(f is not fig and f.role == kin for f in figures):
                    for m in re.finditer(r"\b(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir|[Oo]ur|[Tt]he)\s+" + kin + r"\b", masked):
                        _add_alias(fig, m.group(0))


_NICKNAME_EN = re.compile(r"\b(?:called|call|calls|nicknamed)\s+(him|her|me|them)\s+[\"“]?([A-Z][a-z]+)[\"”]?")


def _nicknames_en(figures: list[Figure], masked: str) -> None:
    """"everyone called him Stretch": the nickname is the person the pronoun stands for."""
    seen: dict[tuple[str, ...], list[int]] = {}  # mention offsets per set of names, found once
    for m in _NICKNAME_EN.finditer(masked):
        pronoun, nickname = m.group(1), m.group(2)
        owner = _pronoun_owner(figures, masked, m.start(), pronoun, seen)
        if owner is None:
            continue
        other = next((f for f in figures if f is not owner and (f.name == nickname or nickname in f.aliases)), None)
        if other is not None:
            _merge(figures, owner, other)
        _add_alias(owner, nickname)


def _pronoun_owner(figures: list[Figure], text: str, pos: int, pronoun: str,
                   seen: dict[tuple[str, ...], list[int]]) -> Figure | None:
    if pronoun == "me":
        return next((f for f in figures if f.narrator), None)
    wanted = {"him": "male", "her": "female"}.get(pronoun)
    sentence_start = max(text.rfind(c, 0, pos) for c in ".!?\n") + 1
    best: tuple[int, int, Figure] | None = None
    for fig in figures:
        if fig.narrator or fig.kind == "group":
            continue
        if wanted and fig.gender not in (wanted, "unknown"):
            continue
        key = (fig.role or "", *fig.aliases)
        if key not in seen:
            seen[key] = mention_positions(text, fig, "en")
        for start in seen[key]:
            if start >= pos:
                break
            # the subject of the same sentence first ("Thomas …, and everyone called him Stretch"), then recency
            rank = (0 if start >= sentence_start else 1, -start)
            if best is None or rank < best[:2]:
                best = (rank[0], rank[1], fig)
    return best[2] if best else None
