"""Behaviour of the procedural panel art: deterministic, framed by the staging and camera, coloured
by the characters' palettes, and never crashing on odd descriptions."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from mangaflow.render.art_scene import HEAD_SHARE, read_scene
from mangaflow.render.palette import parse_colour
from mangaflow.render.panel_art import draw_character_sheet, draw_panel, png_bytes, window_boxes

SIZE = (480, 336)

INES = {"id": "c1", "name": "Ines", "role": "protagonist",
        "palette": {"hair": "#3b2a4a", "skin": "#f3d2b8", "outfit": "#d0604a", "accent": "#f2c14e"},
        "figure": {"hair_style": "ponytail", "build": "slim", "height": 0.9, "age": "teen"}}
MOSS = {"id": "c2", "name": "Moss", "role": "deuteragonist",
        "palette": {"hair": "#5f8f4e", "skin": "#b8c0c4", "outfit": "#6b7f8c", "accent": "#7fd1c8"},
        "figure": {"hair_style": "bald", "build": "robot", "height": 1.05, "age": "adult"}}
INSPECTOR = {"id": "c3", "name": "Chief Inspector", "role": "supporting",
             "palette": {"hair": "#8a8a8a", "skin": "#e8c4a0", "outfit": "#2f3b55", "accent": "#c23b3b"},
             "figure": {"hair_style": "short", "build": "broad", "height": 1.1, "age": "elder"}}
CAST = [INES, MOSS, INSPECTOR]


def panel(place: str = "rooftop garden", time: str = "day", weather: str = "clear", mood: str = "calm",
          camera: str = "wide", staging: list[dict] | None = None, indoor: bool = False, panel_id: str = "p01-1") -> dict:
    return {"panel_id": panel_id, "description": "", "characters": [s["character_id"] for s in staging or []],
            "setting": {"place": place, "time_of_day": time, "weather": weather, "indoor": indoor},
            "mood": mood, "camera_angle": camera, "staging": staging or []}


def stand(character_id: str, x: float, y: float, scale: float = 1.0, facing: str = "right",
          expression: str = "neutral") -> dict:
    return {"character_id": character_id, "x": x, "y": y, "scale": scale, "facing": facing, "expression": expression}


def figure_bbox(description: dict) -> tuple[int, int, int, int]:
    """Where drawing the figures changed the panel: the same panel with and without its staging."""
    with_figures = draw_panel(description, CAST, SIZE)
    empty = draw_panel({**description, "staging": [], "characters": []}, CAST, SIZE)
    box = ImageChops.difference(with_figures, empty).getbbox()
    assert box is not None
    return box


def count_near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 6) -> int:
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    return sum(n for n, c in colours if max(abs(a - b) for a, b in zip(c, colour)) <= tolerance)


def box_mean_difference(a: Image.Image, b: Image.Image, centre: tuple[float, float], radius: int = 4) -> float:
    x, y = int(centre[0] * a.width), int(centre[1] * a.height)
    box = (x - radius, y - radius, x + radius, y + radius)
    diff = ImageChops.difference(a.crop(box), b.crop(box)).convert("L")
    return ImageStat.Stat(diff).mean[0]


def test_same_inputs_give_identical_png_bytes():
    description = panel(mood="tension", weather="rain", staging=[stand("c1", 0.3, 0.4), stand("c2", 0.7, 0.4)])
    first = png_bytes(draw_panel(description, CAST, SIZE))
    second = png_bytes(draw_panel(description, CAST, SIZE))
    assert first == second


@pytest.mark.parametrize("size", [(1000, 700), (333, 517), (64, 48)])
def test_panel_has_the_requested_size(size):
    image = draw_panel(panel(staging=[stand("c1", 0.5, 0.4)]), CAST, size)
    assert image.size == size
    assert image.mode == "RGB"


def test_figures_are_drawn_where_the_staging_puts_their_heads():
    heads = [(0.25, 0.35), (0.75, 0.5)]
    description = panel(camera="medium", staging=[stand("c1", *heads[0]), stand("c3", *heads[1])])
    with_figures = draw_panel(description, CAST, SIZE)
    empty = draw_panel({**description, "staging": [], "characters": []}, CAST, SIZE)
    for head in heads:
        assert box_mean_difference(with_figures, empty, head) > 20
    # far from both figures the background is untouched
    assert box_mean_difference(with_figures, empty, (0.5, 0.06)) == 0


def test_hair_and_outfit_colours_of_the_character_appear_in_the_panel():
    image = draw_panel(panel(camera="bust", staging=[stand("c1", 0.5, 0.38)]), CAST, SIZE)
    assert count_near(image, parse_colour(INES["palette"]["hair"], (0, 0, 0))) > 200
    assert count_near(image, parse_colour(INES["palette"]["outfit"], (0, 0, 0))) > 200


def test_robot_shows_its_hair_colour_on_its_head_plate():
    image = draw_panel(panel(camera="close_up", staging=[stand("c2", 0.5, 0.5)]), CAST, SIZE)
    assert count_near(image, parse_colour(MOSS["palette"]["hair"], (0, 0, 0))) > 200


def test_different_characters_produce_different_figures():
    staging = [stand("c1", 0.5, 0.4)]
    ines = draw_panel(panel(camera="medium", staging=staging), CAST, SIZE)
    inspector = draw_panel(panel(camera="medium", staging=[{**staging[0], "character_id": "c3"}]), CAST, SIZE)
    moss = draw_panel(panel(camera="medium", staging=[{**staging[0], "character_id": "c2"}]), CAST, SIZE)
    for a, b in ((ines, inspector), (ines, moss), (inspector, moss)):
        assert box_mean_difference(a, b, (0.5, 0.4), radius=30) > 15


def test_the_same_character_looks_the_same_in_different_places():
    staging = [stand("c1", 0.5, 0.4, expression="smile")]
    beach = draw_panel(panel(place="beach", camera="bust", staging=staging), CAST, SIZE)
    shop = draw_panel(panel(place="shop", camera="bust", staging=staging, indoor=True), CAST, SIZE)
    assert box_mean_difference(beach, shop, (0.5, 0.42), radius=12) == 0


def test_closer_camera_angles_make_the_figure_bigger():
    areas = []
    for camera in ("wide", "medium", "bust", "close_up"):
        y = {"wide": 0.45, "medium": 0.3, "bust": 0.38, "close_up": 0.48}[camera]
        x0, y0, x1, y1 = figure_bbox(panel(camera=camera, staging=[stand("c1", 0.5, y)]))
        areas.append((x1 - x0) * (y1 - y0))
    assert areas == sorted(areas)
    assert areas[-1] > areas[0] * 3


def test_worms_eye_stretches_and_birds_eye_shortens_the_figure():
    def height(camera: str) -> int:
        box = figure_bbox(panel(camera=camera, staging=[stand("c1", 0.5, 0.15)]))
        return box[3] - box[1]
    assert height("worms_eye") > height("wide") > height("birds_eye")


def test_night_is_darker_than_day():
    def brightness(time: str) -> float:
        return ImageStat.Stat(draw_panel(panel(place="street", time=time), CAST, SIZE).convert("L")).mean[0]
    assert brightness("night") < brightness("day") - 40


@pytest.mark.parametrize("place,indoor", [("beach", False), ("shop", True), ("hospital", True), ("town street", False),
                                          ("school", False), ("glass dome city", False)])
def test_places_are_told_apart(place, indoor):
    image = draw_panel(panel(place=place, indoor=indoor), CAST, SIZE)
    room = draw_panel(panel(place="room", indoor=True), CAST, SIZE)
    diff = ImageStat.Stat(ImageChops.difference(image, room).convert("L")).mean[0]
    assert diff > 10


def test_japanese_place_names_are_understood():
    assert read_scene(panel(place="夜の浜辺")).place == "sea"
    assert read_scene(panel(place="病院", indoor=True)).place == "hospital"
    assert read_scene(panel(place="学校の屋上")).place == "rooftop"
    assert read_scene(panel(place="提灯の並ぶ町")).features == frozenset({"festival"})


@pytest.mark.parametrize("mood", ["tension", "climax", "sad", "joy", "mystery"])
def test_mood_changes_the_panel(mood):
    staging = [stand("c1", 0.5, 0.35)]
    calm = draw_panel(panel(camera="medium", staging=staging), CAST, SIZE)
    moody = draw_panel(panel(camera="medium", mood=mood, staging=staging), CAST, SIZE)
    assert ImageStat.Stat(ImageChops.difference(calm, moody).convert("L")).mean[0] > 1


@pytest.mark.parametrize("weather", ["rain", "storm", "snow"])
def test_weather_changes_the_panel(weather):
    clear = draw_panel(panel(place="street"), CAST, SIZE)
    wet = draw_panel(panel(place="street", weather=weather), CAST, SIZE)
    assert ImageStat.Stat(ImageChops.difference(clear, wet).convert("L")).mean[0] > 1


def test_nearer_figures_are_drawn_over_further_ones_whatever_the_staging_order():
    near, far = stand("c3", 0.5, 0.35, scale=1.3), stand("c1", 0.52, 0.33, scale=0.8)
    near_alone = draw_panel(panel(camera="medium", staging=[near]), CAST, SIZE)
    for order in ([near, far], [far, near]):
        both = draw_panel(panel(camera="medium", staging=order), CAST, SIZE)
        assert box_mean_difference(both, near_alone, (0.5, 0.4), radius=6) == 0


def test_simplified_variant_draws_silhouettes_over_the_background():
    description = panel(camera="bust", staging=[stand("c1", 0.5, 0.38)])
    full = draw_panel(description, CAST, SIZE)
    simplified = draw_panel(description, CAST, SIZE, variant="simplified")
    empty = draw_panel({**description, "staging": [], "characters": []}, CAST, SIZE, variant="simplified")
    assert box_mean_difference(simplified, empty, (0.5, 0.45)) > 20
    assert count_near(simplified, parse_colour(INES["palette"]["outfit"], (0, 0, 0))) == 0
    assert count_near(full, parse_colour(INES["palette"]["outfit"], (0, 0, 0))) > 0


def test_placeholder_variant_is_a_quiet_labelled_frame():
    description = panel(camera="close_up", staging=[stand("c1", 0.5, 0.5)], panel_id="p03-2")
    placeholder = draw_panel(description, CAST, SIZE, variant="placeholder")
    assert placeholder.size == SIZE
    assert ImageStat.Stat(placeholder.convert("L")).mean[0] > 200
    # the label is ink on paper: some dark pixels, and not the drawn panel
    assert placeholder.convert("L").getextrema()[0] < 100
    assert placeholder.tobytes() != draw_panel(description, CAST, SIZE).tobytes()


@pytest.mark.parametrize("description", [
    {},
    {"staging": "not a list", "setting": "nowhere", "camera_angle": 42, "mood": None},
    {"camera_angle": "dutch tilt", "staging": [{"character_id": "c1", "x": "left", "y": None, "scale": -3}]},
    {"staging": [None, 7, {"x": 0.5}], "setting": {"place": 12, "time_of_day": "teatime", "weather": "fog"}},
    {"characters": ["c1", "c2"], "staging": []},
])
def test_odd_descriptions_still_draw(description):
    image = draw_panel(description, CAST, SIZE)
    assert image.size == SIZE


def test_missing_palette_and_figure_still_draw_a_consistent_figure():
    nameless = [{"id": "c9", "name": "the stranger"}]
    description = panel(camera="bust", staging=[stand("c9", 0.5, 0.38)])
    first = draw_panel(description, nameless, SIZE)
    assert first.tobytes() == draw_panel(description, nameless, SIZE).tobytes()
    empty = draw_panel({**description, "staging": [], "characters": []}, nameless, SIZE)
    assert box_mean_difference(first, empty, (0.5, 0.42)) > 20


def test_empty_staging_places_the_listed_characters():
    listed = {**panel(camera="medium"), "characters": ["c1", "c2"]}
    nobody = panel(camera="medium")
    assert ImageChops.difference(draw_panel(listed, CAST, SIZE), draw_panel(nobody, CAST, SIZE)).getbbox() is not None


@pytest.mark.parametrize("size", [(0, 100), (100,), "1000x700", (10_000, 100), (100.5, 100), None])
def test_bad_size_is_refused_with_the_field_and_limits(size):
    with pytest.raises(ValueError, match=r"size_px .*16 and 8192"):
        draw_panel(panel(), CAST, size)


def test_unknown_variant_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="variant must be one of none, simplified, placeholder"):
        draw_panel(panel(), CAST, SIZE, variant="sketchy")


def test_character_sheet_is_square_and_shows_the_palette():
    sheet = draw_character_sheet(INES, 256)
    assert sheet.size == (256, 256)
    assert count_near(sheet, parse_colour(INES["palette"]["hair"], (0, 0, 0))) > 50
    assert draw_character_sheet(MOSS).size == (512, 512)
    assert png_bytes(draw_character_sheet(INSPECTOR, 200)) == png_bytes(draw_character_sheet(INSPECTOR, 200))


def test_png_bytes_carry_only_the_pixels():
    image = draw_panel(panel(staging=[stand("c1", 0.5, 0.4)]), CAST, (200, 140))
    image.info["icc_profile"] = b"not really a profile"
    data = png_bytes(image)
    chunks = []
    offset = 8
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        chunks.append(data[offset + 4:offset + 8])
        offset += 12 + length
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()


# ---- weather and effects keep off the faces --------------------------------------------------

def lighting_misfit(before: list[tuple[int, int, int]], after: list[tuple[int, int, int]], tolerance: int = 12) -> float:
    """Share of pixels that a single lighting change cannot explain.

    A tone wash or blend over the whole panel maps every pixel through the same line per channel
    (after = k * before + c); rain streaks, bolts or speed lines drawn over some pixels do not. The
    line is fitted by least squares, and a pixel counts as a misfit when any channel is more than
    `tolerance` levels off it."""
    assert before and len(before) == len(after)
    misfit = [False] * len(before)
    n = len(before)
    for channel in range(3):
        xs = [p[channel] for p in before]
        ys = [p[channel] for p in after]
        mean_x, mean_y = sum(xs) / n, sum(ys) / n
        var = sum((x - mean_x) ** 2 for x in xs)
        k = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var if var else 1.0
        c = mean_y - k * mean_x
        for i, (x, y) in enumerate(zip(xs, ys)):
            if abs(y - (k * x + c)) > tolerance:
                misfit[i] = True
    return sum(misfit) / n


def pixels_at(image: Image.Image, points: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    load = image.load()
    return [load[p] for p in points]


def head_disc(placement: dict, camera: str, size: tuple[int, int], share: float = 0.3) -> list[tuple[int, int]]:
    """Pixels well inside a figure's head: a disc of `share` head heights around the staged head."""
    head = HEAD_SHARE[camera] * size[1] * placement["scale"]
    cx, cy, r = placement["x"] * size[0], placement["y"] * size[1] + head * 0.02, head * share
    return [(x, y) for y in range(max(0, int(cy - r)), min(size[1], int(cy + r) + 1))
            for x in range(max(0, int(cx - r)), min(size[0], int(cx + r) + 1)) if (x - cx) ** 2 + (y - cy) ** 2 <= r * r]


