"""Phase 5, scene images: the text part. `describe_panel` turns one storyboard panel into a picture
description and the staging of its figures; the drawing is done from it by the render package.
"""
from __future__ import annotations

from ..errors import ValidationError
from ..providers.base import Provider


def describe_panel(inputs: dict, panel_id: str, feedback: dict | None, provider: Provider) -> dict:
    """Description of panel `panel_id` of `inputs["storyboard"]` (no image_uri; see docs/data-model.md).

    Returns panel_id, description, prompt, characters, setting, mood, camera_angle, staging, size_px.
    Raises NotFound when the panel is not in the storyboard.
    """
    if not isinstance(inputs.get("storyboard"), dict):
        raise ValidationError("inputs.storyboard (phase 4's output) is required to describe a panel",
                              field="storyboard")
    if not isinstance(panel_id, str) or not panel_id:
        raise ValidationError("panel_id must be a non-empty string such as 'p01-1'", field="panel_id")
    return provider.panel_description(inputs, panel_id, feedback)
