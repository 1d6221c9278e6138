"""The quick options a person can pick at each phase's approval gate (PIPELINE.md, "Quick options by
phase"): one list the phases, the offline rules and the review page all read."""
from __future__ import annotations

QUICK_OPTIONS: dict[int, tuple[str, ...]] = {
    1: ("brighter", "more_serious", "change_genre", "change_target_age"),
    2: ("add_character", "remove_character", "personality", "visual"),
    3: ("faster_pacing", "slower_pacing", "stronger_climax", "add_episode"),
    4: ("panel_layout", "composition", "camera_angle", "direction"),
    5: ("art_style", "colour", "regenerate_panel", "quality"),
    6: ("move_bubble", "font", "add_sfx", "bubble_shape"),
    7: ("final_touches", "format", "quality", "check_output"),
}
