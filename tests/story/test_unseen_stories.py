"""Stories the analysis was not written against (tests/story/unseen/): who is in them, who says
each line where the text says it, where each scene happens, and every quoted line exactly once."""
from pathlib import Path

import pytest

from mangaflow.offline.cast import characters as offline_cast
from mangaflow.story import analyse

UNSEEN = Path(__file__).resolve().parent / "unseen"


def read(name: str) -> str:
    return (UNSEEN / name).read_text(encoding="utf-8")


def figures(name: str) -> dict:
    return {f.name: f for f in analyse(read(name)).figures}


def lines(name: str) -> list[tuple[str | None, str]]:
    return [(b.speaker, b.text) for s in analyse(read(name)).scenes for b in s.beats if b.kind == "dialogue"]


def speaker_of(name: str, start: str) -> str | None:
    found = [who for who, text in lines(name) if text.startswith(start)]
    assert len(found) == 1, (start, lines(name))
    return found[0]


def places(name: str) -> list[tuple[str, bool]]:
    return [(s.place, s.indoor) for s in analyse(read(name)).scenes]


def roles(name: str) -> dict[str, str]:
    return {c["name"]: c["role"] for c in offline_cast({"text": read(name)}, None)["characters"]}


@pytest.mark.parametrize("name", sorted(p.name for p in UNSEEN.glob("*.txt")))
def test_every_quoted_line_is_one_dialogue_beat_in_story_order(name):
    analysis = analyse(read(name))
    assert [t for _, t in lines(name)] == [q.text for q in analysis.quotes]


@pytest.mark.parametrize("name", sorted(p.name for p in UNSEEN.glob("*.en.txt")))
def test_no_narration_beat_is_a_fragment_left_by_an_attribution(name):
    for scene in analyse(read(name)).scenes:
        for beat in scene.beats:
            if beat.kind != "dialogue":
                assert beat.text[:1].isupper() or not beat.text[:1].isalpha(), beat.text
                assert len(beat.text.split()) >= 2, beat.text


# ---------------------------------------------------------------- no names, English

def test_nameless_lighthouse_story_has_the_old_woman_and_the_fisherman_but_no_light():
    found = figures("nonames.en.txt")
    assert set(found) == {"the old woman", "the fisherman"}
    woman = found["the old woman"]
    assert (woman.gender, woman.age) == ("female", "elder")
    assert found["the fisherman"].age == "adult"
    cast = {c["name"]: c for c in offline_cast({"text": read("nonames.en.txt")}, None)["characters"]}
    assert cast["the old woman"]["figure"]["hair_style"] in ("bun", "long")
    assert cast["the old woman"]["palette"]["hair"] in ("#9a9a9a", "#e8e6e1", "#b9c2cc")  # grey, white, silver


def test_nameless_lighthouse_lines_belong_to_the_old_woman_through_she():
    assert [who for who, _ in lines("nonames.en.txt")] == ["the old woman", "the old woman"]
    texts = [b.text for s in analyse(read("nonames.en.txt")).scenes for b in s.beats]
    assert not any(t.lower().startswith("to the cat") for t in texts)


# ---------------------------------------------------------------- no quotes, Japanese

def test_quoteless_japanese_story_finds_the_old_man_and_keeps_the_grandmother_minor():
    found = figures("noquotes.ja.txt")
    assert {"老人", "美咲"} <= set(found)
    assert (found["老人"].gender, found["老人"].age) == ("male", "elder")
    cast = roles("noquotes.ja.txt")
    assert cast["老人"] in ("protagonist", "deuteragonist")
    assert cast.get("祖母", "minor") == "minor"
    # mentioned in a reported sentence only: never on stage
    assert all("祖母" not in s.figures for s in analyse(read("noquotes.ja.txt")).scenes)


def test_quoteless_japanese_scenes_follow_the_station_the_cafe_and_the_hill():
    seen = places("noquotes.ja.txt")
    order = [p for p, _ in seen]
    assert order[0] in ("駅", "駅前")
    assert ("喫茶店", True) in seen and ("丘", False) in seen
    assert order.index("喫茶店") < order.index("丘")


# ---------------------------------------------------------------- fairy tale

def test_fairy_tale_people_are_the_king_the_princess_and_the_woodcutter():
    found = figures("fairytale.en.txt")
    assert {"the king", "the princess", "the woodcutter"} <= set(found)
    assert found["the king"].gender == "male" and found["the princess"].gender == "female"
    assert not {"Once", "Father", "Thieves"} & set(found)


