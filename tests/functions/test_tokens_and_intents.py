"""Approval links are bound to their gate and expire; feedback text becomes a structured intent."""
from __future__ import annotations

import pytest

from mangaflow.hitl import intents, tokens


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", "test-key-not-secret")


def test_token_verifies_for_its_own_gate():
    token = tokens.sign("r-" + "a" * 16, 3, "g-1", expires=2_000_000_000)
    tokens.verify(token, "r-" + "a" * 16, 3, "g-1", now=1_900_000_000)


@pytest.mark.parametrize("other", [("r-" + "b" * 16, 3, "g-1"), ("r-" + "a" * 16, 4, "g-1"), ("r-" + "a" * 16, 3, "g-2")])
def test_token_is_bound_to_request_phase_and_gate(other):
    token = tokens.sign("r-" + "a" * 16, 3, "g-1", expires=2_000_000_000)
    with pytest.raises(tokens.InvalidToken, match="does not belong"):
        tokens.verify(token, *other, now=1_900_000_000)


def test_token_expires():
    token = tokens.sign("r-" + "a" * 16, 3, "g-1", expires=1000)
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify(token, "r-" + "a" * 16, 3, "g-1", now=1001)


def test_tampered_expiry_is_rejected():
    token = tokens.sign("r-" + "a" * 16, 3, "g-1", expires=1000)
    forged = "9999999999" + token[token.index("."):]
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(forged, "r-" + "a" * 16, 3, "g-1", now=1001)


@pytest.mark.parametrize("token", ["", "abc", ".", "123.", "x.y"])
def test_malformed_tokens_are_rejected(token):
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, "r-" + "a" * 16, 3, "g-1", now=0)


def test_tokens_need_a_key(monkeypatch):
    monkeypatch.delenv("MANGAFLOW_SIGNING_KEY")
    with pytest.raises(Exception, match="MANGAFLOW_SIGNING_KEY"):
        tokens.sign("r-" + "a" * 16, 1, "g", 1)


@pytest.mark.parametrize(
    ("phase", "text", "option"),
    [
        (1, "Make it much brighter please", "brighter"),
        (1, "もっと明るくして", "brighter"),
        (1, "a bit more serious and dark", "more_serious"),
        (3, "The pacing should be faster", "faster_pacing"),
        (4, "Use a close-up for the last line", "camera_angle"),
        (6, "Change the font to serif", "font"),
        (2, "髪の色を変えて", "visual"),
    ],
)
def test_feedback_becomes_the_phase_quick_option(phase, text, option):
    intent = intents.parse(phase, text)
    assert intent["option"] == option
    assert intent["confidence"] >= 0.5


def test_intensity_follows_the_wording():
    assert intents.parse(1, "much brighter")["intensity"] > intents.parse(1, "slightly brighter")["intensity"]


def test_unrelated_text_has_no_confident_option():
    intent = intents.parse(1, "hmm")
    assert intent["option"] is None and intent["confidence"] == 0.0


def test_explicit_option_wins():
    intent = intents.parse(5, "whatever", option="colour")
    assert intent["option"] == "colour" and intent["confidence"] == 1.0
