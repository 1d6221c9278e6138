"""Who is in the story: names from janome and from English capitalisation."""
from pathlib import Path

from mangaflow.story import analyse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def figures(text: str) -> dict:
    return {f.name: f for f in analyse(text).figures}


def test_lantern_festival_people_are_haruka_sota_and_the_grandfather():
    found = figures((EXAMPLES / "lantern-festival.ja.txt").read_text(encoding="utf-8"))
    assert list(found) == ["春香", "蒼太", "祖父"]
    assert set(found["祖父"].aliases) == {"祖父", "じいちゃん", "おじいさん"}
    assert found["祖父"].age == "elder" and found["祖父"].kin_of == "蒼太"


def test_robot_gardener_people_include_moss_ines_and_the_chief_inspector():
    found = figures((EXAMPLES / "the-last-robot-gardener.en.txt").read_text(encoding="utf-8"))
    assert {"Moss", "Ines", "the Chief Inspector", "the City Council"} <= set(found)
    assert found["Moss"].kind == "robot"
    assert found["Ines"].gender == "female"
    assert "the Council" in found["the City Council"].aliases
    assert not {"Veyra", "Academy", "One", "Then", "Every"} & set(found)


def test_japanese_names_before_honorifics_and_katakana_subjects():
    found = figures("田中さんは店に来た。ミナは笑った。ミナが走った。")
    assert {"田中", "ミナ"} <= set(found)
    assert "田中さん" in found["田中"].aliases


def test_onomatopoeia_tagged_as_a_name_is_not_a_person():
    assert "ドンドン" not in figures("ドンドンと太鼓が鳴った。春香は笑った。")


def test_romanised_names_in_japanese_prose():
    assert {"Anna", "Tom"} <= set(figures("東京でAnnaは「Hello!」と言った。Tomは「こんにちは」と返した。"))


def test_english_months_pronouns_and_sentence_starters_are_not_names():
    text = "In March the snow melted. She walked to town. Then it rained. However, nobody came."
    assert figures(text) == {}


def test_a_story_without_names_has_unnamed_figures_when_someone_speaks():
    found = figures('"Who is there?" she asked. The door creaked.')
    assert list(found) == ["the stranger"]


def test_generic_people_stand_in_when_nobody_is_named():
    found = figures("The old man fed the pigeons. The girl watched him from the bench.")
    assert {"the old man", "the girl"} <= set(found)


def test_a_capitalised_sentence_opener_is_not_a_name_but_a_named_speaker_is():
    assert "Light" not in figures("The lamp turned. Light swept across the water.")
    assert "Dawn" in figures('"Wait," said Dawn. Dawn ran to the gate.')


def test_role_nouns_are_people_and_the_other_man_is_someone_else():
    found = figures("The man opened the door. The other man waited. The man sighed.")
    assert list(found) == ["the man"]
    found = figures("A soldier stood at the gate. The soldier was tired. Mara walked past the soldier.")
    assert "the soldier" in found and "Mara" not in found or found["the soldier"].mentions == 3


def test_a_role_that_introduces_a_name_is_that_person():
    found = figures('A girl called Pia lived by the sea. Every day the girl swam. "Cold!" said Pia.')
    assert "Pia" in found and "the girl" not in found
    assert "the girl" in found["Pia"].aliases


def test_japanese_roles_and_first_person():
    found = figures("少女は駅で待っていた。少女が顔を上げると、男が立っていた。")
    assert "少女" in found and found["少女"].gender == "female"
    found = figures("私は窓の外を見た。私は少し笑った。")
    assert found["私"].narrator


def test_someone_only_remembered_is_a_figure_but_never_on_stage():
    analysis = analyse("Her father had died years ago. The girl walked to the river. The girl sat down.")
    assert "the girl" in {f.name for f in analysis.figures}
    assert all("her father" not in s.figures for s in analysis.scenes)
