"""A model as a Vertex AI response schema (the OpenAPI subset Gemini's structured output takes): type
names in capitals, `nullable`, `enum`, bounds, `required`, `property_ordering`, everything inline.

Keys are spelled as the google-genai SDK's `types.Schema` fields (`min_items`, `max_length`,
`property_ordering`: the SDK sends them as camelCase on the wire), the spelling
`providers/vertex.py`'s `conform()` reads. Fields marked NOT_ASKED are left out: the phase fills them in.
"""
from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel

from .base import NOT_ASKED
from .jsonschema import raw_schema

_TYPES = {"string": "STRING", "integer": "INTEGER", "number": "NUMBER", "boolean": "BOOLEAN", "array": "ARRAY",
          "object": "OBJECT"}
_BOUNDS = {"minimum": "minimum", "maximum": "maximum", "minLength": "min_length", "maxLength": "max_length",
           "minItems": "min_items", "maxItems": "max_items", "pattern": "pattern"}
_ASKED_MARK = next(iter(NOT_ASKED))


class NotAskable(TypeError):
    """A field Vertex AI's schema subset cannot express (name it NOT_ASKED, or give it a shape)."""


def vertex_schema(model: type[BaseModel], *, descriptions: bool = True) -> dict[str, Any]:
    """`model`'s fields the text model is asked for, as a Vertex AI response schema dict (the value of
    `GenerateContentConfig(response_schema=...)`). `descriptions` carries each field's description along,
    which is what Gemini reads about it. A fresh dict each call (the SDK edits schemas in place)."""
    return copy.deepcopy(_vertex_schema(model, descriptions))


@functools.lru_cache(maxsize=None)
def _vertex_schema(model: type[BaseModel], descriptions: bool) -> dict[str, Any]:
    root = raw_schema(model)
    return _convert(root, root.get("$defs", {}), model.__name__, descriptions)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _convert(schema: dict[str, Any], defs: dict[str, Any], where: str, descriptions: bool,
             optional: bool = False) -> dict[str, Any]:
    schema = _resolve(schema, defs)
    nullable = False
    if "anyOf" in schema:
        branches = [_resolve(b, defs) for b in schema["anyOf"]]
        others = [b for b in branches if b.get("type") != "null"]
        if len(others) != 1 or len(others) == len(branches):
            raise NotAskable(f"{where}: Vertex AI takes one type per field (or that type or null)")
        # An optional field the model may leave out is not asked as null: absent says it.
        nullable = not (optional and schema.get("default", ...) is None)
        outer = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**others[0], **{k: v for k, v in outer.items() if k == "description"}}
    result: dict[str, Any] = {}
    if "const" in schema:
        schema = {**schema, "enum": [schema["const"]]}
    if "enum" in schema:
        if not all(isinstance(v, str) for v in schema["enum"]):
            raise NotAskable(f"{where}: Vertex AI enums are strings")
        result["type"] = "STRING"
        result["enum"] = list(schema["enum"])
    elif schema.get("type") in _TYPES:
        result["type"] = _TYPES[schema["type"]]
    else:
        raise NotAskable(f"{where}: no single JSON type ({schema.get('type')!r}); mark it NOT_ASKED")
    if nullable:
        result["nullable"] = True
    if descriptions and schema.get("description") and "properties" not in schema:
        result["description"] = schema["description"]
    for key, name in _BOUNDS.items():
        if key in schema:
            result[name] = schema[key]
    if result["type"] == "ARRAY":
        result["items"] = _convert(schema["items"], defs, f"{where}[]", descriptions)
    if result["type"] == "OBJECT":
        properties = {name: sub for name, sub in (schema.get("properties") or {}).items()
                      if not _resolve(sub, defs).get(_ASKED_MARK)}
        if not properties:
            raise NotAskable(f"{where}: Vertex AI needs an object's properties; mark it NOT_ASKED or give it a model")
        required = set(schema.get("required") or [])
        result["properties"] = {name: _convert(sub, defs, f"{where}.{name}", descriptions, name not in required)
                                for name, sub in properties.items()}
        result["required"] = [name for name in properties if name in required]
        result["property_ordering"] = list(properties)
    return result
