"""Offline phase 2: the story's people as characters with roles, personalities and a fixed look.

Looks are derived from sha256 of the name (never Python's salted hash) so a character keeps the
same palette across runs and machines; hues are spread so no two characters share a colour.
"""
from __future__ import annotations

import colorsys
import hashlib
import re

from .feedback import Request, quoted_or_capitalised, read as read_feedback
from .common import language_of, story_of
from ..story import Figure, StoryAnalysis

HAIR = {"black": "#1f1b24", "dark brown": "#3b2a20", "brown": "#6b4a2f", "chestnut": "#8a4b2a",
        "auburn": "#9c3d1f", "blonde": "#d9b45a", "grey": "#9a9a9a", "white": "#e8e6e1", "red": "#b8322a",
        "blue": "#2f5d9c", "green": "#3d7a4a", "pink": "#d98aa8", "silver": "#b9c2cc", "purple": "#6a3d8f"}
COLOUR_WORDS = {"red": "red", "赤": "red", "blue": "blue", "青": "blue", "green": "green", "緑": "green",
                "black": "black", "黒": "black", "white": "white", "白": "white", "blonde": "blonde",
                "金": "blonde", "pink": "pink", "ピンク": "pink", "silver": "silver", "銀": "silver",
                "brown": "brown", "茶": "brown", "purple": "purple", "紫": "purple"}
SKIN = ["#f6d7bf", "#eec5a4", "#e0ac86", "#c98e66", "#a8714d", "#f3cfb3"]
ROLE_PERSONALITY = {
    "protagonist": "driven and open-hearted, the one who acts first",
    "deuteragonist": "reserved at first, changes most over the story",
    "supporting": "steady presence who shapes the others' choices",
    "minor": "seen briefly, defined by one clear action",
}


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def characters(inputs: dict, feedback: dict | None) -> dict:
    story = story_of(inputs)
    request = read_feedback(feedback, 2)
    ranked = _rank(story)
    cast = [_character(f"c{i + 1}", fig, ranked[fig.key], story) for i, fig in enumerate(story.figures)]
    if request.asks("merge"):
        cast = _merge_named(cast, request.hints)
    if request.wants("remove_character"):
        cast = _remove(cast, request)
    if request.wants("add_character"):
        cast.append(_added(cast, request, language_of(inputs)))
    ids = {c["id"] for c in cast}
    _spread_hues(cast)
    if request.wants("personality"):
        _retarget_personality(cast, request)
    if request.wants("visual"):
        _restyle(cast, request)
    return {
        "characters": cast,
        "relationships": [r for r in _relationships(story, cast) if r["a"] in ids and r["b"] in ids],
        "reference_images": [],
        # the image phase draws these (at most two main characters, square)
        "reference_requests": [{"character_id": c["id"], "prompt": c["visual_description"], "size_px": [768, 768]}
                               for c in cast if c["role"] in ("protagonist", "deuteragonist")][:2],
    }


def _rank(story: StoryAnalysis) -> dict[str, str]:
    people = [f for f in story.figures if f.kind != "group"]
    score = {f.key: f.mentions + 2 * story.speaking.get(f.key, 0) for f in story.figures}
    if people:  # stories introduce their point-of-view character first
        score[people[0].key] += 2
    for fig in people:
        if fig.narrator:  # a first-person story is told by its protagonist
            score[fig.key] += 4 + max(score.values())
        elif fig.mentions and not fig.present and not story.speaking.get(fig.key):
            score[fig.key] = min(score[fig.key], 1)  # only remembered or reported: never a lead
    order = sorted(people, key=lambda f: (-score[f.key], f.first_pos))
    roles: dict[str, str] = {}
    for index, fig in enumerate(order):
        if index == 0:
            roles[fig.key] = "protagonist"
        elif index == 1 and score[fig.key] >= 0.3 * score[order[0].key]:
            roles[fig.key] = "deuteragonist"
        elif score[fig.key] >= 2:
            roles[fig.key] = "supporting"
        else:
            roles[fig.key] = "minor"
    for fig in story.figures:
        roles.setdefault(fig.key, "minor" if score[fig.key] < 3 else "supporting")
    return roles


def _character(cid: str, fig: Figure, role: str, story: StoryAnalysis) -> dict:
    seed = _digest(fig.name, story.language)
    figure = _figure(fig, seed)
    palette = _palette(fig, seed, figure)
    traits = ", ".join(fig.traits)
    personality = (traits + "; " if traits else "") + ROLE_PERSONALITY[role]
    return {"id": cid, "name": fig.name, "aliases": [a for a in fig.aliases if a != fig.name], "role": role,
            "kind": fig.kind, "personality": personality,
            "visual_description": _visual(fig, figure, palette), "palette": palette, "figure": figure}


