"""Lettering: bubbles are sized to hold their text, the overflow measure catches text that
does not fit, and drawing puts white bubbles with black outlines and black text on the art."""
from __future__ import annotations

import pytest
from PIL import Image

from mangaflow.render.lettering import bubble_size, draw_lettering, measure_lettering, text_fits
from mangaflow.render.typesetting import break_vertical, wrap_horizontal

JA_LINES = break_vertical("おじいさんは、嵐の年ほど灯りがきれいだって言ってたよ", 7)
GREEN = (30, 160, 60)  # art colour anti-aliased black-on-white text can never produce
EN_LINES = wrap_horizontal("Keeping the garden alive. Someone has to remember what soil smells like.", "sans", 38, 320)


@pytest.mark.parametrize("shape", ["oval", "cloud", "burst", "rect", "none"])
@pytest.mark.parametrize("vertical,lines", [(True, JA_LINES), (False, EN_LINES)])
def test_a_bubble_sized_for_its_text_holds_it(shape, vertical, lines):
    w, h = bubble_size(lines, 38, vertical, "sans", shape)
    assert text_fits((0, 0, w, h), shape, lines, 38, vertical, "sans")
    assert not text_fits((0, 0, w * 0.8, h * 0.8), shape, lines, 38, vertical, "sans")


def _placement(lines, vertical, box, shape="oval", tail=(0.5, 0.95), kind="speech"):
    return {"dialogue_index": 0, "box": box, "shape": shape, "tail": list(tail) if tail else None,
            "vertical": vertical, "font": "sans", "font_size_px": 38, "lines": lines, "kind": kind}


def test_measure_lettering_counts_overflow_and_quotes():
    w, h = bubble_size(JA_LINES, 38, True, "sans", "oval")
    panel = (1000, 800)
    ok = _placement(JA_LINES, True, [0.05, 0.05, w / panel[0], h / panel[1]])
    squeezed = _placement(JA_LINES, True, [0.05, 0.05, 0.5 * w / panel[0], h / panel[1]])
    outside = _placement(JA_LINES, True, [0.9, 0.05, w / panel[0], h / panel[1]])
    quote = "おじいさんは、嵐の年ほど灯りがきれいだって言ってたよ"
    assert measure_lettering([ok], panel, [quote]) == {"overflow": 0, "quotes_lettered": 1.0}
    assert measure_lettering([squeezed, outside], panel)["overflow"] == 2
    assert measure_lettering([ok], panel, [quote, "来年も、作ろう"])["quotes_lettered"] == 0.5


def test_split_bubbles_of_one_dialogue_count_as_one_quote():
    parts = [dict(_placement(["まだ灯籠、"], True, [0.1, 0.1, 0.2, 0.3]), dialogue_index=3),
             dict(_placement(["作ってるの？"], True, [0.4, 0.1, 0.2, 0.3]), dialogue_index=3, linked_to=0)]
    assert measure_lettering(parts, (1000, 1000), ["まだ灯籠、作ってるの？"])["quotes_lettered"] == 1.0


def test_drawn_bubble_is_white_with_a_black_outline_and_black_text():
    art = Image.new("RGB", (1000, 800), GREEN)
    w, h = bubble_size(JA_LINES, 38, True, "sans", "oval")
    box = [0.1, 0.1, w / 1000, h / 800]
    out = draw_lettering(art, [_placement(JA_LINES, True, box, tail=(0.2, 0.95))])
    assert art.getpixel((500, 400)) == GREEN  # the art itself is untouched
    x0, y0, bw, bh = box[0] * 1000, box[1] * 800, box[2] * 1000, box[3] * 800
    inside = out.crop((int(x0 + bw * 0.35), int(y0 + bh * 0.12), int(x0 + bw * 0.65), int(y0 + bh * 0.88)))
    colours = {c for _, c in inside.getcolors(1 << 20)}
    assert (255, 255, 255) in colours and (0, 0, 0) in colours  # white fill, black glyphs
    assert GREEN not in colours
    # The outline: walking left from the bubble's centre, black comes before the grey art.
    row = int(y0 + bh / 2)
    walk = [out.getpixel((x, row)) for x in range(int(x0 + bw * 0.1), int(x0) - 10, -1)]
    first_grey = next(i for i, c in enumerate(walk) if c == GREEN)
    assert any(sum(c) < 100 for c in walk[:first_grey])
    # The tail reaches down toward its tip: pixels below the bubble on the way are bubble, not art.
    tip_y = int(0.95 * 800)
    assert out.getpixel((200, tip_y - 3)) != GREEN


def test_sound_effects_are_drawn_without_a_bubble():
    art = Image.new("RGB", (600, 600), (128, 128, 128))
    sfx = _placement(["ドン"], True, [0.3, 0.2, 0.3, 0.5], shape="none", tail=None, kind="sfx")
    sfx["font_size_px"] = 120
    out = draw_lettering(art, [sfx])
    colours = {c for _, c in out.getcolors(1 << 20)}
    assert (0, 0, 0) in colours and (255, 255, 255) in colours  # black letters, white outline
    # No bubble: corners of the box keep the art.
    assert out.getpixel((int(0.3 * 600) + 2, int(0.2 * 600) + 2)) == (128, 128, 128)


@pytest.mark.parametrize("shape", ["cloud", "burst", "rect"])
def test_every_shape_draws(shape):
    art = Image.new("RGB", (800, 800), (128, 128, 128))
    w, h = bubble_size(EN_LINES, 38, False, "sans", shape)
    out = draw_lettering(art, [_placement(EN_LINES, False, [0.05, 0.05, w / 800, h / 800], shape=shape,
                                          tail=None if shape == "rect" else (0.8, 0.9))])
    centre = out.getpixel((int(0.05 * 800 + w / 2), int(0.05 * 800 + h * 0.2)))
    assert centre != (128, 128, 128)
