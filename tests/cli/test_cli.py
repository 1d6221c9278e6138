"""The `mangaflow` command as a person uses it: real subprocesses against the local stack, talking
to the service only over its HTTP API."""
from __future__ import annotations

import ast
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from functions_framework import create_app

from _cli_runs import REPO, STORY, mangaflow
from mangaflow_cli.api import local_user


def http_error(body: dict, monkeypatch: pytest.MonkeyPatch) -> str:
    """What start_generation itself answers an authenticated caller for this body."""
    from mangaflow.auth import issue_local_token

    monkeypatch.setenv("MANGAFLOW_SIGNING_KEY", "cli-test-key")
    client = create_app("start_generation", str(REPO / "functions" / "main.py")).test_client()
    token = issue_local_token("tester", "cli-test-key")
    return client.post("/", json=body, headers={"Authorization": f"Bearer {token}"}).get_json()["error"]


@pytest.mark.parametrize(
    ("content", "args", "body"),
    [
        ("", [], {"text": ""}),
        ("   \n  ", [], {"text": "   \n  "}),
        ("A story.", ["--pages", "0"], {"text": "A story.", "pages": 0}),
        ("A story.", ["--pages", "33"], {"text": "A story.", "pages": 33}),
        ("A story.", ["--style", "noir"], {"text": "A story.", "style": "noir"}),
        ("A story.", ["--language", "fr"], {"text": "A story.", "language": "fr"}),
        ("x" * 50_001, [], {"text": "x" * 50_001}),
    ],
)
def test_bad_input_exits_2_with_the_http_message(tmp_path, monkeypatch, content, args, body):
    story = tmp_path / "story.txt"
    story.write_text(content, encoding="utf-8")
    result = mangaflow("generate", story, "--out", tmp_path / "out", "--auto-approve", *args, timeout=60)
    assert result.returncode == 2, result.stderr
    message = http_error(body, monkeypatch)
    assert " ".join(message.split()) in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_binary_story_exits_2(tmp_path):
    story = tmp_path / "story.bin"
    story.write_bytes(bytes(range(256)) * 4)
    result = mangaflow("generate", story, "--out", tmp_path / "out", timeout=60)
    assert result.returncode == 2
    assert "text" in result.stderr and "UTF-8" in result.stderr


def test_missing_story_file_exits_2(tmp_path):
    result = mangaflow("generate", tmp_path / "nope.txt", "--out", tmp_path / "out", timeout=60)
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_out_that_is_a_file_exits_2_before_anything_starts(tmp_path):
    book = tmp_path / "book.pdf"
    book.write_text("not a folder")
    untouched = tmp_path / "no-stack-here"
    for out, words in ((book, "is a file, not a folder"), (book / "sub", "cannot write into")):
        result = mangaflow("generate", STORY, "--pages", "1", "--out", out, "--auto-approve", timeout=60,
                           MANGAFLOW_LOCAL_DIR=str(untouched))
        assert result.returncode == 2, result.stderr
        assert "--out" in result.stderr and words in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr
    assert not untouched.exists()  # no local server was started, not even its data folder made
    assert book.read_text() == "not a folder"