def _figure(fig: Figure, seed: bytes) -> dict:
    if fig.kind == "robot":
        return {"hair_style": "bald", "build": "robot", "height": 1.05, "age": "adult"}
    if fig.gender == "female":
        styles = ["bun"] if fig.age == "elder" else ["long", "ponytail", "bob", "long"]
    elif fig.gender == "male":
        styles = ["bald", "short"] if fig.age == "elder" else ["short", "spiky", "short"]
    else:
        styles = ["short", "bob", "ponytail", "spiky"]
    build = {"child": "small", "elder": "slim"}.get(fig.age) or ["slim", "average", "broad"][seed[1] % 3]
    if fig.gender == "female" and build == "broad":
        build = "average"
    base = {"child": 0.8, "teen": 0.93, "adult": 1.0, "elder": 0.95}[fig.age]
    height = round(base + (seed[2] % 7) / 100, 2)
    return {"hair_style": styles[seed[0] % len(styles)], "build": build, "height": height, "age": fig.age}


def _palette(fig: Figure, seed: bytes, figure: dict) -> dict:
    hue = (int.from_bytes(seed[4:6], "big") % 360) / 360
    if fig.kind == "robot":
        hair = "#8c969e"
        skin = "#a9b4bd"
    else:
        if fig.age == "elder":
            hair_name = ["grey", "white", "silver"][seed[6] % 3]
        else:
            hair_name = ["black", "dark brown", "brown", "chestnut", "auburn", "blonde"][seed[6] % 6]
        hair = HAIR[hair_name]
        skin = SKIN[seed[7] % len(SKIN)]
    return {"hair": hair, "skin": skin, "outfit": _hsv(hue, 0.55, 0.72), "accent": _hsv((hue + 0.5) % 1, 0.6, 0.85)}


def _hsv(h: float, s: float, v: float) -> str:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return "#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255))


