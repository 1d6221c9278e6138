"""Validates and normalises a generation request before any phase sees it."""
from __future__ import annotations

from ..errors import PayloadTooLarge, ValidationError
from ..story import detect_language, has_control_characters

MAX_TEXT_CHARS = 50_000
MIN_PAGES, MAX_PAGES = 1, 32
DEFAULT_PAGES = 8
STYLES = ("shonen", "shojo", "seinen", "josei", "kodomo")
LANGUAGES = ("ja", "en")
MAX_TITLE_CHARS = 200


def validate_request(request: dict) -> dict:
    """The request with text stripped, language detected when absent/auto, pages as int, style checked.

    Errors name the field and the limit: 400 for a missing or blank story, 413 for one over 50,000
    characters, 422 for everything else.
    """
    if not isinstance(request, dict):
        raise ValidationError("the request body must be a JSON object", status=400)
    text = request.get("text")
    # a missing or blank story is a malformed request (400); a story we cannot take is 413/422
    if not isinstance(text, str):
        raise ValidationError(f"text is required and must be a string (the story, up to {MAX_TEXT_CHARS} "
                              "characters)", status=400, field="text")
    text = text.strip()
    if not text:
        raise ValidationError(f"text must not be empty (the story, up to {MAX_TEXT_CHARS} characters)",
                              status=400, field="text")
    if len(text) > MAX_TEXT_CHARS:
        raise PayloadTooLarge(f"text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}", field="text")
    if has_control_characters(text):
        raise ValidationError("text contains control or binary characters; only printable text with "
                              "newlines and tabs is accepted", field="text")
    normalised = {key: value for key, value in request.items() if key not in ("text",)}
    normalised["text"] = text
    normalised["pages"] = _pages(request.get("pages", DEFAULT_PAGES))
    normalised["language"] = _language(request.get("language"), text)
    style = request.get("style")
    if style is None or style == "":
        normalised.pop("style", None)
    elif not isinstance(style, str) or style.strip().lower() not in STYLES:
        raise ValidationError(f"style must be one of {', '.join(STYLES)} (got {style!r})", field="style")
    else:
        normalised["style"] = style.strip().lower()
    title = request.get("title")
    if title is not None:
        if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
            raise ValidationError(f"title must be a string of at most {MAX_TITLE_CHARS} characters", field="title")
        if has_control_characters(title):
            raise ValidationError("title contains control characters", field="title")
        normalised["title"] = title.strip()
    return normalised


def _pages(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(f"pages must be an integer from {MIN_PAGES} to {MAX_PAGES}", field="pages")
    try:
        pages = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        pages = None
    if pages is None or not (MIN_PAGES <= pages <= MAX_PAGES):
        raise ValidationError(f"pages must be an integer from {MIN_PAGES} to {MAX_PAGES} (got {value!r})",
                              field="pages")
    return pages


def _language(value: object, text: str) -> str:
    if value is None or value == "" or value == "auto":
        return detect_language(text)
    if value not in LANGUAGES:
        raise ValidationError(f"language must be 'ja', 'en' or 'auto' (got {value!r})", field="language")
    return str(value)
