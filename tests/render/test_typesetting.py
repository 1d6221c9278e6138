"""Typesetting: vertical columns obey kinsoku, glyphs take their vertical forms, English wraps
at words, and fit_text never returns lines bigger than the box."""
from __future__ import annotations

import random

import pytest

from mangaflow.render.typesetting import (
    NO_COLUMN_END, NO_COLUMN_START, SOFT_HYPHEN_MARK, TextDoesNotFit, block_size, break_vertical, fit_text,
    join_lines, vertical_cells, vertical_glyph, wrap_horizontal,
)
from mangaflow.render.fonts import get_font


def starts(columns):
    return [c[0] for c in columns[1:]]


@pytest.mark.parametrize("mark", list("、。」』）！？ー"))
def test_closing_marks_never_start_a_column(mark):
    # The mark would fall exactly at the start of column 2 with greedy breaking.
    text = "あいうえお" + mark + "かきくけこさしすせそ"
    columns = break_vertical(text, 5)
    assert join_lines(columns, True) == text
    assert all(c[0] != mark for c in columns[1:]), columns
    assert all(len(vertical_cells(c)) <= 5 for c in columns)


@pytest.mark.parametrize("kana", list("ぁぃぅぇぉっゃゅょァィゥェォッャュョ"))
def test_small_kana_never_start_a_column(kana):
    text = "カタカナも" + kana + "ひらがなもまぜて"
    columns = break_vertical(text, 5)
    assert all(c[0] not in "ぁぃぅぇぉっゃゅょァィゥェォッャュョ" for c in columns[1:]), columns


@pytest.mark.parametrize("bracket", list("「『（"))
def test_opening_brackets_never_end_a_column(bracket):
    text = "まえおきです" + bracket + "なかみ" + {"「": "」", "『": "』", "（": "）"}[bracket] + "あと"
    columns = break_vertical(text, 7)
    assert all(c[-1] != bracket for c in columns), columns
    assert join_lines(columns, True) == text


def test_kinsoku_holds_over_many_random_texts():
    rng = random.Random(7)
    alphabet = "あいうえおかきくけこ灯籠祭夜海、。「」『』！？ーっゃ"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 40)))
        n = rng.randint(3, 9)
        columns = break_vertical(text, n)
        assert join_lines(columns, True) == text
        for k, column in enumerate(columns):
            assert len(vertical_cells(column)) <= n
        for a, b in zip(columns, columns[1:]):
            # A legal break existed whenever the column was not all forbidden characters.
            if a[-1] in NO_COLUMN_END or b[0] in NO_COLUMN_START:
                cells = vertical_cells(a)
                assert all(x[0] in NO_COLUMN_START or y[-1] in NO_COLUMN_END
                           for y, x in zip(cells, cells[1:] + vertical_cells(b)[:1])), (a, b)


def test_breaks_fall_between_phrases_when_they_can():
    assert break_vertical("じいちゃんが倒れてから、誰も作ってない", 7) == ["じいちゃんが", "倒れてから、", "誰も作ってない"]


def test_vertical_forms_of_brackets_and_punctuation():
    assert vertical_glyph("「").text == "﹁" and vertical_glyph("」").text == "﹂"
    assert vertical_glyph("『").text == "﹃" and vertical_glyph("』").text == "﹄"
    assert vertical_glyph("、").text == "︑" and vertical_glyph("。").text == "︒"
    assert vertical_glyph("（").text == "︵"


def test_long_vowel_ellipsis_and_dash_turn_vertical():
    assert vertical_glyph("ー").rotate
    assert vertical_glyph("〜").rotate
    assert vertical_glyph("…").text == "︙"
    assert vertical_glyph("―").text == "︱"


def test_small_kana_sit_up_and_right():
    glyph = vertical_glyph("ゃ")
    assert glyph.dx_em > 0 and glyph.dy_em < 0 and not glyph.rotate


def test_exclamation_and_question_stay_upright():
    assert vertical_glyph("！") == vertical_glyph("！")
    assert not vertical_glyph("！").rotate and vertical_glyph("！").text == "！"
    assert vertical_glyph("?").text == "？"


def test_two_digits_share_one_cell_tate_chu_yoko():
    assert vertical_cells("12時") == ["12", "時"]
    assert vertical_glyph("12").tate_chu_yoko
    assert vertical_cells("100個") == ["1", "0", "0", "個"]
    assert vertical_cells("え!?") == ["え", "!?"] and vertical_glyph("!?").tate_chu_yoko


def test_english_wraps_at_words():
    lines = wrap_horizontal("Keeping the garden alive. Someone has to remember what soil smells like.", "sans", 38, 300)
    font = get_font("sans", 38)
    assert all(font.getlength(line) <= 300 for line in lines)
    assert all(not line.endswith(SOFT_HYPHEN_MARK) for line in lines)
    assert join_lines(lines, False) == "Keeping the garden alive. Someone has to remember what soil smells like."


def test_only_a_word_longer_than_the_line_is_split():
    lines = wrap_horizontal("a supercalifragilisticexpialidocious day", "sans", 38, 200)
    font = get_font("sans", 38)
    assert any(line.endswith(SOFT_HYPHEN_MARK) for line in lines)
    assert all(font.getlength(line) <= 200 for line in lines)
    assert join_lines(lines, False) == "a supercalifragilisticexpialidocious day"


@pytest.mark.parametrize("vertical", [True, False])
def test_fit_text_never_exceeds_the_box(vertical):
    rng = random.Random(11)
    ja_words = ["灯籠", "まだ", "作ってる", "の？", "嵐の夜", "、", "きれいだ", "。", "「来年も」", "百個"]
    en_words = ["lantern", "festival", "the", "garden", "is", "alive,", "Moss", "counted", "bees.", "extraordinarily"]
    for _ in range(120):
        words = [rng.choice(ja_words if vertical else en_words) for _ in range(rng.randint(1, 14))]
        text = ("" if vertical else " ").join(words)
        box = (rng.randint(60, 700), rng.randint(60, 700))
        family = rng.choice(["sans", "serif"])
        try:
            size, lines = fit_text(text, box, vertical, family, 20, 90)
        except TextDoesNotFit:
            continue
        w, h = block_size(lines, size, vertical, family)
        assert w <= box[0] + 1e-6 and h <= box[1] + 1e-6
        assert "".join(join_lines(lines, vertical).split()) == "".join(text.split())
        if size < 90:  # the next size up must not have fitted
            with pytest.raises(TextDoesNotFit):
                fit_text(text, box, vertical, family, size + 1, size + 1)


def test_fit_text_reports_text_that_cannot_fit():
    with pytest.raises(TextDoesNotFit, match="even at 26 px"):
        fit_text("おじいさんは、嵐の年ほど灯りがきれいだって言ってたよ", (40, 40), True, "sans", 26, 40)
