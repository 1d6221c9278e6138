"""JSON Schemas of the HTTP API and the phase outputs, loaded once, and validation errors a person can act on.

The schemas live in the repository's `schemas/`; the deploy bundle carries a copy of that folder
beside `main.py` (scripts/package_functions.sh), so both places are looked up. The phase output schemas
(`schemas/phases/`) are generated from `mangaflow.model` (`python -m mangaflow.model.generate`), each
self-contained; the HTTP ones are written by hand.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import referencing

from .errors import DomainError, PayloadTooLarge, ValidationError

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE.parent / "schemas", _HERE.parent.parent / "schemas")


def schema_dir() -> Path:
    """The folder holding the schemas (bundle copy first, then the repository's)."""
    for candidate in _CANDIDATES:
        if (candidate / "http").is_dir():
            return candidate
    raise FileNotFoundError("schemas/ not found beside the functions source; run scripts/package_functions.sh")


@functools.lru_cache(maxsize=1)
def _registry() -> referencing.Registry:
    """Every schema under schemas/ by its $id, so a `$ref` to another file resolves."""
    resources = []
    for path in sorted(schema_dir().glob("*/*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(contents, dict) and "$id" in contents:
            resources.append((contents["$id"], referencing.Resource.from_contents(contents)))
    return referencing.Registry().with_resources(resources)


@functools.lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((schema_dir() / f"{name}.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def warm_validators() -> int:
    """Builds the validator of every HTTP and phase schema now (each is checked against its meta-schema once,
    about 10 ms), so no call pays it the first time a process validates that shape. Returns how many."""
    names = [f"{folder}/{path.stem}" for folder in ("http", "phases")
             for path in sorted((schema_dir() / folder).glob("*.json"))]
    for name in names:
        _validator(name)
    return len(names)


def _field_of(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    if error.validator == "additionalProperties" and "'" in error.message:
        path.append(error.message.split("'")[1])
    return ".".join(p for p in path if p) or "(body)"


def _describe(error: jsonschema.ValidationError, field: str) -> tuple[str, int]:
    """A message naming the field and the limit, and the HTTP status for it."""
    v, limit = error.validator, error.validator_value
    if v == "maxLength":
        return f"'{field}' is {len(error.instance)} characters long; the limit is {limit}", 413
    if v == "minLength":
        return f"'{field}' must not be empty (at least {limit} character{'s' if limit != 1 else ''})", 400
    if v == "required":
        return f"'{field}' is required", 400
    if v in ("minimum", "maximum"):
        bounds = error.schema
        low, high = bounds.get("minimum"), bounds.get("maximum")
        if low is not None and high is not None:
            return f"'{field}' must be between {low} and {high}; got {error.instance!r}", 422
        return f"'{field}' must be {'at least' if v == 'minimum' else 'at most'} {limit}; got {error.instance!r}", 422
    if v == "enum":
        return f"'{field}' must be one of {', '.join(map(str, limit))}; got {error.instance!r}", 422
    if v == "type":
        return f"'{field}' must be of type {limit}", 422
    if v == "additionalProperties":
        return f"'{field}' is not a known field", 422
    if v == "pattern":
        return f"'{field}' has an invalid format", 422
    if v in ("maxItems", "minItems"):
        return f"'{field}' must have {'at most' if v == 'maxItems' else 'at least'} {limit} items", 422
    return f"'{field}': {error.message}", 422


def validate(name: str, instance: Any) -> None:
    """Raise a ValidationError (or PayloadTooLarge) naming the first bad field and its limit."""
    validator = _validator(name)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if not errors:
        return
    error = errors[0]
    if error.validator in ("anyOf", "oneOf") and error.context:
        error = sorted(error.context, key=lambda e: -len(list(e.absolute_path)))[0]
    field = _field_of(error)
    message, status = _describe(error, field)
    if status == 413:
        raise PayloadTooLarge(message, field=field)
    raise ValidationError(message, status=status, field=field)


def validate_output(phase: int, output: Any, *, panel: bool = False) -> None:
    """A phase's output must match `schemas/phases/phaseN.json`; a mismatch is our bug, not the caller's."""
    name = f"phases/phase{phase}_panel" if panel else f"phases/phase{phase}"
    errors = sorted(_validator(name).iter_errors(output), key=lambda e: len(list(e.absolute_path)))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "(output)"
        raise DomainError(f"phase {phase} produced an output that does not match {name}.json at {where}: "
                          f"{error.message[:300]}", status=500, field=where)


_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def check_text(value: Any, path: str = "", lenient: tuple[str, ...] = ()) -> None:
    """No NUL and no lone surrogate in any key or string: no store can keep them, so they are refused
    here with the field's name instead of failing deep inside PostgreSQL, Redis or Firestore.
    Top-level fields in `lenient` are left for the handler to judge (a gate answer is checked by
    record_decision, where a bad one is just an invalid answer)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            bad = _BAD_TEXT.search(item)
            if bad:
                what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate (not valid Unicode)"
                raise ValidationError(f"'{where or '(body)'}' holds {what} at position {bad.start()}",
                                      status=400, field=where or "(body)")
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                if _BAD_TEXT.search(str(key)):
                    raise ValidationError(f"a field name under '{where or '(body)'}' holds a NUL or a lone "
                                          "surrogate", status=400, field=where or "(body)")
                if not where and key in lenient:
                    continue
                stack.append((child, name))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
