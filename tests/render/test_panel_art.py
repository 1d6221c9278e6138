"""Behaviour of the procedural panel art: deterministic, framed by the staging and camera, coloured
by the characters' palettes, and never crashing on odd descriptions."""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from mangaflow.render.art_scene import read_scene
from mangaflow.render.palette import parse_colour
from mangaflow.render.panel_art import draw_character_sheet, draw_panel, png_bytes

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
