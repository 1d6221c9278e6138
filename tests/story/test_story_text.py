"""Quoted lines, language detection, sentences and captions."""
from mangaflow.story import detect_language, extract_quotes, has_control_characters, normalise
from mangaflow.story.text import sentences, shorten


def test_japanese_quotes_are_found_in_order_without_brackets():
    text = "「まだ？」と春香は聞いた。\n「うん」と蒼太は答えた。"
    assert [q.text for q in extract_quotes(text)] == ["まだ？", "うん"]


def test_a_quote_inside_a_quote_stays_part_of_the_outer_line():
    quotes = extract_quotes("彼は「母は『待って』と言った」と話した。")
    assert [q.text for q in quotes] == ["母は『待って』と言った"]


def test_straight_and_curly_english_quotes_and_the_attribution_comma():
    text = '"Keeping the garden alive," said Moss. “What now?” she asked.'
    assert [q.text for q in extract_quotes(text)] == ["Keeping the garden alive", "What now?"]


def test_an_unclosed_quote_does_not_swallow_the_story():
    text = '「これは閉じていない\n\n春香は走った。"Unclosed english\n\n"Closed," he said.'
    assert [q.text for q in extract_quotes(text)] == ["Closed"]


def test_empty_quotes_are_not_lines():
    assert extract_quotes("「」と言った。\"\" he said.") == []


def test_a_line_wholly_in_parentheses_is_an_inner_voice():
    quotes = extract_quotes("春香は走った。\n（間に合わない）\n")
    assert [(q.text, q.mark) for q in quotes] == [("間に合わない", "（")]


def test_language_is_japanese_when_any_kana_or_kanji_appears():
    assert detect_language("The sign said 祭り.") == "ja"
    assert detect_language("Plain English only.") == "en"


def test_control_characters_other_than_whitespace_are_binary():
    assert has_control_characters("abc\x00def")
    assert not has_control_characters("line one\nline two\ttab\r\n")


def test_normalise_unifies_line_endings():
    assert normalise("a\r\nb\rc  \n") == "a\nb\nc"


def test_sentences_split_japanese_and_english_prose():
    assert sentences("雨が降った。店は暗い。", "ja") == ["雨が降った。", "店は暗い。"]
    assert sentences("It rained. The shop was dark!", "en") == ["It rained.", "The shop was dark!"]


def test_shorten_cuts_at_a_clause_and_marks_the_cut():
    long = "浜辺には町じゅうの人が集まり、百個の灯籠が次々と海へ送り出され、空には星が瞬いていた。"
    short = shorten(long, "ja", 30)
    assert len(short) <= 30 and short.endswith("…") and short.startswith("浜辺には")
