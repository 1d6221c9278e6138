"""Offline phase 5 (text part): one panel's picture description and the staging of its figures.

Staging puts each figure's head where phase 6 can aim a bubble tail: the first speaker on the
side the page is read from (right for rtl), figures facing each other, scale from the camera.
"""
from __future__ import annotations

from .feedback import read as read_feedback
from .common import language_of
from ..errors import NotFound

HEAD = {  # camera -> (head y, figure scale)
    "close_up": (0.42, 1.8), "bust": (0.35, 1.35), "medium": (0.32, 1.0), "wide": (0.5, 0.45),
    "birds_eye": (0.56, 0.4), "worms_eye": (0.28, 1.1),
}
SLOTS = {1: [0.5], 2: [0.3, 0.7], 3: [0.2, 0.5, 0.8], 4: [0.15, 0.38, 0.62, 0.85]}
MOOD_EXPRESSION = {"joy": "smile", "warm": "smile", "sad": "sad", "tension": "determined", "climax": "surprised",
                   "mystery": "neutral", "calm": "neutral"}
LIGHT = {"dawn": "soft dawn light", "day": "clear daylight", "evening": "warm evening glow", "night": "night, deep shadows"}
WEATHER = {"clear": "", "rain": "rain streaks", "storm": "storm, wind and rain lashing", "snow": "falling snow"}
CAMERA_WORDS = {"close_up": "close-up", "bust": "bust shot", "medium": "medium shot", "wide": "wide establishing shot",
                "birds_eye": "bird's-eye view", "worms_eye": "worm's-eye view, looking up"}


def find_panel(storyboard: dict, panel_id: str) -> dict:
    for page in storyboard.get("pages") or []:
        for panel in page.get("panels") or []:
            if panel.get("panel_id") == panel_id:
                return panel
    raise NotFound(f"panel_id '{panel_id}' is not in the storyboard", field="panel_id")


def describe(inputs: dict, panel_id: str, feedback: dict | None) -> dict:
    storyboard = inputs.get("storyboard") or {}
    panel = find_panel(storyboard, panel_id)
    request = read_feedback(feedback, 5)
    scenes = {s.get("scene_id"): s for s in storyboard.get("scenes") or (inputs.get("plot") or {}).get("scenes") or []}
    scene = scenes.get(panel.get("scene_id"), {})
    cast = {c.get("id"): c for c in storyboard.get("characters") or _cast_list(inputs)}
    setting = dict(scene.get("setting") or {"place": "", "time_of_day": "day", "weather": "clear", "indoor": False})
    mood = panel.get("emotion") or scene.get("emotion") or "calm"
    camera = panel.get("camera_angle") or "medium"
    direction = storyboard.get("reading_direction") or ("rtl" if language_of(inputs) == "ja" else "ltr")
    characters = [c for c in panel.get("characters") or [] if c in cast] or \
        [c for c in panel.get("characters") or []]
    staging = _stage(panel, characters, cast, camera, mood, direction)
    description = _describe(panel, scene, setting, characters, cast, camera, mood)
    if request.option in ("art_style", "colour", "quality") or request.text:
        description += " Requested: " + (request.text.strip() or request.option.replace("_", " ")) + "."
    variation = None
    if request.wants("regenerate_panel") and (feedback or {}).get("value") in (None, panel_id):
        camera, setting, variation = redo(request.text, camera, setting, feedback)
        staging = _stage(panel, characters, cast, camera, mood, direction)
        description = _describe(panel, scene, setting, characters, cast, camera, mood) + (
            " Redrawn: " + request.text.strip() + "." if request.text.strip() else f" Variation {variation}.")
    page_w, page_h = storyboard.get("page_size_px") or [2150, 3035]
    _, _, w, h = panel.get("bbox") or [0, 0, 1, 1]
    described = {"panel_id": panel_id, "description": description, "prompt": _prompt(description, characters, cast),
                 "characters": characters, "setting": setting, "mood": mood, "camera_angle": camera,
                 "staging": staging, "size_px": [max(64, round(w * page_w)), max(64, round(h * page_h))]}
    if variation is not None:
        described["variation"] = variation
    return described


