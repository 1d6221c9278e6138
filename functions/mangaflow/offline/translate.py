"""The offline stand-in for translation: no model, so no real translation. It is deterministic and says
what it is: Japanese becomes its reading in romaji (from janome's readings) and English keeps its words,
each line marked as a stand-in, so a book translated offline is never mistaken for a translated one.
Vertex AI (Gemini) does the real work; the local Vertex stand-in answers with these same lines."""
from __future__ import annotations

from typing import Iterable

STAND_IN_MARK = {"en": "[stand-in]", "ja": "［仮訳］"}

# Katakana to Hepburn romaji; hiragana is shifted to katakana first.
_DIGRAPHS = {
    "キャ": "kya", "キュ": "kyu", "キョ": "kyo", "シャ": "sha", "シュ": "shu", "ショ": "sho", "チャ": "cha",
    "チュ": "chu", "チョ": "cho", "ニャ": "nya", "ニュ": "nyu", "ニョ": "nyo", "ヒャ": "hya", "ヒュ": "hyu",
    "ヒョ": "hyo", "ミャ": "mya", "ミュ": "myu", "ミョ": "myo", "リャ": "rya", "リュ": "ryu", "リョ": "ryo",
    "ギャ": "gya", "ギュ": "gyu", "ギョ": "gyo", "ジャ": "ja", "ジュ": "ju", "ジョ": "jo", "ビャ": "bya",
    "ビュ": "byu", "ビョ": "byo", "ピャ": "pya", "ピュ": "pyu", "ピョ": "pyo", "ティ": "ti", "ディ": "di",
    "ファ": "fa", "フィ": "fi", "フェ": "fe", "フォ": "fo", "ウィ": "wi", "ウェ": "we", "シェ": "she",
    "ジェ": "je", "チェ": "che",
}
_KANA = dict(zip(
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポァィゥェォャュョヴ",
    "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho ma mi mu me mo "
    "ya yu yo ra ri ru re ro wa o n ga gi gu ge go za ji zu ze zo da ji zu de do ba bi bu be bo pa pi pu pe po "
    "a i u e o ya yu yo vu".split()))
_PUNCTUATION = {"。": ".", "、": ",", "！": "!", "？": "?", "「": "\"", "」": "\"", "『": "\"", "』": "\"",
                "…": "...", "・": " ", "（": "(", "）": ")", "〜": "~", "　": " ", "～": "~"}


def _katakana(text: str) -> str:
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)


def romaji(kana: str) -> str:
    """Hepburn romaji of katakana or hiragana (other characters kept as they are)."""
    text, out, i = _katakana(kana), [], 0
    while i < len(text):
        pair, ch = text[i:i + 2], text[i]
        if pair in _DIGRAPHS:
            out.append(_DIGRAPHS[pair])
            i += 2
            continue
        if ch == "ッ" and i + 1 < len(text):  # the small tsu doubles the next consonant
            following = _DIGRAPHS.get(text[i + 1:i + 3]) or _KANA.get(text[i + 1], "")
            out.append(following[:1] if following[:1].isalpha() and following[:1] not in "aiueo" else "")
        elif ch == "ー":  # a long vowel: the vowel before it again
            vowel = next((c for c in reversed("".join(out)) if c in "aiueo"), "")
            out.append(vowel)
        else:
            out.append(_KANA.get(ch, _PUNCTUATION.get(ch, ch)))
        i += 1
    return "".join(out)


def _reading_of_japanese(text: str) -> str:
    from ..story.japanese import tokenizer

    readings = [t.reading if t.reading not in (None, "*") else t.surface for t in tokenizer().tokenize(text)]
    for k in range(len(readings) - 1, 0, -1):  # 待っ|て is one word: the small tsu doubles the next consonant
        if readings[k - 1].endswith(("ッ", "っ")):
            readings[k - 1] += readings.pop(k)
    words = [romaji(reading) for reading in readings]
    spoken = " ".join(w for w in words if w.strip())
    for mark in ".,!?\"":
        spoken = spoken.replace(f" {mark}", mark)
    return " ".join(spoken.split())


def stand_in(text: str, source: str, target: str) -> str:
    """One line's stand-in translation: marked, and in the target's script where the rules can tell."""
    if source == target:
        return text
    if target == "en":
        return f"{STAND_IN_MARK['en']} {_reading_of_japanese(text)}"
    return f"{STAND_IN_MARK['ja']}{text}"


def translate(lines: Iterable[dict], source: str, target: str) -> dict:
    """{"lines": [{"id", "text"}]}: each line ({"id", "text", "kind"}) as the stand-in translates it."""
    return {"lines": [{"id": str(line["id"]), "text": stand_in(str(line["text"]), source, target)} for line in lines]}
