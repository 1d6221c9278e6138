"""One limit on attempts, in one place (`mangaflow.model.base.MAX_ATTEMPTS`): the store's check uses it,
and the SQL CHECK, every HTTP schema field that carries an attempt and the phase 5 panel schema hold the
same number; this fails, naming the place, when one drifts."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from mangaflow.model import MAX_ATTEMPTS, PanelImage, PhaseRun
from mangaflow.model.jsonschema import phase_schema
from mangaflow.stores import postgres as pg

HTTP = Path(__file__).resolve().parents[2] / "schemas" / "http"
# Fields that carry an attempt under another name: the attempt chosen for each earlier phase, and the
# two attempts compared.
ATTEMPT_VALUES = {("phase_call.json", "selected"): "additionalProperties",
                  ("preview_versions.json", "compare"): "items"}


def _attempt_fields() -> list[tuple[str, dict]]:
    """(where, schema) of every attempt in the HTTP schemas: each property named `attempt` at any depth,
    and the fields in ATTEMPT_VALUES."""
    found = []
    for path in sorted(HTTP.glob("*.json")):
        stack = [(path.name, json.loads(path.read_text(encoding="utf-8")))]
        while stack:
            where, node = stack.pop()
            for name, sub in (node.get("properties") or {}).items():
                if name == "attempt":
                    found.append((f"{where}.attempt", sub))
                key = ATTEMPT_VALUES.get((path.name, name))
                if key:
                    found.append((f"{where}.{name}.{key}", sub[key]))
                stack.append((f"{where}.{name}", sub))
            stack += [(f"{where}.$defs.{name}", sub) for name, sub in (node.get("$defs") or {}).items()]
    return found


def test_every_http_attempt_is_bounded_by_the_one_limit():
    fields = _attempt_fields()
    assert {where.partition(".json")[0] + ".json" for where, _ in fields} >= {"phase_call.json", "gate_answer.json", "open_gate.json",
                                                                              "review_gate.json",
                                                                              "preview_versions.json"}
    for where, schema in fields:
        if "anyOf" in schema:  # a form field: the text branch must spell the same numbers
            text = next(b for b in schema["anyOf"] if b.get("type") == "string")
            assert text["pattern"] == "^([1-9]|1[0-9]|20)?$" and MAX_ATTEMPTS == 20, where
            schema = next(b for b in schema["anyOf"] if b.get("type") == "integer")
        assert (schema.get("minimum"), schema.get("maximum")) == (1, MAX_ATTEMPTS), (
            f"schemas/http/{where} allows {schema.get('minimum')}..{schema.get('maximum')}; attempts are "
            f"1..{MAX_ATTEMPTS} (mangaflow.model.base.MAX_ATTEMPTS)")


def test_the_models_hold_the_same_limit():
    assert phase_schema(PanelImage)["properties"]["attempt"]["maximum"] == MAX_ATTEMPTS
    assert PhaseRun.model_json_schema()["properties"]["attempt"]["maximum"] == MAX_ATTEMPTS


def test_the_sql_check_holds_the_same_limit(services):
    definition = pg.database().run(
        "SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
        " WHERE c.conrelid = 'phase_runs'::regclass AND c.contype = 'c' AND a.attname = 'attempt'")[0]["definition"]
    bounds = [int(n) for n in re.findall(r"attempt\s*[<>]=\s*(\d+)", definition)]
    assert sorted(bounds) == [1, MAX_ATTEMPTS], f"phase_runs' CHECK is {definition}; attempts are 1..{MAX_ATTEMPTS}"


def test_the_store_takes_the_last_attempt_and_refuses_the_next_naming_the_limit(services):
    request = pg.create_request(f"user-{uuid.uuid4().hex[:6]}", language="en", pages=1)
    row = pg.record_phase_run(request["request_id"], 1, MAX_ATTEMPTS)
    assert PhaseRun.model_validate(row).attempt == MAX_ATTEMPTS
    with pytest.raises(pg.InvalidRecord, match=rf"attempt must be an integer 1\.\.{MAX_ATTEMPTS}, got {MAX_ATTEMPTS + 1}"):
        pg.record_phase_run(request["request_id"], 1, MAX_ATTEMPTS + 1)
