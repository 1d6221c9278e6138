"""Every attempt of every phase is kept: list a phase's versions, compare two. Reverting is an
`approve` at the gate naming the attempt to go on with (see gates.record_decision)."""
from __future__ import annotations

from typing import Any

from ..bootstrap import Stores
from ..errors import NotFound


def _whole_runs(stores: Stores, request_id: str, phase: int) -> dict[int, dict[str, Any]]:
    return {int(r["attempt"]): r for r in stores.phase_runs.list(request_id, phase)
            if r.get("panel_id") is None and r.get("status") == "succeeded" and r.get("output_uri")}


def preview_versions(stores: Stores, body: dict[str, Any]) -> dict[str, Any]:
    request_id, phase = body["request_id"], int(body["phase"])
    runs = _whole_runs(stores, request_id, phase)
    versions = []
    for preview in stores.phase_runs.previews(request_id, phase):
        run = runs.get(int(preview.get("attempt") or 0), {})
        versions.append({"version": preview["version"], "attempt": preview.get("attempt"), "preview_uri": preview["uri"],
                         "output_uri": run.get("output_uri"), "score": run.get("score"),
                         "summary": stores.artifacts.get_json(preview["uri"]).get("summary", "")})
    answer: dict[str, Any] = {"request_id": request_id, "phase": phase, "versions": versions}
    if body.get("compare"):
        answer["comparison"] = compare(stores, runs, *body["compare"])
    return answer


def compare(stores: Stores, runs: dict[int, dict[str, Any]], first: int, second: int) -> dict[str, Any]:
    """Which top-level fields differ between two attempts, with both values of the short ones."""
    missing = [a for a in (first, second) if a not in runs]
    if missing:
        raise NotFound(f"no finished attempt {missing[0]} of this phase", field="compare")
    a, b = (stores.artifacts.get_json(runs[n]["output_uri"]) for n in (first, second))
    changed = {}
    for key in sorted(set(a) | set(b)):
        if key == "processing_metadata" or a.get(key) == b.get(key):
            continue
        values = (a.get(key), b.get(key))
        short = all(isinstance(v, (str, int, float, bool, type(None))) for v in values)
        changed[key] = {"from": values[0], "to": values[1]} if short else {"changed": True}
    return {"from_attempt": first, "to_attempt": second, "changed": changed}