def test_the_cli_package_reads_no_store():
    for path in (REPO / "mangaflow_cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [name for name in imported if name.startswith(("mangaflow.stores", "mangaflow.service"))], path


@pytest.fixture(scope="module")
def generated(stack, tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    result = mangaflow("generate", STORY, "--pages", "3", "--out", out, "--auto-approve", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def test_generate_json_summary_and_files(generated):
    out, summary = generated
    assert set(summary) >= {"request_id", "pages", "panels", "outputs", "phases", "execution"}
    assert summary["pages"] == 3 and summary["panels"] >= 3
    assert [p["phase"] for p in summary["phases"]] == list(range(1, 8))
    for phase in summary["phases"]:
        assert phase["attempts"] >= 1 and phase["decision"] == "approve"
        assert 0.0 <= phase["quality_score"] <= 1.0 and phase["seconds"] >= 0
        # `seconds` is the phase's wall span: never less than its whole runs' time, nor its panels' time
        # spread over the concurrency (5 by default).
        assert phase["seconds"] >= phase["work_s"] - 0.002 and phase["seconds"] >= phase["panels_s"] / 5
        assert phase["ai_wait_s"] >= 0 and phase["ai_calls"] >= 0
    panels = next(p for p in summary["phases"] if p["phase"] == 5)
    assert panels["panel_calls"] >= summary["panels"] and panels["panels_s"] > 0
    assert panels["seconds"] > panels["work_s"]  # the panel calls count, not `collect` alone
    assert sorted(os.listdir(out / "pages")) == ["001.png", "002.png", "003.png"]
    assert (out / "pages" / "001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # fetched several at a time, each file still holds its own page: the CBZ's pages, in order
    with zipfile.ZipFile(out / "manga.cbz") as cbz:
        assert [cbz.read(f"{n:03d}.png") for n in (1, 2, 3)] == \
            [(out / "pages" / f"{n:03d}.png").read_bytes() for n in (1, 2, 3)]
    assert len({(out / "pages" / f"{n:03d}.png").read_bytes() for n in (1, 2, 3)}) == 3
    assert (out / "manga.pdf").read_bytes()[:5] == b"%PDF-"
    for key in ("pdf", "cbz", "manifest"):
        assert Path(summary["outputs"][key]).stat().st_size > 0


def test_status_json_reads_every_phase(generated):
    _, summary = generated
    result = mangaflow("status", summary["request_id"], "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["status"] == "completed" and state["user_id"] == local_user()
    assert [p["phase"] for p in state["phases"]] == list(range(1, 8))
    assert all(p["gates"] and p["attempts"] and p["artifacts"] for p in state["phases"])
    text = mangaflow("status", summary["request_id"], timeout=60)
    assert text.returncode == 0 and "phase 5 panel images" in text.stdout and "completed" in text.stdout
    assert "s wall (" in text.stdout and "panel calls" in text.stdout and "AI wait" in text.stdout


def test_a_reused_out_folder_holds_exactly_the_new_book(stack, tmp_path):
    out = tmp_path / "out"
    (out / "pages").mkdir(parents=True)
    for page in range(1, 6):  # an earlier, longer book
        (out / "pages" / f"{page:03d}.png").write_bytes(b"old page")
    (out / "pages" / "notes.txt").write_text("mine")
    result = mangaflow("generate", STORY, "--pages", "1", "--out", out, "--auto-approve", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(out / "pages")) == ["001.png", "notes.txt"]
    assert (out / "pages" / "001.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "manifest.json").read_text())["request"]["request_id"] == \
        json.loads(result.stdout.strip().splitlines()[-1])["request_id"]


def test_status_of_an_unknown_request_exits_2(stack):
    result = mangaflow("status", "r-0000000000000000", "--json", timeout=60)
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_review_mode_asks_at_each_gate(stack, tmp_path):
    from mangaflow.stores import objects

    story = tmp_path / "story.txt"
    story.write_text("Lena found a key under the bridge. \"Whose is this?\" Lena asked.", encoding="utf-8")
    answers = "modify\nmuch brighter please\nrevert\n1\nskip\n"
    result = mangaflow("generate", story, "--pages", "1", "--out", tmp_path / "out", "--review", "--json",
                       stdin=answers)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    phases = {p["phase"]: p for p in summary["phases"]}
    assert phases[1]["attempts"] == 2
    assert phases[1]["decision"] == "approve"  # the revert to attempt 1
    assert phases[2]["decision"] == "skip"
    manifest = json.loads(Path(summary["outputs"]["manifest"]).read_text())
    concept_runs = [a for a in manifest["phases"][0]["attempts"] if a["panel_id"] is None]
    first, second = (objects.get_json(a["output_uri"]) for a in sorted(concept_runs, key=lambda a: a["attempt"]))
    assert manifest["outputs"]["concept"] == first != second
    assert all(phases[n]["decision"] == "skip" for n in range(3, 8))


def test_services_status_json(stack):
    result = mangaflow("services", "status", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"postgres", "redis", "storage", "firestore", "gateway", "workflows"} <= set(rows)
    for row in rows.values():
        assert row["healthy"] is True and row["endpoint"] and row["version"]


def test_a_stack_that_is_not_running_is_named_with_the_command_that_starts_it(tmp_path):
    result = mangaflow("status", "r-0000000000000000", timeout=60, MANGAFLOW_LOCAL_DIR=str(tmp_path / "nothing-here"))
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "gateway" in message and "mangaflow services up" in message
    assert "Traceback" not in result.stderr


def test_review_without_a_terminal_says_how_to_go_on(stack, tmp_path):
    story = tmp_path / "story.txt"
    story.write_text("Ona read the letter twice.", encoding="utf-8")
    result = mangaflow("generate", story, "--pages", "1", "--out", tmp_path / "out", "--review", stdin="")
    assert result.returncode == 2
    assert "--auto-approve" in result.stderr and "Traceback" not in result.stderr
    request_id = re.search(r"request (r-[0-9a-f]+) started", result.stderr).group(1)
    state = json.loads(mangaflow("status", request_id, "--json", timeout=60).stdout)
    assert state["status"] == "cancelled"
