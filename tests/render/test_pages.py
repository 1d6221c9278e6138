"""Page composition: panels land at their bbox inside the live area with black borders and
white gutters, lettering is drawn, and missing art or bad bboxes are handled clearly."""
from __future__ import annotations

import pytest
from PIL import Image

from mangaflow.render.lettering import bubble_size
from mangaflow.render.pages import (
    BORDER_PX, MIN_GUTTER_PX, PageError, compose_page, live_area_px, panel_rects_px,
)

RED, BLUE = (200, 40, 40), (40, 40, 200)
PAGE = {"page": 1, "panels": [
    {"panel_id": "a", "reading_order": 1, "bbox": [0.5, 0.0, 0.5, 0.5]},   # touches its neighbour: gutter added
    {"panel_id": "b", "reading_order": 2, "bbox": [0.0, 0.0, 0.5, 0.5]},
    {"panel_id": "c", "reading_order": 3, "bbox": [0.0, 0.55, 1.0, 0.45]},
]}


def test_live_area_is_inside_the_b5_page_margins():
    x, y, w, h = live_area_px((2150, 3035))
    assert 100 < x < 250 and 150 < y < 300
    assert x + w < 2150 - 100 and y + h < 3035 - 150


def test_touching_panels_get_a_gutter_and_stay_in_the_live_area():
    rects = panel_rects_px(PAGE)
    lx, ly, lw, lh = live_area_px()
    a, b, c = rects["a"], rects["b"], rects["c"]
    assert a[0] - (b[0] + b[2]) >= MIN_GUTTER_PX - 1
    for x, y, w, h in rects.values():
        assert lx <= x and y >= ly and x + w <= lx + lw and y + h <= ly + lh
    assert c[1] - (a[1] + a[3]) >= MIN_GUTTER_PX - 1


def test_compose_places_art_borders_and_gutters():
    rects = panel_rects_px(PAGE)
    art = {"a": Image.new("RGB", rects["a"][2:], RED), "b": Image.new("RGB", rects["b"][2:], BLUE)}
    page = compose_page(PAGE, art, {}, direction="rtl")
    assert page.size == (2150, 3035)
    ax, ay, aw, ah = rects["a"]
    assert page.getpixel((ax + aw // 2, ay + ah // 2)) == RED
    assert page.getpixel((ax + 1, ay + ah // 2)) == (0, 0, 0)           # border
    assert page.getpixel((ax + BORDER_PX + 2, ay + ah // 2)) == RED
    bx, by, bw, bh = rects["b"]
    assert page.getpixel(((bx + bw + ax) // 2, ay + ah // 2)) == (255, 255, 255)  # gutter
    cx, cy, cw, ch = rects["c"]
    assert page.getpixel((cx + cw // 2, cy + ch // 2)) == (236, 236, 236)  # no art: placeholder
    assert page.getpixel((5, 5)) == (255, 255, 255)                     # margin


def test_art_of_another_size_is_fitted_to_the_panel():
    art = {"a": Image.new("RGB", (100, 100), RED)}
    page = compose_page(PAGE, art, {}, direction="ltr")
    ax, ay, aw, ah = panel_rects_px(PAGE)["a"]
    assert page.getpixel((ax + aw - BORDER_PX - 3, ay + ah - BORDER_PX - 3)) == RED


def test_lettering_is_drawn_on_the_page():
    rects = panel_rects_px(PAGE)
    lines = ["まだ灯籠、", "作ってるの？"]
    w, h = bubble_size(lines, 38, True, "sans", "oval")
    pw, ph = rects["c"][2:]
    placement = {"dialogue_index": 0, "box": [0.6, 0.1, w / pw, h / ph], "shape": "oval", "tail": None,
                 "vertical": True, "font": "sans", "font_size_px": 38, "lines": lines, "kind": "speech"}
    art = {"c": Image.new("RGB", (pw, ph), BLUE)}
    page = compose_page(PAGE, art, {"c": [placement]}, direction="rtl")
    x0 = rects["c"][0] + int(0.6 * pw)
    y0 = rects["c"][1] + int(0.1 * ph)
    region = page.crop((x0, y0, x0 + int(w), y0 + int(h)))
    colours = {c for _, c in region.getcolors(1 << 20)}
    assert (255, 255, 255) in colours and (0, 0, 0) in colours


@pytest.mark.parametrize("bbox", [[0.5, 0.5, 0.6, 0.2], [0, 0, 0, 0.3], "full", [0.1, 0.2, 0.3]])
def test_a_bad_bbox_is_named(bbox):
    with pytest.raises(PageError, match="bbox"):
        panel_rects_px({"panels": [{"panel_id": "x", "bbox": bbox}]})


def test_page_number_goes_to_the_outer_corner():
    empty = {"page": 1, "panels": []}
    lx, ly, lw, lh = live_area_px()
    rtl = compose_page(empty, {}, {}, direction="rtl")
    ltr = compose_page(empty, {}, {}, direction="ltr")
    band = (ly + lh, 3035)
    def ink_x(img):
        box = img.crop((0, band[0], 2150, band[1])).convert("L").point(lambda v: 255 if v < 200 else 0).getbbox()
        return box[0]
    assert ink_x(rtl) < 2150 / 2 < ink_x(ltr)


def test_unknown_direction_is_refused():
    with pytest.raises(PageError, match="direction"):
        compose_page(PAGE, {}, {}, direction="ttb")