def figure_pixels(description: dict, below_head: float = 2.0) -> list[tuple[int, int]]:
    """Pixels inside the drawn figures (not their anti-aliased rim), from the head down `below_head`
    head heights: where drawing the figures changed a clear, calm version of the panel."""
    clear = {**description, "mood": "calm", "setting": {**description["setting"], "weather": "clear"}}
    with_figures = draw_panel(clear, CAST, SIZE)
    empty = draw_panel({**clear, "staging": [], "characters": []}, CAST, SIZE)
    mask = ImageChops.difference(with_figures, empty).convert("L").point(lambda v: 255 if v else 0)
    mask = mask.filter(ImageFilter.MinFilter(5))
    camera = description["camera_angle"]
    bottom = max(s["y"] * SIZE[1] + HEAD_SHARE[camera] * SIZE[1] * s["scale"] * below_head for s in description["staging"])
    load = mask.load()
    return [(x, y) for y in range(0, min(SIZE[1], int(bottom))) for x in range(SIZE[0]) if load[x, y]]


SHOP_STAGING = [stand("c1", 0.3, 0.3, expression="surprised"), stand("c3", 0.7, 0.32, facing="left")]


@pytest.mark.parametrize("weather", ["storm", "rain", "snow"])
def test_indoor_weather_does_not_fall_on_the_figures(weather):
    stormy = panel(place="shop", time="night", weather=weather, camera="medium", staging=SHOP_STAGING, indoor=True)
    clear = {**stormy, "setting": {**stormy["setting"], "weather": "clear"}}
    points = figure_pixels(stormy)
    assert len(points) > 3000
    misfit = lighting_misfit(pixels_at(draw_panel(clear, CAST, SIZE), points), pixels_at(draw_panel(stormy, CAST, SIZE), points))
    assert misfit < 0.002


