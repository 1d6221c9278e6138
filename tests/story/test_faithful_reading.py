"""The issue's three reproductions, and the rules behind them: clauses kept whole around quotes, one
identity per person (Japanese and English), places from words of their own, and in-order coverage."""
from __future__ import annotations

import pytest

from mangaflow.story import analyse, extract_quotes
from mangaflow.story.coverage import coverage
from mangaflow.story.text import caption_spans, sentence_spans


def figures(text: str) -> dict:
    return {f.name: f for f in analyse(text).figures}


def beats(text: str) -> list[tuple[str, str, str | None]]:
    return [(b.kind, b.text, b.speaker) for s in analyse(text).scenes for b in s.beats]


# ---------------------------------------------------------------- the reproductions

def test_the_clause_before_a_quote_is_kept_whole():
    text = "ところが部員の一人、新入りの山田太郎が「俺は試合には出ない」と言い出した。"
    found = analyse(text)
    assert [b[:2] for b in beats(text)] == [("action", "ところが部員の一人、新入りの山田太郎が"),
                                            ("dialogue", "俺は試合には出ない")]
    assert beats(text)[1][2] == "山田太郎"
    assert [text[a:b] for a, b in found.attributions] == ["と言い出した。"]


def test_a_full_name_and_a_given_name_are_one_person():
    found = figures("山田太郎は部室に入った。太郎は「おはよう」と言った。")
    assert list(found) == ["山田太郎"] and {"山田", "太郎"} <= set(found["山田太郎"].aliases)
    assert beats("山田太郎は部室に入った。太郎は「おはよう」と言った。")[1][2] == "山田太郎"


def test_a_titled_full_name_its_given_and_family_names_are_one_person():
    text = 'Captain Eleanor Vance walked into the harbour office. "We sail at dawn," said Eleanor. Vance looked up.'
    found = figures(text)
    assert list(found) == ["Eleanor Vance"]
    assert {"Captain Eleanor Vance", "Eleanor", "Vance", "Captain Vance"} <= set(found["Eleanor Vance"].aliases)


def test_a_club_is_not_a_road():
    scene = analyse("柔道部の練習は厳しかった。").scenes[0]
    assert (scene.place, scene.indoor) == ("道場", True)


# ---------------------------------------------------------------- one identity per person

@pytest.mark.parametrize("text, name, aliases", [
    ("佐藤部長が入ってきた。部長は「集合」と言った。佐藤は笑った。", "佐藤", {"佐藤部長", "部長"}),
    ("高橋先生が黒板に向かった。「静かに」と先生が言った。", "高橋", {"高橋先生", "先生"}),
    ("鈴木先輩は窓際にいた。先輩は「遅いぞ」と言った。", "鈴木", {"鈴木先輩", "先輩"}),
    ("翔くんは走った。翔は転んだ。", "翔", {"翔くん"}),
    ("兄の大樹が手を振った。大樹は笑った。兄は歩き出した。", "大樹", {"兄"}),
    ("太郎は皆に「タロちゃん」と呼ばれている。太郎は笑った。", "太郎", {"タロちゃん", "タロ"}),
    ("美羽は走った。近所の子どもたちは、美羽のことを「みーちゃん」と呼ぶ。", "美羽", {"みーちゃん"}),
])
def test_japanese_names_titles_and_nicknames_are_one_person(text, name, aliases):
    found = figures(text)
    assert name in found and aliases <= set(found[name].aliases), {n: f.aliases for n, f in found.items()}
    assert len([f for f in found.values() if not f.narrator]) == 1


def test_a_shared_family_name_stays_apart():
    found = figures("山田太郎と山田花子は兄妹だ。山田太郎は走った。山田花子は笑った。山田は黙っていた。")
    assert {"山田太郎", "山田花子"} <= set(found)
    assert "山田" not in found["山田太郎"].aliases and "山田" not in found["山田花子"].aliases


@pytest.mark.parametrize("text, name, aliases", [
    ('Dr. Amara Okafor opened the door. "Come in," said Amara. The doctor smiled.', "Amara Okafor",
     {"Dr. Amara Okafor", "Amara", "Dr. Okafor", "the doctor"}),
    ("Mr. Lee peeled potatoes. Mr. Lee hummed.", "Mr. Lee", {"Lee"}),
    ("Thomas Reed was tall, and everyone called him Stretch. Thomas ran.", "Thomas Reed", {"Thomas", "Stretch"}),
    ("She had promised her brother Erik a visit. Erik waited at the door.", "Erik", {"her brother"}),
    ("My mother, Ruth Hale, worked nights. Ruth laughed a lot.", "Ruth Hale", {"Ruth", "my mother"}),
    ("The clerk, a thin young man named Oliver Pratt, looked up. Oliver sighed.", "Oliver Pratt",
     {"Oliver", "the clerk"}),
])
def test_english_names_titles_appositions_and_nicknames_are_one_person(text, name, aliases):
    found = figures(text)
    assert name in found and aliases <= set(found[name].aliases), {n: f.aliases for n, f in found.items()}


