"""Writes what is generated from the models: `schemas/phases/*.json` and `docs/data-model.md`.

    python -m mangaflow.model.generate           # write them
    python -m mangaflow.model.generate --check   # exit 1 naming each file that differs (CI, tests)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .document import compact_json, data_model_markdown
from .jsonschema import phase_schemas

REPOSITORY = Path(__file__).resolve().parents[3]
COMMAND = "python -m mangaflow.model.generate"


def render_all() -> dict[str, str]:
    """Every generated file by its path in the repository, as it should read (no I/O)."""
    files = {f"schemas/phases/{name}.json": compact_json(schema) + "\n"
             for name, schema in phase_schemas().items()}
    files["docs/data-model.md"] = data_model_markdown()
    return files


def stale(root: Path = REPOSITORY) -> list[str]:
    """Generated files under `root` that differ from what the models say, or are missing; and phase schema
    files no model generates any more."""
    wanted = render_all()
    found = [path for path, text in wanted.items()
             if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text]
    found += [f"schemas/phases/{p.name}" for p in sorted((root / "schemas" / "phases").glob("*.json"))
              if f"schemas/phases/{p.name}" not in wanted]
    return found


def write(root: Path = REPOSITORY) -> list[str]:
    """Write every generated file, remove phase schemas no model makes; returns the paths changed."""
    changed = stale(root)
    wanted = render_all()
    for path in changed:
        target = root / path
        if path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    if args.check:
        changed = stale()
        for path in changed:
            print(f"{path} differs from the models in functions/mangaflow/model/; run: {COMMAND}")
        return 1 if changed else 0
    for path in write():
        print(f"{'wrote' if (REPOSITORY / path).exists() else 'removed'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