@pytest.mark.parametrize("weather", ["storm", "rain", "snow"])
def test_indoor_weather_shows_through_a_window(weather):
    stormy = panel(place="shop", time="night", weather=weather, camera="wide", indoor=True)
    windows = window_boxes(stormy, SIZE)
    assert windows, "an indoor panel with weather needs a window to show it"
    clear = draw_panel({**stormy, "setting": {**stormy["setting"], "weather": "clear"}}, CAST, SIZE)
    wet = draw_panel(stormy, CAST, SIZE)
    x0, y0, x1, y1 = windows[0]
    assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1]
    # the pane shows falling rain or snow: bright strokes the clear window does not have
    pane = [(x, y) for y in range(y0 + 3, y1 - 3) for x in range(x0 + 3, x1 - 3)]
    assert lighting_misfit(pixels_at(clear, pane), pixels_at(wet, pane)) > 0.03


def test_an_indoor_storm_is_a_flash_not_a_bolt_across_the_room():
    stormy = panel(place="room", time="night", weather="storm", camera="wide", indoor=True)
    windows = window_boxes(stormy, SIZE)
    assert windows
    wet = draw_panel(stormy, CAST, SIZE)
    # the flash: brighter than the same room in plain rain
    rainy = draw_panel({**stormy, "setting": {**stormy["setting"], "weather": "rain"}}, CAST, SIZE)
    assert ImageStat.Stat(wet.convert("L")).mean[0] > ImageStat.Stat(rainy.convert("L")).mean[0] + 3
    # no bolt outside the windows: the bolt's near-white core does not appear on the wall or floor
    load = wet.load()
    outside = [(x, y) for y in range(SIZE[1]) for x in range(SIZE[0])
               if not any(a - 2 <= x <= c + 2 and b - 2 <= y <= d + 2 for a, b, c, d in windows)]
    assert sum(1 for p in outside if min(load[p]) > 245) < 20