def test_fairy_tale_speakers_follow_said_pronouns_and_the_sentence_before():
    assert speaker_of("fairytale.en.txt", "Father, I will find it") == "the princess"
    assert speaker_of("fairytale.en.txt", "You are only a child") == "the king"  # "The king laughed."
    assert speaker_of("fairytale.en.txt", "Have you seen") == "the princess"  # "she asked"
    assert speaker_of("fairytale.en.txt", "Thieves love") == "the woodcutter"  # "he said"
    assert speaker_of("fairytale.en.txt", "My clever girl") == "the king"


def test_fairy_tale_scenes_go_from_the_castle_to_the_forest_and_back():
    order = [p for p, _ in places("fairytale.en.txt")]
    assert "castle" in order and "forest" in order
    assert order.index("castle") < order.index("forest") and order[-1] == "castle"
    final = analyse(read("fairytale.en.txt")).scenes[-1]
    assert {"the king", "the princess"} <= set(final.figures)  # "she returned": the princess is there


# ---------------------------------------------------------------- school, Japanese, honorifics

def test_school_story_people_carry_their_honorifics_as_aliases():
    found = figures("school.ja.txt")
    assert {"山田", "健太", "佐藤", "結衣"} <= set(found)
    assert "山田さん" in found["山田"].aliases and "健太くん" in found["健太"].aliases
    assert "佐藤先生" in found["佐藤"].aliases and found["佐藤"].age == "adult"
    assert not {"佐藤先生", "先生", "女の子"} & set(found)


def test_school_story_speakers_follow_the_attributions():
    assert [who for who, _ in lines("school.ja.txt")] == ["山田", "健太", "佐藤", "結衣", "山田", "結衣", "健太"]


def test_school_story_places_are_the_classroom_the_rooftop_and_the_schoolyard():
    assert [p for p, _ in places("school.ja.txt")] == ["教室", "屋上", "校庭"]


# ---------------------------------------------------------------- first person

def test_english_first_person_narrator_is_the_lead_and_speaks_as_i():
    found = figures("firstperson.en.txt")
    assert "the narrator" in found and "the baker" in found
    assert found["the baker"].gender == "female"
    assert roles("firstperson.en.txt")["the narrator"] == "protagonist"
    assert [who for who, _ in lines("firstperson.en.txt")] == [
        "the baker", "the narrator", "the baker", "the baker", "the baker"]
    assert "my grandmother" not in found and "the grandmother" not in found  # only told about


def test_japanese_first_person_boku_is_a_male_lead():
    found = figures("firstperson.ja.txt")
    assert found["僕"].narrator and found["僕"].gender == "male"
    assert (found["女の子"].gender, found["女の子"].age) == ("female", "child")
    assert roles("firstperson.ja.txt")["僕"] == "protagonist"
    assert [who for who, _ in lines("firstperson.ja.txt")] == ["僕", "女の子", "女の子"]


def test_japanese_first_person_scenes_move_from_the_river_road_to_the_police_box():
    order = [p for p, _ in places("firstperson.ja.txt")]
    assert order[0] in ("川", "道") and "橋" in order and order[-1] == "交番"


# ---------------------------------------------------------------- attribution before the line

def test_lines_attributed_before_they_are_spoken():
    assert [who for who, _ in lines("before.en.txt")] == ["Mara", "Theo", "Mara", "Theo", "the driver"]
    narration = [b.text for s in analyse(read("before.en.txt")).scenes for b in s.beats if b.kind != "dialogue"]
    assert "After an hour Mara stopped." in narration and "Theo turned around." in narration
    assert not any(t.startswith("Mara said") for t in narration)


def test_sentence_starters_of_the_bus_story_are_not_people():
    assert set(figures("before.en.txt")) == {"Mara", "Theo", "the driver"}


# ---------------------------------------------------------------- alone

def test_a_character_alone_says_every_line():
    found = figures("alone.ja.txt")
    assert list(found) == ["正雄"] and found["正雄"].gender == "male"
    assert [who for who, _ in lines("alone.ja.txt")] == ["正雄", "正雄"]
    scenes = analyse(read("alone.ja.txt")).scenes
    assert scenes[0].place == "灯台" and scenes[0].weather == "storm" and scenes[0].time_of_day == "night"