# What a person may ask of one redrawn panel in words: the camera, the time of day, the weather.
REDO_CAMERA = (("close_up", ("close-up", "close up", "closeup", "アップ", "寄り")), ("bust", ("bust", "バスト")),
               ("birds_eye", ("bird", "from above", "俯瞰")), ("worms_eye", ("worm", "from below", "煽り", "あおり")),
               ("wide", ("wide", "establishing", "引き", "全景", "ロング")), ("medium", ("medium", "ミディアム")))


def redo(text: str, camera: str, setting: dict, feedback: dict | None) -> tuple[str, dict, int]:
    """One panel redrawn at the phase 5 gate: the camera, time of day and weather its words name, and a
    variation number (a new drawing each time: the attempt shown plus one)."""
    from ..render.art_scene import time_and_weather_in

    lowered = text.lower()
    camera = next((name for name, words in REDO_CAMERA if any(w in lowered for w in words)), camera)
    time_of_day, weather = time_and_weather_in(text)
    setting = {**setting, **({"time_of_day": time_of_day} if time_of_day else {}),
               **({"weather": weather} if weather else {})}
    return camera, setting, int((feedback or {}).get("base_attempt") or 0) + 1


def _cast_list(inputs: dict) -> list[dict]:
    chars = inputs.get("characters")
    if isinstance(chars, dict):
        chars = chars.get("characters")
    return chars if isinstance(chars, list) else []


def _stage(panel: dict, characters: list[str], cast: dict, camera: str, mood: str, direction: str) -> list[dict]:
    speakers = [d.get("speaker") for d in panel.get("dialogues") or [] if d.get("speaker") in characters]
    ordered = list(dict.fromkeys(speakers + characters))[:4]
    slots = SLOTS.get(len(ordered), [])
    if direction == "rtl":
        slots = slots[::-1]  # the first speaker stands on the right, where the reader starts
    head_y, scale = HEAD.get(camera, HEAD["medium"])
    staging = []
    for cid, x in zip(ordered, slots):
        height = float(((cast.get(cid) or {}).get("figure") or {}).get("height") or 1.0)
        if len(ordered) == 1:
            facing = "left" if direction == "rtl" else "right"
        elif cid == ordered[0]:
            facing = "right" if x < 0.5 else "left"  # the first speaker turns to the others
        else:
            facing = "right" if x < slots[0] else "left"  # everyone else turns to the first speaker
        staging.append({"character_id": cid, "x": round(x, 3),
                        "y": round(min(0.9, max(0.08, head_y + (1.0 - height) * 0.12)), 3),
                        "scale": round(scale * height, 3), "facing": facing,
                        "expression": _expression(cid, panel, mood)})
    return staging


def _expression(cid: str, panel: dict, mood: str) -> str:
    lines = [d for d in panel.get("dialogues") or [] if d.get("speaker") == cid]
    for line in lines:
        text = str(line.get("text") or "")
        if line.get("kind") == "shout":
            return "surprised" if ("？" in text or "?" in text) else "angry"
        if line.get("kind") == "thought":
            return "sad" if mood == "sad" else "neutral"
        if "！" in text or "!" in text:
            return "surprised"
        if any(w in text for w in ("無理", "やめ", "can't", "cannot", "no ")):
            return "sad"
    return MOOD_EXPRESSION.get(mood, "neutral")


def _describe(panel: dict, scene: dict, setting: dict, characters: list[str], cast: dict, camera: str,
              mood: str) -> str:
    who = ", ".join(str((cast.get(c) or {}).get("name", c)) for c in characters) or "no figures"
    where = setting.get("place") or "an open space"
    parts = [CAMERA_WORDS.get(camera, camera), f"at {where}" + (" (indoors)" if setting.get("indoor") else ""),
             LIGHT.get(setting.get("time_of_day", "day"), ""), WEATHER.get(setting.get("weather", "clear"), ""),
             f"mood {mood}", f"figures: {who}"]
    action = panel.get("scene_description") or scene.get("description") or ""
    return "; ".join(p for p in parts if p) + (f". {action}" if action else ".")


def _prompt(description: str, characters: list[str], cast: dict) -> str:
    looks = [str((cast.get(c) or {}).get("visual_description", "")) for c in characters]
    looks = [l for l in looks if l]
    return "manga panel, black ink with screentone, " + description + (" Characters: " + " | ".join(looks)
                                                                       if looks else "")
