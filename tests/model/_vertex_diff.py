"""Where one Vertex AI response schema accepts less than another: a structural comparison over the
subset the project uses (types, nullable, enum, bounds, pattern, required, properties, items)."""
from __future__ import annotations

from typing import Any

_LOWER = ("minimum", "min_length", "min_items")
_UPPER = ("maximum", "max_length", "max_items")


def narrower(new: dict[str, Any], old: dict[str, Any], where: str = "") -> list[str]:
    """Every way `new` refuses an answer `old` describes (an empty list: `new` accepts all of them)."""
    at = where or "(root)"
    found: list[str] = []
    if new["type"] != old["type"]:
        return [f"{at}: type {new['type']} instead of {old['type']}"]
    if old.get("nullable") and not new.get("nullable"):
        found.append(f"{at}: null no longer accepted")
    if "enum" in new and set(old.get("enum", [None])) - set(new["enum"]):
        found.append(f"{at}: enum lacks {sorted(set(old.get('enum', ['(any string)'])) - set(new['enum']))}")
    for key in _LOWER:
        if key in new and new[key] > old.get(key, float("-inf")):
            found.append(f"{at}: {key} {new[key]} (was {old.get(key, 'none')})")
    for key in _UPPER:
        if key in new and new[key] < old.get(key, float("inf")):
            found.append(f"{at}: {key} {new[key]} (was {old.get(key, 'none')})")
    if "pattern" in new and new["pattern"] != old.get("pattern"):
        found.append(f"{at}: pattern {new['pattern']} (was {old.get('pattern', 'none')})")
    if new["type"] == "ARRAY":
        found += narrower(new["items"], old["items"], f"{where}[]")
    if new["type"] == "OBJECT":
        for name in old["properties"]:
            if name not in new["properties"]:
                found.append(f"{at}: property {name} no longer asked")
            else:
                found += narrower(new["properties"][name], old["properties"][name], f"{where}.{name}".lstrip("."))
        for name in set(new.get("required", [])) - set(old.get("required", [])):
            found.append(f"{at}: {name} required" + ("" if name in old["properties"] else " (a new property)"))
    return found
