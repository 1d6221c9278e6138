"""The offline content rules are domain code: providers adapt them, phases use them, never the reverse."""
from __future__ import annotations

import ast
from pathlib import Path

import mangaflow.offline
from mangaflow.phases import QUICK_OPTIONS
from mangaflow.providers import OfflineProvider
from mangaflow.providers.offline import OfflineProvider as Adapter

OFFLINE = Path(mangaflow.offline.__file__).parent
PROVIDERS = OFFLINE.parent / "providers"


def imported_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_offline_imports_nothing_from_providers_or_phases():
    offenders = {path.name: [m for m in imported_modules(path)
                             if any(part in ("providers", "phases") for part in m.strip(".").split("."))]
                 for path in OFFLINE.glob("*.py")}
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_providers_hold_no_content_rules_of_their_own():
    assert sorted(p.name for p in PROVIDERS.glob("_*.py")) == ["__init__.py"]
    adapter = (PROVIDERS / "offline.py").read_text(encoding="utf-8")
    # One line per rule and the route of every call through the CallScope: nothing of the rules themselves.
    assert len(adapter.splitlines()) < 60


def test_quick_options_are_one_table_seen_from_phases_and_the_offline_rules():
    from mangaflow.hitl.options import QUICK_OPTIONS as neutral
    from mangaflow.offline.feedback import PHASE_OPTIONS

    assert QUICK_OPTIONS is neutral is PHASE_OPTIONS


def test_the_adapter_gives_the_domain_rules_output():
    inputs = {"text": "春香は港に来た。「遅いよ」と蒼太は言った。", "pages": 3}
    assert OfflineProvider is Adapter
    assert OfflineProvider().concept(inputs, None) == mangaflow.offline.concept(inputs, None)
    assert OfflineProvider().storyboard(inputs, None) == mangaflow.offline.storyboard(inputs, None)
