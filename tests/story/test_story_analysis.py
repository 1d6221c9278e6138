"""Scenes, beats, speakers, delivery, settings and the climax."""
from pathlib import Path

from mangaflow.story import analyse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LANTERN = (EXAMPLES / "lantern-festival.ja.txt").read_text(encoding="utf-8")
GARDENER = (EXAMPLES / "the-last-robot-gardener.en.txt").read_text(encoding="utf-8")


def dialogue(analysis) -> list[tuple[str | None, str]]:
    return [(b.speaker, b.text) for s in analysis.scenes for b in s.beats if b.kind == "dialogue"]


def test_lantern_speakers_follow_the_attributions():
    assert dialogue(analyse(LANTERN)) == [
        ("春香", "まだ灯籠、作ってるの？"),
        ("蒼太", "じいちゃんが倒れてから、誰も作ってない"),
        ("春香", "三日あれば、間に合うよ"),
        ("蒼太", "もう無理だ、やめよう"),
        ("春香", "おじいさんは、嵐の年ほど灯りがきれいだって言ってたよ"),
        ("蒼太", "来年も、作ろう"),
    ]


def test_gardener_speakers_include_a_continued_line_after_said_moss():
    assert dialogue(analyse(GARDENER)) == [
        ("Ines", "What are you doing?"),
        ("Moss", "Keeping the garden alive"),
        ("Moss", "Someone has to remember what soil smells like."),
    ]


def test_lantern_scenes_are_the_story_events_in_order_with_their_settings():
    scenes = analyse(LANTERN).scenes
    openings = [s.beats[0].text for s in scenes]
    assert openings[0].startswith("港町の夏祭りの夜")
    storm = next(s for s in scenes if any("嵐が来た" in b.text for b in s.beats))
    final = next(s for s in scenes if any("最終日の夕方" in b.text for b in s.beats))
    assert scenes.index(storm) < scenes.index(final)
    assert (storm.weather, storm.time_of_day, storm.place, storm.indoor) == ("storm", "night", "店", True)
    assert (final.time_of_day, final.place) == ("evening", "浜辺")
    assert final.climax and final.emotion == "climax"


def test_gardener_scene_breaks_at_time_shifts():
    scenes = analyse(GARDENER).scenes
    starts = [s.beats[0].text.split(",")[0].split(" ")[0:2] for s in scenes]
    assert [" ".join(x) for x in starts][:3] == ["In the", "Every morning", "One day"]
    climax = next(s for s in scenes if s.climax)
    assert climax.beats[0].text.startswith("On the last morning")


def test_every_scene_keeps_a_narration_beat():
    for text in (LANTERN, GARDENER, '"Hi." "Hello."'):
        assert all(any(b.kind != "dialogue" for b in s.beats) for s in analyse(text).scenes)


def test_delivery_shout_thought_and_sfx():
    text = "「待って！！」と春香は叫んだ。\n（どうしよう）\n「ドンドン！」\n蒼太は「うん」と言った。"
    deliveries = [(b.text, b.delivery) for s in analyse(text).scenes for b in s.beats if b.kind == "dialogue"]
    assert deliveries == [("待って！！", "shout"), ("どうしよう", "thought"), ("ドンドン！", "sfx"), ("うん", "speech")]


def test_english_shouted_attribution_is_a_shout():
    beats = [b for s in analyse('"Run," Ines shouted.').scenes for b in s.beats if b.kind == "dialogue"]
    assert [(b.speaker, b.delivery) for b in beats] == [("Ines", "shout")]


def test_unattributed_lines_alternate_between_two_speakers():
    text = '"Ready?" asked Mara.\n"Yes," said Theo.\n"Then go."\n"Going."'
    assert [s for s, _ in dialogue(analyse(text))] == ["Mara", "Theo", "Mara", "Theo"]


def test_a_line_right_after_an_attribution_continues_the_same_speaker():
    text = '"Yes," said Theo. "Then go."'
    assert [s for s, _ in dialogue(analyse(text))] == ["Theo", "Theo"]


def test_an_unknown_speaker_is_none():
    assert dialogue(analyse('The hall was empty. "Hello?"')) == [(None, "Hello?")]


def test_analysis_is_deterministic():
    first, second = analyse(LANTERN, max_scenes=10), analyse(LANTERN + "\n", max_scenes=10)
    assert dialogue(first) == dialogue(second)
    assert [(s.place, s.emotion, s.act) for s in first.scenes] == [(s.place, s.emotion, s.act) for s in second.scenes]


def test_long_story_is_capped_to_the_scene_limit_and_keeps_every_line():
    text = "\n\n".join(f'Day {i}. Mara met Theo at the pier. "Again?" asked Mara. "Again," said Theo.'
                       for i in range(600))[:50000]
    analysis = analyse(text, max_scenes=24)
    assert len(analysis.scenes) <= 24
    assert len(dialogue(analysis)) == len(analysis.quotes)


def test_html_and_template_syntax_is_just_text():
    text = '<div>{{ user }}</div>\n\n"SELECT * FROM t; --" she said.\n\n<script>alert("x")</script> ${name}'
    analysis = analyse(text)
    assert [t for _, t in dialogue(analysis)] == ["SELECT * FROM t; --", "x"]


def test_onomatopoeia_in_prose_becomes_a_sound_effect_beat():
    beats = [b for s in analyse("雷がゴロゴロと鳴った。春香は走った。").scenes for b in s.beats]
    assert ("ゴロゴロ", "sfx") in [(b.text, b.delivery) for b in beats]
    beats = [b for s in analyse("The door went BANG and Moss jumped.").scenes for b in s.beats]
    assert ("BANG!", "sfx") in [(b.text, b.delivery) for b in beats]


def test_pronouns_point_at_the_most_recent_matching_person():
    text = 'Mara met the old man at the gate. The old man frowned. "Late again," he said. "Sorry," she replied.'
    assert [s for s, _ in dialogue(analyse(text))] == ["the old man", "Mara"]
    text = "春香は蒼太を見た。「行こう」と彼女は言った。"
    assert [s for s, _ in dialogue(analyse(text))] == ["春香"]


def test_japanese_line_after_a_sentence_whose_subject_is_the_speaker():
    text = "美咲は立ち上がった。「帰ります」\n老人は黙ってうなずいた。"
    assert [s for s, _ in dialogue(analyse(text))] == ["美咲"]