OUTDOOR_STAGING = [stand("c1", 0.3, 0.3, expression="angry"), stand("c3", 0.72, 0.34, facing="left", expression="surprised")]


@pytest.mark.parametrize("mood,weather,camera", [("tension", "storm", "medium"), ("climax", "rain", "medium"),
                                                 ("sad", "snow", "medium"), ("tension", "storm", "bust"),
                                                 ("climax", "storm", "wide")])
def test_effects_never_cross_a_face(mood, weather, camera):
    staging = OUTDOOR_STAGING if camera != "bust" else [stand("c1", 0.5, 0.38, expression="determined")]
    calm = panel(place="town street", time="night", camera=camera, staging=staging)
    moody = {**calm, "mood": mood, "setting": {**calm["setting"], "weather": weather}}
    calm_image, moody_image = draw_panel(calm, CAST, SIZE), draw_panel(moody, CAST, SIZE)
    for placement in staging:
        points = head_disc(placement, camera, SIZE)
        assert len(points) > 100
        assert lighting_misfit(pixels_at(calm_image, points), pixels_at(moody_image, points)) < 0.002


def test_outdoor_rain_still_falls_over_the_whole_panel():
    dry = panel(place="town street", time="night", camera="medium", staging=OUTDOOR_STAGING)
    wet = {**dry, "setting": {**dry["setting"], "weather": "rain"}}
    dry_image, wet_image = draw_panel(dry, CAST, SIZE), draw_panel(wet, CAST, SIZE)
    # the bodies below the heads are rained on (only the faces are kept clear)
    body = [(x, y) for x, y in figure_pixels(dry, below_head=4.0) if y > 0.5 * SIZE[1]]
    assert lighting_misfit(pixels_at(dry_image, body), pixels_at(wet_image, body)) > 0.01


