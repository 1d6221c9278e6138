"""What is generated from the models is what is committed: regenerating in memory gives exactly
`schemas/phases/*.json` and `docs/data-model.md`. Also: the document's examples fit their models, every
registered phase has its output model, and the limits the request check uses are the models' own."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from mangaflow import model
from mangaflow.hitl.options import QUICK_OPTIONS
from mangaflow.model import base, generate
from mangaflow.model.examples import EXAMPLES
from mangaflow.model.jsonschema import phase_schema, subschemas
from mangaflow.phases import registry
from mangaflow.phases import request as request_check

REPOSITORY = Path(__file__).resolve().parents[2]
HOW = "python -m mangaflow.model.generate"


@pytest.mark.parametrize("path", sorted(generate.render_all()))
def test_the_committed_file_is_what_the_models_generate(path):
    committed = REPOSITORY / path
    assert committed.is_file(), f"{path} is missing; generate it: cd functions && {HOW}"
    assert committed.read_text(encoding="utf-8") == generate.render_all()[path], (
        f"{path} has drifted from the models in functions/mangaflow/model/ (edit the models, not this file); "
        f"regenerate it: cd functions && {HOW}")


def test_no_phase_schema_is_left_that_no_model_generates():
    assert generate.stale(REPOSITORY) == [], f"run: cd functions && {HOW}"


def test_check_names_each_drifted_file_and_how_to_regenerate(tmp_path):
    for path, text in generate.render_all().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert generate.stale(tmp_path) == []
    (tmp_path / "schemas/phases/phase3.json").write_text("{}", encoding="utf-8")
    (tmp_path / "schemas/phases/_common.json").write_text("{}", encoding="utf-8")
    (tmp_path / "docs/data-model.md").unlink()
    assert generate.stale(tmp_path) == ["schemas/phases/phase3.json", "docs/data-model.md",
                                        "schemas/phases/_common.json"]
    assert sorted(generate.write(tmp_path)) == sorted(["schemas/phases/phase3.json", "docs/data-model.md",
                                                       "schemas/phases/_common.json"])
    assert generate.stale(tmp_path) == [] and not (tmp_path / "schemas/phases/_common.json").exists()


def test_the_command_line_check_exits_1_naming_the_file(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(REPOSITORY / "functions" / "mangaflow", copy / "functions" / "mangaflow")
    shutil.copytree(REPOSITORY / "schemas", copy / "schemas")
    shutil.copytree(REPOSITORY / "docs", copy / "docs")
    clean = subprocess.run([sys.executable, "-m", "mangaflow.model.generate", "--check"], cwd=copy / "functions",
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (copy / "docs" / "data-model.md").write_text("edited by hand\n", encoding="utf-8")
    drifted = subprocess.run([sys.executable, "-m", "mangaflow.model.generate", "--check"], cwd=copy / "functions",
                             capture_output=True, text=True, timeout=120)
    assert drifted.returncode == 1
    assert drifted.stdout.strip() == (f"docs/data-model.md differs from the models in functions/mangaflow/model/; "
                                      f"run: {HOW}")


@pytest.mark.parametrize("shape", list(EXAMPLES), ids=lambda m: m.__name__)
def test_every_example_in_the_document_fits_its_model(shape):
    parsed = shape.model_validate(EXAMPLES[shape])
    assert parsed.model_extra == {}, "an example field the model does not name"
    if issubclass(shape, model.PhaseOutput):
        jsonschema.Draft202012Validator(phase_schema(shape)).validate(EXAMPLES[shape])


def test_each_schema_keeps_the_id_schemas_py_loads():
    for path, text in generate.render_all().items():
        if path.startswith("schemas/phases/"):
            schema = json.loads(text)
            assert schema["$id"] == f"mangaflow/phases/{Path(path).name}"
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            jsonschema.Draft202012Validator.check_schema(schema)
            nodes = list(subschemas(schema))
            while nodes:  # pydantic's titles and defaults are noise in the files; the top keeps its title
                node = nodes.pop()
                assert not {"title", "default"} & set(node), f"{path}: {node}"
                nodes.extend(subschemas(node))


def test_every_registered_phase_has_its_output_model():
    plugins = registry.phases()
    assert [(p.number, p.key) for p in plugins] == [(m.number, m.key) for m in model.PHASE_OUTPUTS]
    assert model.PanelImage.number == 5 and model.PanelImage.key == registry.phase(5).key


def test_the_request_check_uses_the_models_limits():
    assert request_check.STYLES == base.STYLES
    assert request_check.LANGUAGES == base.LANGUAGES
    assert (request_check.MIN_PAGES, request_check.MAX_PAGES) == (base.MIN_PAGES, base.MAX_PAGES)
    assert request_check.MAX_TEXT_CHARS == base.MAX_TEXT_CHARS
    assert request_check.MAX_TITLE_CHARS == base.MAX_TITLE_CHARS


def test_the_feedback_document_names_every_quick_option():
    doc = model.Feedback.__doc__ or ""
    for phase, options in QUICK_OPTIONS.items():
        assert all(f"`{option}`" in doc for option in options), f"phase {phase}'s quick options"
