"""Offline phase 1: theme, genre, tone, audience and world from word lists over the story."""
from __future__ import annotations

from .feedback import Request, read as read_feedback
from .common import STYLES, language_of, pages_of, reading_direction, story_of, style_of
from ..story import StoryAnalysis
from ..story.text import sentences, shorten

# (words that suggest it, English theme, Japanese theme)
THEMES = [
    (("再会", "幼なじみ", "reunion", "came back", "returned"), "reunion", "再会"),
    (("祖父", "祖母", "じいちゃん", "grandfather", "grandmother", "family", "家族"), "family and legacy", "家族と継承"),
    (("祭り", "灯籠", "伝統", "festival", "tradition"), "keeping a tradition alive", "伝統を守ること"),
    (("garden", "bees", "soil", "seed", "花", "庭", "green"), "nature and care", "自然といたわり"),
    (("robot", "machine", "ロボット", "機械"), "what makes us human", "人間らしさとは"),
    (("remember", "memory", "思い出", "記憶"), "memory", "記憶"),
    (("友", "friend", "together", "二人"), "friendship", "友情"),
    (("嵐", "storm", "無理", "cleared", "recycled"), "perseverance against loss", "喪失に抗う粘り強さ"),
    (("恋", "love", "好き"), "first love", "初恋"),
    (("戦", "fight", "battle", "敵"), "courage", "勇気"),
]
AUDIENCE = {
    "shonen": "teens 12-18 who like adventure and growth",
    "shojo": "teens 12-18 who like feelings and relationships",
    "seinen": "adults 18+ who like layered, quieter drama",
    "josei": "adult women 18+ who like realistic relationships",
    "kodomo": "children 6-11 and their families",
}
TONE_LADDER = ["somber", "serious", "bittersweet", "warm", "hopeful", "bright"]


def concept(inputs: dict, feedback: dict | None) -> dict:
    story = story_of(inputs)
    request = read_feedback(feedback, 1)
    language = language_of(inputs)
    themes = _themes(story)
    genre = _genre(story, style_of(inputs), request)
    tone = _tone(story, request)
    audience = AUDIENCE[genre]
    if request.wants("change_target_age"):
        genre, audience = _retarget(genre, request)
    dialogue_lines = len(story.quotes)
    estimated = max(1, min(32, round(len(story.scenes) * 1.1 + dialogue_lines / 6 + len(story.text) / 4000)))
    title = str(inputs.get("title") or "").strip() or _title(story, themes)
    return {
        "theme": themes[0],
        "themes": themes,
        "genre": genre,
        "world_setting": _world(story),
        "target_audience": audience,
        "tone": tone,
        "keywords": story.keywords,
        "estimated_pages": estimated,
        "story_context": {
            "language": language,
            "title": title,
            "summary": _summary(story),
            "style": style_of(inputs) or genre,
            "pages": pages_of(inputs),
            "reading_direction": reading_direction(language),
        },
    }


def _themes(story: StoryAnalysis) -> list[str]:
    probe = story.text.lower()
    scored = []
    for index, (words, en, ja) in enumerate(THEMES):
        hits = sum(probe.count(w.lower()) for w in words)
        if hits:
            scored.append((-hits, index, ja if story.language == "ja" else en))
    themes = [t for _, _, t in sorted(scored)][:4]
    if not themes:
        word = story.keywords[0] if story.keywords else ("日常" if story.language == "ja" else "everyday life")
        themes = [f"{word}をめぐる物語" if story.language == "ja" else f"a story about {word}"]
    return themes


def _genre(story: StoryAnalysis, style: str, request: Request) -> str:
    if request.wants("change_genre"):
        named = [g for g in STYLES if g in request.text.lower()]
        ja_names = {"少年": "shonen", "少女": "shojo", "青年": "seinen", "女性": "josei", "子供": "kodomo"}
        named += [g for word, g in ja_names.items() if word in request.text]
        current = style or _genre_from_story(story)
        if named and named[0] != current:
            return named[0]
        return STYLES[(STYLES.index(current) + 1) % len(STYLES)]
    return style or _genre_from_story(story)


def _genre_from_story(story: StoryAnalysis) -> str:
    emotions = [s.emotion for s in story.scenes]
    if any(w in story.text for w in ("戦", "fight", "battle")):
        return "shonen"
    if story.language == "ja" and any(f.gender == "female" for f in story.figures[:1]):
        return "shojo"
    if emotions.count("tension") > len(emotions) / 2:
        return "seinen"
    return "shonen" if story.language == "en" else "shojo"


def _tone(story: StoryAnalysis, request: Request) -> str:
    emotions = [s.emotion for s in story.scenes]
    warm = sum(e in ("warm", "joy") for e in emotions)
    dark = sum(e in ("tension", "sad") for e in emotions)
    if warm and dark:
        base = "bittersweet" if story.scenes[-1].emotion not in ("warm", "joy") else "hopeful"
    elif dark:
        base = "serious"
    elif warm:
        base = "warm"
    else:
        base = "warm" if "mystery" not in emotions else "serious"
    index = TONE_LADDER.index(base)
    steps = 1 + round(request.intensity * 2)
    if request.wants("brighter"):
        index = min(len(TONE_LADDER) - 1, index + steps)
    elif request.wants("more_serious"):
        index = max(0, index - steps)
    return TONE_LADDER[index]


def _retarget(genre: str, request: Request) -> tuple[str, str]:
    text = request.text.lower()
    if any(w in text for w in ("younger", "children", "kids", "子供")):
        return "kodomo", AUDIENCE["kodomo"]
    if any(w in text for w in ("older", "adult", "大人")):
        target = "josei" if genre in ("shojo", "josei") else "seinen"
        return target, AUDIENCE[target]
    ladder = ["kodomo", "shonen", "seinen"]
    current = ladder.index(genre) if genre in ladder else 1
    target = ladder[min(2, current + 1)]
    return target, AUDIENCE[target]


def _world(story: StoryAnalysis) -> str:
    first = sentences(story.text[:600], story.language)
    opening = shorten(first[0], story.language, 70 if story.language == "ja" else 160) if first else ""
    places = list(dict.fromkeys(story.places))[:4]
    joiner = "・" if story.language == "ja" else ", "
    label = "舞台: " if story.language == "ja" else "Settings: "
    return (opening + (" / " if opening else "") + label + joiner.join(places)).strip()


def _summary(story: StoryAnalysis) -> str:
    picks = []
    for scene in [story.scenes[0]] + [s for s in story.scenes if s.climax] + [story.scenes[-1]]:
        beat = next((b for b in scene.beats if b.kind != "dialogue"), None)
        if beat and beat.text not in picks:
            picks.append(beat.text)
    return (" " if story.language == "en" else "").join(picks)[:400]


def _title(story: StoryAnalysis, themes: list[str]) -> str:
    word = story.keywords[0] if story.keywords else themes[0]
    if story.language == "ja":
        return f"{word}の夜" if any(s.time_of_day == "night" for s in story.scenes) else f"{word}の物語"
    lead = next((f.name for f in story.figures if f.named and f.kind != "group"), None)
    return f"{lead} and the {word.title()}" if lead and lead.lower() != word else f"The {word.title()}"