# (top, bottom) of the brow band in head heights above the head centre: a teen's big shojo eyes put
# the brows higher than an elder's smaller ones.
@pytest.mark.parametrize("character_id,camera,y,band_top,band_bottom", [
    ("c1", "close_up", 0.48, 0.3, 0.19), ("c3", "close_up", 0.5, 0.27, 0.14), ("c1", "bust", 0.38, 0.3, 0.19)])
def test_brows_show_the_expression_above_a_low_fringe(character_id, camera, y, band_top, band_bottom):
    # The band between the fringe's roots and the upper lids holds the brows and nothing else that
    # changes with the expression; hidden under the hair, the band would look the same for all.
    head = HEAD_SHARE[camera] * SIZE[1]
    hx, hy = 0.5 * SIZE[0], y * SIZE[1]
    band = (int(hx - head * 0.45), int(hy - head * band_top), int(hx + head * 0.45), int(hy - head * band_bottom))
    faces = {expression: draw_panel(panel(camera=camera, staging=[stand(character_id, 0.5, y, expression=expression)]),
                                    CAST, SIZE).crop(band)
             for expression in ("neutral", "angry", "surprised")}
    for a, b in (("neutral", "angry"), ("neutral", "surprised"), ("angry", "surprised")):
        assert ImageStat.Stat(ImageChops.difference(faces[a], faces[b]).convert("L")).mean[0] > 2


