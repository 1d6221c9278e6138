"""JSON Schema (draft 2020-12) of a model, as the files in `schemas/phases/` hold it: self-contained
(`$defs`), with the `$id` `mangaflow.schemas` loads, and without pydantic's noise (titles, defaults)."""
from __future__ import annotations

from typing import Any, Iterator

from pydantic import BaseModel

from .phases import SCHEMAS, PhaseOutput

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "not", "contains", "propertyNames", "additionalProperties")
# Annotations pydantic writes that say nothing a validator or a reader needs.
_NOISE = ("title", "default")
PRIVATE_PREFIX = "x-"  # our own annotations (NOT_ASKED): read by the generators, not written to files


def raw_schema(model: type[BaseModel]) -> dict[str, Any]:
    """pydantic's schema of `model`, annotations and all (what the generators read)."""
    return model.model_json_schema(mode="validation")


def subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schemas directly inside `schema` (not the keys of `properties`, which are names)."""
    for key in _SUBSCHEMA_MAPS:
        yield from (s for s in schema.get(key, {}).values() if isinstance(s, dict))
    for key in _SUBSCHEMA_LISTS:
        yield from (s for s in schema.get(key, []) if isinstance(s, dict))
    for key in _SUBSCHEMA_ONE:
        if isinstance(schema.get(key), dict):
            yield schema[key]


def _clean(schema: dict[str, Any]) -> None:
    for key in [k for k in schema if k in _NOISE or k.startswith(PRIVATE_PREFIX)]:
        del schema[key]
    if schema.get("additionalProperties") is True:  # open is JSON Schema's default
        del schema["additionalProperties"]
    for child in subschemas(schema):
        _clean(child)


def phase_schema(model: type[PhaseOutput]) -> dict[str, Any]:
    """The file `schemas/phases/<model.schema_name>.json`."""
    body = raw_schema(model)
    _clean(body)
    head = {"$schema": DRAFT, "$id": f"mangaflow/phases/{model.schema_name}.json", "title": model.title}
    order = ("description", "type", "required", "properties", "$defs")
    return {**head, **{k: body[k] for k in order if k in body}, **{k: v for k, v in body.items() if k not in order}}


def phase_schemas() -> dict[str, dict[str, Any]]:
    """Every phase output schema by file name (`phase1`, ..., `phase5_panel`, ..., `phase7`)."""
    return {model.schema_name: phase_schema(model) for model in SCHEMAS}
