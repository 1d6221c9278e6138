"""Reads a phase-5 panel description into a normalised scene for the panel art: which place,
time, weather, mood and camera, where every figure stands. Lenient: odd values fall back to defaults."""
from __future__ import annotations

from dataclasses import dataclass, field

from mangaflow.render.palette import stable_int

CAMERA_ANGLES = ("wide", "birds_eye", "worms_eye", "medium", "bust", "close_up")
EXPRESSIONS = ("neutral", "smile", "sad", "angry", "surprised", "determined")

# Checked in order: the first place whose keywords occur in the setting text wins, so the more
# specific places (hospital, workshop) come before the generic ones (room, street).
PLACE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hospital", ("hospital", "clinic", "ward", "病院", "病室", "診療所")),
    ("workshop", ("workshop", "garage", "factory", "工房", "作業場", "工場")),
    ("shop", ("shop", "store", "cafe", "café", "bakery", "market", "stall", "inn", "tavern", "restaurant",
              "店", "屋台", "商店", "喫茶", "パン屋", "レストラン")),
    ("rooftop", ("rooftop", "roof", "屋上")),
    ("school", ("school", "classroom", "academy", "学校", "教室", "学園", "校舎")),
    ("garden", ("garden", "park", "greenhouse", "orchard", "field", "forest", "woods", "hill", "meadow", "valley",
                "庭", "公園", "花畑", "畑", "森", "丘", "野原", "草原")),
    ("sea", ("sea", "beach", "shore", "ocean", "harbor", "harbour", "coast", "lighthouse", "cliff",
             "pier", "浜辺", "海", "浜", "港", "砂浜", "灯台", "岬", "崖")),
    ("city", ("city", "dome", "glass", "tower", "skyline", "district", "都市", "ドーム", "ビル", "街")),
    ("street", ("street", "town", "road", "alley", "village", "festival", "bridge", "station", "platform", "path",
                "町", "通り", "道", "村", "祭", "商店街", "橋", "駅", "ホーム", "路地", "バス停")),
    ("room", ("room", "house", "home", "kitchen", "bedroom", "hall", "office", "indoor", "inside", "castle",
              "palace", "throne", "apartment", "cottage", "cabin",
              "室内", "部屋", "家", "台所", "居間", "城", "宮殿", "交番", "玄関")),
    ("sky", ("sky", "cloud", "flying", "空", "雲")),
)
# Extra props that can join any place ("a festival street", "a rooftop garden under the dome").
FEATURE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "festival": ("festival", "lantern", "lanterns", "祭", "提灯", "灯籠", "縁日"),
    "dome": ("dome", "glass", "ドーム", "ガラス"),
    "greenery": ("garden", "plants", "flowers", "seedlings", "tomatoes", "roses", "庭", "花", "植物", "菜園"),
}

_TIME_WORDS = {
    "dawn": ("dawn", "sunrise", "morning", "明け方", "夜明け", "朝"),
    "evening": ("evening", "sunset", "dusk", "twilight", "夕方", "夕暮れ", "夕焼け", "夕"),
    "night": ("night", "midnight", "夜", "深夜"),
    "day": ("day", "noon", "afternoon", "昼", "日中"),
}
_WEATHER_WORDS = {
    "storm": ("storm", "thunder", "lightning", "typhoon", "嵐", "雷", "台風"),
    "rain": ("rain", "drizzle", "shower", "雨"),
    "snow": ("snow", "blizzard", "雪"),
    "clear": ("clear", "sunny", "晴"),
}
_MOODS = ("calm", "joy", "tension", "sad", "climax", "mystery", "warm")
_MOOD_ALIASES = {"happy": "joy", "angry": "tension", "fear": "tension", "sorrow": "sad", "hope": "warm",
                 "peaceful": "calm", "exciting": "climax"}

# Head height of a figure at scale 1.0, as a share of the panel height, per camera angle.
HEAD_SHARE = {"wide": 0.075, "birds_eye": 0.085, "worms_eye": 0.092, "medium": 0.2, "bust": 0.3, "close_up": 0.58}
# Where a head goes when the staging does not say (y, as a share of the panel height).
DEFAULT_HEAD_Y = {"wide": 0.45, "birds_eye": 0.42, "worms_eye": 0.3, "medium": 0.3, "bust": 0.38, "close_up": 0.48}


@dataclass(frozen=True)
class Placement:
    """One figure in the panel: whose, where its head is (0..1), how big, which way it looks."""

    character_id: str
    x: float
    y: float
    scale: float
    facing: str
    expression: str


@dataclass(frozen=True)
class Scene:
    panel_id: str
    place: str  # one of PLACE_KEYWORDS' names, or "outdoor"/"interior" when unknown
    features: frozenset[str]
    time_of_day: str
    weather: str
    indoor: bool
    mood: str
    camera: str
    seed: int
    placements: tuple[Placement, ...] = field(default_factory=tuple)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _contains(text: str, words: tuple[str, ...]) -> bool:
    # Latin keywords match whole words (so "sea" does not fire on "season"); CJK ones anywhere.
    for word in words:
        if word.isascii():
            if f" {word} " in f" {text} " or f" {word}s " in f" {text} ":
                return True
        elif word in text:
            return True
    return False