# ---- the drawing's working set (bench/RESULTS.md, "Memory") -------------------------------------------------

def test_a_tone_built_for_a_box_is_that_box_of_one_tiling_from_the_canvas_corner():
    """`dot_tone(box)` builds only the box, yet its dots sit where a canvas-wide screentone would put them, so
    neighbouring shapes tone as one surface."""
    from mangaflow.render.art_tones import DOT_PERIOD, dot_tone

    whole = dot_tone((0, 0, 300, 200), 0.35)
    assert whole.size == (300, 200) and whole.mode == "L"
    for box in ((0, 0, 1, 1), (5, 7, 77, 91), (13, 0, 300, 200), (DOT_PERIOD, DOT_PERIOD, 2 * DOT_PERIOD + 1, 150),
                (299, 199, 300, 200), (123, 45, 124, 200)):
        part = dot_tone(box, 0.35)
        assert part.size == (box[2] - box[0], box[3] - box[1])
        assert part.tobytes() == whole.crop(box).tobytes(), box
    assert dot_tone((0, 0, 40, 40), 0.35).tobytes() != dot_tone((0, 0, 40, 40), 0.6).tobytes()
    assert dot_tone((0, 0, 40, 40), 0.4, DOT_PERIOD // 2).tobytes() != dot_tone((0, 0, 40, 40), 0.4).tobytes()


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (64, 255), (64, 256), (64, 257), (300, 900)])
def test_a_gradient_painted_in_bands_is_the_gradient_image(size):
    from mangaflow.render.art_tones import paint_vertical_gradient, vertical_gradient

    top, bottom = (20, 40, 90), (250, 200, 150)
    canvas = Image.new("RGB", (size[0] + 5, size[1] + 9), (1, 2, 3))
    paint_vertical_gradient(canvas, size, top, bottom)
    expected = Image.new("RGB", canvas.size, (1, 2, 3))
    expected.paste(vertical_gradient(size, top, bottom), (0, 0))
    assert canvas.tobytes() == expected.tobytes()


