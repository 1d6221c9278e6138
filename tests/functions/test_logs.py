"""Structured logs Cloud Logging can parse, and no secret in them."""
from __future__ import annotations

import json
import logging

from mangaflow import logs


def test_log_lines_are_json_with_severity_and_message(capsys):
    logs.log_event("phase finished", logging.WARNING, request_id="r-1", phase=3)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["severity"] == "WARNING"
    assert line["message"] == "phase finished"
    assert line["request_id"] == "r-1" and line["phase"] == 3


def test_secret_fields_and_url_passwords_never_reach_the_log(capsys):
    logs.log_event("connecting", database_url="postgresql://app:hunter2@10.0.2.5/manga",
                   token="1700000000.abcdef", callback={"callback_url": "https://x/cb?sig=1", "decision": "approve"},
                   note="redis://:s3cret@10.0.2.10:6379/0")
    text = capsys.readouterr().out
    for secret in ("hunter2", "abcdef", "sig=1", "s3cret"):
        assert secret not in text
    line = json.loads(text.strip().splitlines()[-1])
    assert line["callback"]["decision"] == "approve"
    assert line["note"] == "redis://:***@10.0.2.10:6379/0"


def test_redact_leaves_ordinary_values_alone():
    assert logs.redact({"phase": 2, "text": "「春香」", "items": [1, "a"]}) == {"phase": 2, "text": "「春香」", "items": [1, "a"]}