def _normalise_words(text: str) -> str:
    cleaned = "".join(c if (c.isalnum() or not c.isascii()) else " " for c in text.lower())
    return " ".join(cleaned.split())


def normalise_camera(value: object) -> str:
    """'bird's eye', 'Close-up', 'worms_eye' ... to one of CAMERA_ANGLES; unknown gives 'medium'."""
    text = _text(value).lower().replace("'", "").replace("’", "").replace("-", "_").replace(" ", "_")
    aliases = {"birdseye": "birds_eye", "bird_eye": "birds_eye", "wormseye": "worms_eye", "worm_eye": "worms_eye",
               "closeup": "close_up", "extreme_close_up": "close_up", "long": "wide", "establishing": "wide",
               "full": "wide", "mid": "medium", "medium_shot": "medium", "bust_shot": "bust"}
    text = aliases.get(text, text)
    return text if text in CAMERA_ANGLES else "medium"


def time_and_weather_in(words: str) -> tuple[str | None, str | None]:
    """The time of day and the weather a person's words name ("at night in the rain", 「夜の雨」), if any."""
    text = _normalise_words(_text(words))
    return _pick(text, _TIME_WORDS, "") or None, _pick(text, _WEATHER_WORDS, "") or None


def _pick(text: str, table: dict[str, tuple[str, ...]], default: str) -> str:
    for key, words in table.items():
        if key == text or _contains(text, words):
            return key
    return default


def _number(value: object, default: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if value != value:  # NaN
        return default
    return max(low, min(high, float(value)))


def read_scene(description: dict) -> Scene:
    """The description as a Scene; anything missing or malformed takes a sensible default."""
    description = description if isinstance(description, dict) else {}
    setting = description.get("setting") if isinstance(description.get("setting"), dict) else {}
    place_text = _normalise_words(_text(setting.get("place")))
    prose = _normalise_words(_text(description.get("description")))
    indoor_value = setting.get("indoor")

    place = ""
    for text in (place_text, prose):
        for name, words in PLACE_KEYWORDS:
            if _contains(text, words):
                place = name
                break
        if place:
            break
    indoor = indoor_value if isinstance(indoor_value, bool) else place in ("room", "hospital", "shop", "workshop")
    if not place:
        place = "interior" if indoor else "outdoor"
    if place == "school" and indoor:
        place = "classroom"

    time_raw = _normalise_words(_text(setting.get("time_of_day")))
    time_of_day = _pick(time_raw, _TIME_WORDS, "") or _pick(place_text, _TIME_WORDS, "") or "day"
    weather_raw = _normalise_words(_text(setting.get("weather")))
    weather = _pick(weather_raw, _WEATHER_WORDS, "") or _pick(place_text, _WEATHER_WORDS, "clear")
    mood_raw = _text(description.get("mood")).strip().lower()
    mood = _MOOD_ALIASES.get(mood_raw, mood_raw if mood_raw in _MOODS else "calm")
    camera = normalise_camera(description.get("camera_angle"))
    panel_id = _text(description.get("panel_id")) or "panel"
    features = frozenset(name for name, words in FEATURE_KEYWORDS.items()
                         if _contains(place_text, words) or _contains(prose, words))
    # A panel redrawn at the gate ("variation" n) gets a new seed: the same scene, drawn anew.
    variation = description.get("variation")
    seed = stable_int(panel_id, place_text, time_of_day, weather, *(
        [str(variation)] if isinstance(variation, int) and not isinstance(variation, bool) and variation > 0 else []))
    return Scene(panel_id, place, features, time_of_day, weather, indoor, mood, camera, seed,
                 read_placements(description, camera))


def read_placements(description: dict, camera: str) -> tuple[Placement, ...]:
    """Staging entries as Placements; with no usable staging, the listed characters are spread
    evenly across the panel so they are still drawn."""
    staging = description.get("staging")
    placements: list[Placement] = []
    if isinstance(staging, list):
        for index, entry in enumerate(staging):
            if not isinstance(entry, dict):
                continue
            character_id = _text(entry.get("character_id")) or f"figure-{index + 1}"
            facing = entry.get("facing") if entry.get("facing") in ("left", "right") else (
                "right" if _number(entry.get("x"), 0.5, 0, 1) < 0.5 else "left")
            expression = entry.get("expression") if entry.get("expression") in EXPRESSIONS else "neutral"
            placements.append(Placement(
                character_id,
                _number(entry.get("x"), 0.5, 0.0, 1.0),
                _number(entry.get("y"), DEFAULT_HEAD_Y[camera], 0.0, 1.0),
                _number(entry.get("scale"), 1.0, 0.25, 2.5),
                facing,
                expression,
            ))
    if not placements:
        listed = [c for c in description.get("characters", []) or [] if isinstance(c, str)] \
            if isinstance(description.get("characters"), list) else []
        count = len(listed)
        for index, character_id in enumerate(listed):
            x = (index + 1) / (count + 1)
            placements.append(Placement(character_id, x, DEFAULT_HEAD_Y[camera], 1.0,
                                        "right" if x < 0.5 else "left", "neutral"))
    return tuple(placements)