def test_a_sentence_does_not_end_at_a_title():
    text = "Dr. Okafor opened the door. Mr. Lee waved."
    assert [text[a:b] for a, b in sentence_spans(text, 0, len(text), "en")] == ["Dr. Okafor opened the door.",
                                                                                 "Mr. Lee waved."]


# ---------------------------------------------------------------- speakers

def test_a_line_that_calls_someone_by_name_is_not_theirs_and_they_answer():
    text = "昼休み、美咲は屋上で鈴木を見つけた。鈴木はフェンスにもたれていた。\n「鈴木さん、本当ですか」\n「本当だよ」"
    assert [b[2] for b in beats(text) if b[0] == "dialogue"] == ["美咲", "鈴木"]


def test_a_story_told_only_in_dialogue_has_the_people_it_calls_by_name():
    text = '"Is anybody there?"\n"Down here."\n"Marcus? Is that you?"\n"Who else, Nell?"'
    assert [b[2] for b in beats(text) if b[0] == "dialogue"] == ["Nell", "Marcus", "Nell", "Marcus"]


def test_the_subject_after_a_line_on_its_own_says_who_spoke():
    text = "中には貝殻が残っていた。\n「お帰り」\n振り向くと、叔母の恵子さんが立っていた。"
    assert [b[2] for b in beats(text) if b[0] == "dialogue"] == ["恵子"]


# ---------------------------------------------------------------- places

@pytest.mark.parametrize("text, place, indoor", [
    ("月曜の朝、会議室の空気は重かった。", "会議室", True),  # 空 in 空気 is no sky
    ("家族と家に帰った。", "家", True),  # 家 in 家族 is no house, the next 家 is
    ("山田は校庭で待っていた。", "校庭", False),  # 山 in 山田 is no mountain
    ("金曜の夜、二人は駅前の居酒屋にいた。", "居酒屋", True),  # AのB: the narrower place
    ("坂を下りきると、浜辺には誰もいなかった。", "浜辺", False),  # the slope is passed through
    ("Dr. Park waited in the kitchen.", "kitchen", True),  # Park is a name
    ("Dr. Amara Okafor had invited the whole street, and her kitchen was full.", "kitchen", True),
])
def test_places_come_from_words_of_their_own(text, place, indoor):
    scene = analyse(text).scenes[0]
    assert (scene.place, scene.indoor) == (place, indoor)


def test_a_flashback_scene_is_where_the_memory_is():
    text = "私は駅に降りた。\n\n十年前の夏、私は毎朝浜辺へ走った。祖母が待っていた。"
    assert [s.place for s in analyse(text).scenes] == ["駅", "浜辺"]


# ---------------------------------------------------------------- mechanics

def test_a_quoted_name_or_label_is_part_of_the_prose_not_a_line():
    text = '太郎は皆に「タロちゃん」と呼ばれている。黒板に「候補」と書いた。Everyone called him "Stretch". "Hi," she said.'
    assert [q.text for q in extract_quotes(text)] == ["Hi"]


def test_a_long_sentence_becomes_captions_cut_only_at_clause_ends():
    text = "浜辺には町じゅうの人が集まり、百個の灯籠が次々と海へ送り出され、空には星が瞬いていた。"
    pieces = [text[a:b] for a, b in caption_spans(text, (0, len(text)), "ja", 20)]
    assert "".join(pieces) == text and all(p.endswith(("、", "。")) for p in pieces)


def test_coverage_counts_in_order_and_ignores_punctuation_and_case():
    story = "Mara stopped. \"Why?\" she asked. The bus came."
    found = coverage(story, ["Mara stopped", "why", "THE BUS CAME"])
    assert found.lettered == found.total - len("sheasked")
    found = coverage(story, ["THE BUS CAME", "Mara stopped"])  # told out of order: the second covers nothing
    assert found.lettered == len("thebuscame")


def test_coverage_separates_attributions_condensed_and_lost():
    story = "「行こう」と春香は言った。浜辺は静かだった。"
    found = coverage(story, ["行こう"], exempt=[(5, 13)], condensed=[(13, 22)])
    assert (found.lettered, found.exempt, found.condensed, found.lost_chars) == (3, 7, 8, 0)
    assert found.kept == pytest.approx(10 / 18) and found.accounted == 1.0
    assert coverage(story, ["行こう"]).lost == [(5, 21)]