def test_a_full_height_panel_is_drawn_without_a_second_canvas_sized_image():
    """The peak of a full-height panel (a 3656x5208 supersampled canvas, 76 MB) stays near one canvas: the sky
    is painted in bands, tones are built at their shapes' size, and the canvas is let go before the
    final-size washes. Measured in a fresh process, as the resident set's peak over its level before."""
    import subprocess
    import sys

    probe = """
import json, sys
from mangaflow.render.panel_art import draw_panel
def kb(key):
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key))
draw_panel({"camera_angle": "wide"}, [], (64, 64))
mood, place = sys.argv[1:]
before = kb('VmRSS'); open('/proc/self/clear_refs', 'w').write('5')
draw_panel({"camera_angle": "close_up", "mood": mood, "setting": {"place": place, "time_of_day": "day", "weather": "clear"},
            "characters": ["a"], "staging": [{"character_id": "a", "x": 0.5, "y": 0.45}]}, [{"id": "a"}], (1828, 2604))
print((kb('VmHWM') - before) / 1024)
"""
    rises = [float(subprocess.run([sys.executable, "-c", probe, mood, place], capture_output=True, text=True,
                                  check=True).stdout) for mood, place in (("joy", "garden"), ("sad", "town street"))]
    # one canvas is 76 MB; the sky's full-size gradient and the canvas held under the washes made 127-140 MB
    assert max(rises) < 112, rises


@pytest.mark.parametrize("points", [
    [(10, 10), (120, 30), (90, 140), (20, 100)],                 # inside
    [(-40, 20), (60, -30), (150, 90), (30, 160)],                # off the top-left corner
    [(150, 150), (260, 170), (240, 260), (160, 240)],            # off the bottom-right corner
    [(30.5, 40.25), (170.75, 55.5), (120.125, 180.5), (35.5, 150.75)],   # fractional corners
])
@pytest.mark.parametrize("width", [2, 3, 7])
def test_an_outlined_polygon_on_its_own_box_is_pillows_polygon(points, width):
    """CanvasDraw draws an outlined polygon on the polygon's box instead of through a canvas-sized mask; the
    result is Pillow's own polygon (whole-pixel corners: identical; fractional ones: at most a pixel or two
    where the moved coordinates round the other way)."""
    from PIL import ImageDraw

    from mangaflow.render.art_tones import CanvasDraw

    ours, pillows = (Image.new("RGB", (200, 200), (240, 236, 228)) for _ in range(2))
    CanvasDraw(ours).polygon(points, fill=(200, 90, 60), outline=(20, 20, 30), width=width)
    ImageDraw.Draw(pillows).polygon(points, fill=(200, 90, 60), outline=(20, 20, 30), width=width)
    differing = sum(1 for a, b in zip(ours.tobytes(), pillows.tobytes()) if a != b)
    assert ours.tobytes() != Image.new("RGB", (200, 200), (240, 236, 228)).tobytes()
    if all(float(x).is_integer() and float(y).is_integer() for x, y in points):
        assert differing == 0
    else:
        assert differing <= 2 * 3, differing
    # an outline of width 1 and a fill-only polygon go straight to Pillow
    one, two = (Image.new("RGB", (200, 200)) for _ in range(2))
    CanvasDraw(one).polygon(points, fill=(9, 9, 9), outline=(200, 200, 200))
    ImageDraw.Draw(two).polygon(points, fill=(9, 9, 9), outline=(200, 200, 200))
    assert one.tobytes() == two.tobytes()