def _hue(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[0]


def _spread_hues(cast: list[dict]) -> None:
    """Keep outfit hues at least 40° apart so characters read as different people at a glance."""
    taken: list[float] = []
    for char in cast:
        hue = _hue(char["palette"]["outfit"])
        for _ in range(12):
            if all(min(abs(hue - t), 1 - abs(hue - t)) >= 40 / 360 for t in taken):
                break
            hue = (hue + 67 / 360) % 1
        taken.append(hue)
        char["palette"]["outfit"] = _hsv(hue, 0.55, 0.72)
        char["palette"]["accent"] = _hsv((hue + 0.5) % 1, 0.6, 0.85)
        char["visual_description"] = re.sub(r"outfit #[0-9a-f]{6}", "outfit " + char["palette"]["outfit"],
                                            char["visual_description"])


def _visual(fig: Figure, figure: dict, palette: dict) -> str:
    if fig.kind == "robot":
        return (f"{fig.name}: a {figure['height']:.2f}-scale maintenance robot, rounded steel body, "
                f"plating {palette['skin']}, accent lights {palette['accent']}, outfit {palette['outfit']} scarf")
    if fig.kind == "group":
        return f"{fig.name}: a small crowd, matching outfits in {palette['outfit']}, faces simplified"
    noun = {"female": {"child": "girl", "teen": "teenage girl", "adult": "woman", "elder": "old woman"},
            "male": {"child": "boy", "teen": "teenage boy", "adult": "man", "elder": "old man"}}.get(
        fig.gender, {"child": "child", "teen": "teenager", "adult": "adult", "elder": "elder"})[figure["age"]]
    return (f"{fig.name}: {noun}, {figure['build']} build, {figure['hair_style']} hair {palette['hair']}, "
            f"skin {palette['skin']}, outfit {palette['outfit']} with {palette['accent']} accents")


_ONE_PERSON = re.compile(r"'([^']+)' and '([^']+)' are one person")


def _merge_named(cast: list[dict], hints: list[str]) -> list[dict]:
    """An evaluator found two characters that are one person: the one met first keeps its id and look
    and takes the other's names as aliases."""
    for hint in hints:
        m = _ONE_PERSON.search(hint)
        if not m:
            continue
        found = [next((c for c in cast if name == c["name"] or name in c["aliases"]), None) for name in m.groups()]
        if None in found or found[0] is found[1]:
            continue
        keep, other = sorted(found, key=cast.index)
        keep["aliases"] += [n for n in [other["name"], *other["aliases"]] if n != keep["name"] and n not in keep["aliases"]]
        cast = [c for c in cast if c is not other]
    return cast


def _target(cast: list[dict], request: Request) -> list[dict]:
    named = [c for c in cast if any(n and n in request.text for n in [c["name"], c["id"], *c["aliases"]])]
    if named:
        return named
    return [c for c in cast if c["role"] == "protagonist"][:1] or cast[:1]


def _remove(cast: list[dict], request: Request) -> list[dict]:
    named = [c for c in cast if any(n and n in request.text for n in [c["name"], c["id"], *c["aliases"]])]
    # Unnamed: the least important character who is not the lead (a minor one first).
    doomed = named or [c for c in cast if c["role"] == "minor"][-1:] or \
        [c for c in cast if c["role"] != "protagonist"][-1:]
    return [c for c in cast if c not in doomed] or cast


def _added(cast: list[dict], request: Request, language: str) -> dict:
    names = [n for n in quoted_or_capitalised(request.text) if n not in {c["name"] for c in cast}]
    name = names[0] if names else ("新しい仲間" if language == "ja" else "the newcomer")
    fig = Figure(name=name, aliases=[name], named=bool(names), age="teen")
    seed = _digest(name, language)
    figure = _figure(fig, seed)
    palette = _palette(fig, seed, figure)
    used = {int(c["id"][1:]) for c in cast if c["id"][1:].isdigit()}
    cid = f"c{max(used, default=0) + 1}"
    return {"id": cid, "name": name, "aliases": [], "role": "supporting", "kind": "person",
            "personality": request.text.strip()[:120] or ROLE_PERSONALITY["supporting"],
            "visual_description": _visual(fig, figure, palette), "palette": palette, "figure": figure,
            "added_by_feedback": True}


def _retarget_personality(cast: list[dict], request: Request) -> None:
    words = request.text.strip()
    for char in _target(cast, request):
        char["personality"] = (words[:160] + "; " if words else "more expressive; ") + char["personality"]


def _restyle(cast: list[dict], request: Request) -> None:
    colour = next((c for w, c in COLOUR_WORDS.items() if w in request.text.lower()), None)
    for char in _target(cast, request):
        if colour and char["figure"]["build"] != "robot":
            char["palette"]["hair"] = HAIR[colour]
        else:
            styles = ["long", "short", "ponytail", "spiky", "bob", "bun"]
            current = char["figure"]["hair_style"]
            step = 1 + round(request.intensity * 2)
            if char["figure"]["build"] != "robot":
                char["figure"]["hair_style"] = styles[(styles.index(current) + step) % len(styles)] \
                    if current in styles else "short"
            hue = (_hue(char["palette"]["outfit"]) + 0.25 + 0.25 * request.intensity) % 1
            char["palette"]["outfit"] = _hsv(hue, 0.55, 0.72)
            char["palette"]["accent"] = _hsv((hue + 0.5) % 1, 0.6, 0.85)
        name = char["visual_description"].split(":")[0]
        char["visual_description"] = (f"{name}: {char['figure']['build']} build, {char['figure']['hair_style']} hair "
                                      f"{char['palette']['hair']}, outfit {char['palette']['outfit']} with "
                                      f"{char['palette']['accent']} accents")


RELATION_CUES = [("幼なじみ", "childhood friends"), ("友", "friends"), ("taught", "mentor and student"),
                 ("教え", "mentor and student"), ("兄", "siblings"), ("姉", "siblings"), ("together", "allies")]


def _relationships(story: StoryAnalysis, cast: list[dict]) -> list[dict]:
    by_name = {c["name"]: c["id"] for c in cast}
    found: dict[tuple[str, str], str] = {}
    for fig in story.figures:
        if fig.kin and fig.kin_of in by_name and fig.key in by_name:
            found[(by_name[fig.kin_of], by_name[fig.key])] = fig.kin
    aliases = {f.key: f.aliases for f in story.figures if f.key in by_name and f.kind != "group"}
    for sentence in re.split(r"(?<=[。.!?！？])\s*", story.text[:60000]):
        cue = next((k for word, k in RELATION_CUES if word in sentence), None)
        if cue is None:
            continue
        people = [k for k, names in aliases.items() if any(a in sentence for a in names)]
        # "Moss taught her": the person named in the sentence and the pronoun's last referent
        for i, a in enumerate(people):
            for b in people[i + 1 :]:
                pair = (by_name[a], by_name[b])
                if pair not in found and pair[::-1] not in found:
                    found[pair] = cue
    leads = [c["id"] for c in cast if c["role"] in ("protagonist", "deuteragonist")]
    if len(leads) == 2 and (leads[0], leads[1]) not in found and (leads[1], leads[0]) not in found:
        names = {c["id"]: c["name"] for c in cast}
        shared = [sc for sc in story.scenes if names[leads[0]] in sc.figures and names[leads[1]] in sc.figures]
        if shared:
            body = " ".join(story.text[sc.start : sc.end] for sc in shared)
            found[(leads[0], leads[1])] = next((k for word, k in RELATION_CUES if word in body), "companions")
    return [{"a": a, "b": b, "kind": kind} for (a, b), kind in found.items()]
