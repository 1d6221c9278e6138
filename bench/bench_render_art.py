"""Benchmark of the procedural panel art: milliseconds per panel at about 1000x700 px over a sample
of 40 panels (every camera angle, place, time, weather and mood; 0 to 3 figures incl. a robot),
plus PNG encoding, fallback variants and character sheets. Prints a Markdown table."""
from __future__ import annotations

import argparse
import statistics
import time

from mangaflow.render.panel_art import draw_character_sheet, draw_panel, png_bytes

CAST = [
    {"id": "c1", "name": "Ines", "palette": {"hair": "#3b2a4a", "skin": "#f3d2b8", "outfit": "#d0604a", "accent": "#f2c14e"},
     "figure": {"hair_style": "ponytail", "build": "slim", "height": 0.9, "age": "teen"}},
    {"id": "c2", "name": "Moss", "palette": {"hair": "#5f8f4e", "skin": "#b8c0c4", "outfit": "#6b7f8c", "accent": "#7fd1c8"},
     "figure": {"hair_style": "bald", "build": "robot", "height": 1.05, "age": "adult"}},
    {"id": "c3", "name": "Chief Inspector", "palette": {"hair": "#8a8a8a", "skin": "#e8c4a0", "outfit": "#2f3b55", "accent": "#c23b3b"},
     "figure": {"hair_style": "short", "build": "broad", "height": 1.1, "age": "elder"}},
]
CAMERAS = ["wide", "medium", "bust", "close_up", "birds_eye", "worms_eye"]
PLACES = [("rooftop garden under the glass dome", False), ("浜辺", False), ("workshop", True), ("town street festival", False),
          ("hospital room", True), ("city", False), ("school", False), ("shop", True), ("classroom", True), ("garden", False),
          ("sky", False), ("nowhere in particular", False)]
TIMES = ["day", "evening", "night", "dawn"]
WEATHERS = ["clear", "clear", "rain", "clear", "snow", "storm"]
MOODS = ["calm", "tension", "joy", "sad", "climax", "warm", "mystery"]
EXPRESSIONS = ["neutral", "smile", "sad", "angry", "surprised", "determined"]
HEAD_Y = {"wide": 0.45, "birds_eye": 0.42, "worms_eye": 0.3, "medium": 0.3, "bust": 0.38, "close_up": 0.48}


def sample_panels(count: int = 40) -> list[dict]:
    """A storyboard-like mix: the parameters cycle with co-prime periods so the combinations vary."""
    panels = []
    for i in range(count):
        camera = CAMERAS[i % len(CAMERAS)]
        place, indoor = PLACES[i % len(PLACES)]
        figures = i % 4 if camera != "close_up" else 1
        staging = [{"character_id": CAST[(i + k) % 3]["id"], "x": (k + 1) / (figures + 1), "y": HEAD_Y[camera],
                    "scale": 1.0 - 0.1 * k, "facing": "right" if k % 2 == 0 else "left",
                    "expression": EXPRESSIONS[(i + k) % len(EXPRESSIONS)]} for k in range(figures)]
        panels.append({"panel_id": f"p{i // 5 + 1:02d}-{i % 5 + 1}", "camera_angle": camera, "mood": MOODS[i % len(MOODS)],
                       "setting": {"place": place, "time_of_day": TIMES[i % len(TIMES)], "weather": WEATHERS[i % len(WEATHERS)],
                                   "indoor": indoor},
                       "characters": [s["character_id"] for s in staging], "staging": staging})
    return panels


def time_ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="times each panel is drawn (the median is reported)")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=700)
    args = parser.parse_args()
    size = (args.width, args.height)
    panels = sample_panels()
    draw_panel(panels[0], CAST, size)  # warm the tone and font caches, as a long-lived function instance would

    per_panel: list[float] = []
    by_camera: dict[str, list[float]] = {c: [] for c in CAMERAS}
    for _ in range(args.rounds):
        for description in panels:
            ms = time_ms(lambda: draw_panel(description, CAST, size))
            per_panel.append(ms)
            by_camera[description["camera_angle"]].append(ms)
    images = [draw_panel(d, CAST, size) for d in panels]
    encode = [time_ms(lambda: png_bytes(image)) for image in images]
    whole = time_ms(lambda: [png_bytes(draw_panel(d, CAST, size)) for d in panels])
    simplified = [time_ms(lambda: draw_panel(d, CAST, size, variant="simplified")) for d in panels]
    placeholder = [time_ms(lambda: draw_panel(d, CAST, size, variant="placeholder")) for d in panels]
    sheets = [time_ms(lambda: draw_character_sheet(c, 512)) for c in CAST]

    def row(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        return f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p90:.1f} | {max(values):.1f} |"

    print(f"Panel art at {size[0]}x{size[1]} px, {len(panels)} sample panels x {args.rounds} rounds\n")
    print("| what | n | median ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("draw_panel (all angles)", per_panel))
    for camera, values in by_camera.items():
        print(row(f"draw_panel, {camera}", values))
    print(row("png_bytes (compress_level 3)", encode))
    print(row("draw_panel variant=simplified", simplified))
    print(row("draw_panel variant=placeholder", placeholder))
    print(row("draw_character_sheet 512", sheets))
    print(f"\nWhole 40-panel manga, draw + PNG, one core: {whole:.0f} ms")


if __name__ == "__main__":
    main()
