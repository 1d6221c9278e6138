"""Request validation: clear errors that name the field and the limit."""
import pytest

from mangaflow.errors import DomainError, PayloadTooLarge, ValidationError
from mangaflow.phases.request import validate_request


def test_a_valid_request_is_normalised():
    out = validate_request({"text": "  港町の夜。 ", "pages": "4", "style": "Shojo", "title": " 灯 "})
    assert out == {"text": "港町の夜。", "pages": 4, "style": "shojo", "title": "灯", "language": "ja"}


def test_language_is_detected_when_absent_or_auto():
    assert validate_request({"text": "Hello there."})["language"] == "en"
    assert validate_request({"text": "こんにちは", "language": "auto"})["language"] == "ja"
    assert validate_request({"text": "Hello", "language": "ja"})["language"] == "ja"


def test_default_pages_is_eight():
    assert validate_request({"text": "x"})["pages"] == 8


@pytest.mark.parametrize("request_body, fragment", [
    ({}, "required"), ({"text": 42}, "string"), ({"text": ""}, "empty"), ({"text": "   \n\t "}, "empty"),
])
def test_a_missing_or_blank_story_is_400(request_body, fragment):
    with pytest.raises(ValidationError) as err:
        validate_request(request_body)
    assert err.value.status == 400 and err.value.field == "text" and fragment in err.value.message


@pytest.mark.parametrize("request_body, field, fragment", [
    ({"text": "ok\x00bad"}, "text", "control"),
    ({"text": "ok", "pages": 0}, "pages", "1 to 32"),
    ({"text": "ok", "pages": 33}, "pages", "1 to 32"),
    ({"text": "ok", "pages": 2.5}, "pages", "integer"),
    ({"text": "ok", "pages": True}, "pages", "integer"),
    ({"text": "ok", "pages": "many"}, "pages", "integer"),
    ({"text": "ok", "style": "noir"}, "style", "shonen"),
    ({"text": "ok", "language": "fr"}, "language", "'ja'"),
    ({"text": "ok", "title": "t" * 201}, "title", "200"),
])
def test_bad_fields_are_422_naming_the_field(request_body, field, fragment):
    with pytest.raises(ValidationError) as err:
        validate_request(request_body)
    assert err.value.status == 422 and err.value.field == field and fragment in err.value.message


def test_a_story_over_50000_characters_is_413():
    with pytest.raises(PayloadTooLarge) as err:
        validate_request({"text": "あ" * 50_001})
    assert err.value.status == 413 and err.value.field == "text"
    assert "50001" in err.value.message and "50000" in err.value.message


def test_exactly_50000_characters_is_accepted():
    assert len(validate_request({"text": "a" * 50_000})["text"]) == 50_000


def test_tabs_and_newlines_are_fine_and_html_is_just_text():
    text = "<script>alert(1)</script>\n\t{{ x }}\r\n'; DROP TABLE users; --"
    assert validate_request({"text": text})["text"] == text.strip()


def test_a_non_object_body_is_400():
    with pytest.raises(DomainError) as err:
        validate_request(["text"])  # type: ignore[arg-type]
    assert err.value.status == 400


def test_error_tree_statuses():
    from mangaflow.errors import Conflict, NotFound, UpstreamUnavailable

    assert [cls("m").status for cls in (ValidationError, PayloadTooLarge, NotFound, Conflict, UpstreamUnavailable)] \
        == [422, 413, 404, 409, 503]
    assert ValidationError("bad", status=400, field="x").to_dict() == {"error": "bad", "status": 400, "field": "x"}
