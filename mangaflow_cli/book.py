"""The finished book on disk: the `--out` folder checked before any work, then filled through
`get_status` and `get_artifact` (pages/NNN.png, manga.pdf, manga.cbz, manifest.json)."""
from __future__ import annotations

import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .api import ApiClient

_PAGE_FILE = re.compile(r"^\d{3}\.png$")
DOWNLOADS_AT_ONCE = 4
EXPORT_FILES = (("pdf", "manga.pdf"), ("cbz", "manga.cbz"), ("cbz_clean", "manga-clean.cbz"), ("manifest", "manifest.json"))


class OutFolderError(Exception):
    """The --out folder cannot take the book."""


def check_out_folder(path: str) -> Path:
    """A folder the book can be written into: made if missing; a file or an unwritable folder is refused."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutFolderError(f"--out: {path} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".mangaflow-write-check-"):
            pass
    except OSError as err:
        raise OutFolderError(f"--out: cannot write into {path} ({err.strerror or err})") from None
    return out


def _write(path: Path, data: bytes) -> None:
    """Whole files only: a reader never sees half a page."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def download(api: ApiClient, request_id: str, out: Path,
             retrying: Callable[[Callable[[], Any]], Any] = lambda call: call()) -> dict[str, Any]:
    """Copies the finished book into `out` and summarises the run. Pages of an earlier, longer book
    in the same folder are removed, so the folder holds exactly this book. The files are fetched
    DOWNLOADS_AT_ONCE at a time (the gateway serves them from several workers) and written in order."""
    state = retrying(lambda: api.get_status(request_id))
    pages_dir = out / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    page_paths = [pages_dir / f"{int(page['page']):03d}.png" for page in state.get("final_pages", [])]
    exports = state.get("exports") or {}
    wanted = [(path, page["uri"]) for path, page in zip(page_paths, state.get("final_pages", []))]
    wanted += [(out / name, exports[key]) for key, name in EXPORT_FILES if exports.get(key)]
    with ThreadPoolExecutor(DOWNLOADS_AT_ONCE, thread_name_prefix="download") as pool:
        fetched = pool.map(lambda job: retrying(lambda: api.get_artifact(request_id, job[1])), wanted)
        for (path, _), data in zip(wanted, fetched):
            _write(path, data)
    for stale in pages_dir.iterdir():
        if _PAGE_FILE.match(stale.name) and stale not in page_paths:
            stale.unlink()
    outputs: dict[str, Any] = {"pages": [str(path) for path in page_paths]}
    for key, name in EXPORT_FILES:
        if exports.get(key):
            outputs[key] = str(out / name)
        else:
            (out / name).unlink(missing_ok=True)
    return {"request_id": request_id, "pages": len(page_paths), "panels": state.get("panel_count", 0),
            "outputs": outputs, "phases": phase_summary(state), "cost": state.get("cost")}


def phase_summary(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Per phase: seconds (its wall span, phase 5's panel calls included), where they went (`work_s`,
    `panels_s`, `ai_wait_s`, `ai_calls`: get_status's `timing`), attempts, the chosen attempt's quality score
    and the gate's decision."""
    phases = []
    for phase in state.get("phases", []):
        attempts = [a for a in phase.get("attempts", []) if a.get("panel_id") is None]
        chosen = next((a for a in attempts if a.get("selected")), attempts[-1] if attempts else {})
        gates = phase.get("gates", [])
        timing = phase.get("timing") or {}
        phases.append({"phase": phase["phase"], "seconds": timing.get("span_s", 0.0),
                       "work_s": timing.get("work_s", 0.0), "panels_s": timing.get("panels_s", 0.0),
                       "panel_calls": timing.get("panel_calls", 0), "ai_wait_s": timing.get("ai_wait_s", 0.0),
                       "ai_calls": timing.get("ai_calls", 0),
                       "attempts": len(attempts), "quality_score": chosen.get("score"),
                       "decision": gates[-1].get("decision") if gates else chosen.get("decision")})
    return phases
