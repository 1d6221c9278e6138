"""The Terraform under infra/ as data: every *.tf parsed with python-hcl2 and merged (resources by
type and name, locals, variables, outputs), plus the YAML and JSON files it reads. Terraform itself
cannot run here (no providers), so the tests read the configuration instead."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import hcl2
import yaml
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=OPTIONS)


def load() -> dict[str, Any]:
    """All of infra/*.tf merged; a name declared twice fails here, as it would in Terraform."""
    merged: dict[str, Any] = {"resource": {}, "data": {}, "locals": {}, "variable": {}, "output": {},
                              "terraform": [], "provider": []}
    for path in sorted(INFRA.glob("*.tf")):
        parsed = parse(path)
        for section in ("resource", "data"):
            for block in parsed.get(section, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        assert name not in merged[section].setdefault(kind, {}), (section, kind, name)
                        merged[section][kind][name] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in merged["locals"], f"local.{name} defined twice"
                merged["locals"][name] = value
        for kind in ("variable", "output"):
            for block in parsed.get(kind, []):
                merged[kind].update(block)
        merged["terraform"] += parsed.get("terraform", [])
        merged["provider"] += parsed.get("provider", [])
    return merged


def resource(terraform: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return terraform["resource"][kind][name]


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body[name]
    return value[0] if isinstance(value, list) else value


def dynamic(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The `dynamic "<name>"` block of a body (python-hcl2 lists dynamic blocks under "dynamic")."""
    found = [d[name] for d in body.get("dynamic", []) if name in d]
    assert len(found) == 1, f"expected one dynamic {name!r} block, found {len(found)}"
    return found[0]


def all_tf_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(INFRA.glob("*.tf")))


def tf_text(name: str) -> str:
    return (INFRA / name).read_text(encoding="utf-8")


def pubsub_yaml() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "pubsub.yaml").read_text(encoding="utf-8"))


def schedules_yaml() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "schedules.yaml").read_text(encoding="utf-8"))


def dashboard(name: str) -> dict[str, Any]:
    return json.loads((INFRA / "dashboards" / name).read_text(encoding="utf-8"))


def function_specs(terraform: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """local.function_specs as Terraform computes it: each entry of the map over the defaults."""
    defaults = terraform["locals"]["function_defaults"]
    return {key: {**defaults, **spec} for key, spec in terraform["locals"]["functions"].items()}


def exported_entry_points() -> set[str]:
    """What functions/main.py lists in __all__: every one must be deployed."""
    tree = ast.parse((REPO / "functions" / "main.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("functions/main.py has no __all__")


_EACH_VALUE = re.compile(r"\$\{each\.value((?:\.[a-z_0-9]+)+)\}")


def each_value_paths(value: Any) -> set[tuple[str, ...]]:
    """Every `each.value.a.b` path a (parsed) resource body reads."""
    text = json.dumps(value)
    return {tuple(path.strip(".").split(".")) for path in re.findall(r"each\.value((?:\.[a-z_0-9]+)+)", text)}


def render(value: Any, item: dict[str, Any], key: str) -> Any:
    """Evaluates the plain `${each.value...}` / `${each.key}` interpolations of a resource body for
    one for_each item (what Terraform would send), leaving every other expression as written."""
    if isinstance(value, dict):
        return {k: render(v, item, key) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, item, key) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(path: str) -> Any:
        found: Any = item
        for part in path.strip(".").split("."):
            found = found[part]
        return found

    whole = _EACH_VALUE.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    value = value.replace("${each.key}", key)
    value = _EACH_VALUE.sub(lambda m: str(lookup(m.group(1))), value)

    # Inside a larger expression (an index, a function argument): a string as its bare text, any
    # other value as JSON, which is how its HCL literal reads.
    def inline(match: re.Match[str]) -> str:
        found = lookup(match.group(1))
        return found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))

    return re.sub(r"\beach\.value((?:\.[a-z_0-9]+)+)", inline, value)
