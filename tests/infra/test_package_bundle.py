"""scripts/package_functions.sh: the deploy bundle holds main.py, mangaflow/, schemas/ and
requirements.txt, is byte-for-byte reproducible, is named by its hash, and the code inside it
finds the schemas it reads at run time."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "package_functions.sh"
BIGQUERY_TABLES = ["chat_interaction_metrics", "phase_quality_scores", "quality_trends",
                   "retry_patterns", "user_feedback_analysis"]


def package(out: Path, root: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--out", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})


def bundle_path(result: subprocess.CompletedProcess[str]) -> Path:
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def repo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle_path(package(tmp_path_factory.mktemp("bundle")))


def test_the_bundle_holds_the_entry_points_the_package_the_schemas_and_the_requirements(
        repo_bundle):
    names = set(zipfile.ZipFile(repo_bundle).namelist())

    assert {"main.py", "requirements.txt", "mangaflow/__init__.py",
            "mangaflow/stores/analytics.py", "mangaflow/maintenance.py"} <= names
    assert {f"schemas/bigquery/{table}.json" for table in BIGQUERY_TABLES} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("functions/")]  # functions/ is the bundle root


def test_the_bundle_is_reproducible_and_named_by_its_hash(repo_bundle, tmp_path):
    again = bundle_path(package(tmp_path))
    digest = hashlib.sha256(repo_bundle.read_bytes()).hexdigest()

    assert again.name == repo_bundle.name
    assert again.read_bytes() == repo_bundle.read_bytes()
    assert repo_bundle.name == f"mangaflow-functions-{digest[:16]}.zip"
    infos = zipfile.ZipFile(repo_bundle).infolist()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)


def make_tree(root: Path) -> Path:
    (root / "functions" / "mangaflow").mkdir(parents=True)
    (root / "functions" / "main.py").write_text("from mangaflow import *\n")
    (root / "functions" / "requirements.txt").write_text("functions-framework==3.10.1\n")
    (root / "functions" / "mangaflow" / "__init__.py").write_text("")
    (root / "schemas" / "bigquery").mkdir(parents=True)
    (root / "schemas" / "bigquery" / "t.json").write_text("[]")
    return root


def test_a_changed_file_gives_a_new_name_and_a_cache_file_does_not(tmp_path):
    tree = make_tree(tmp_path / "tree")
    first = bundle_path(package(tmp_path / "a", tree))
    (tree / "functions" / "mangaflow" / "__pycache__").mkdir()
    (tree / "functions" / "mangaflow" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    unchanged = bundle_path(package(tmp_path / "b", tree))
    (tree / "functions" / "main.py").write_text("from mangaflow import *  # changed\n")
    changed = bundle_path(package(tmp_path / "c", tree))

    assert unchanged.name == first.name
    assert changed.name != first.name


def test_a_tree_without_main_py_is_refused_with_the_missing_file_named(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / "functions" / "main.py").unlink()

    result = package(tmp_path / "out", tree)

    assert result.returncode == 1
    assert "functions/main.py is missing" in result.stderr
    assert not list(tmp_path.glob("out/*.zip"))


def test_the_analytics_code_inside_the_bundle_finds_the_bundled_schemas(repo_bundle, tmp_path):
    unpacked = tmp_path / "workspace"
    zipfile.ZipFile(repo_bundle).extractall(unpacked)

    # -S keeps site-packages (and the editable install of the repository) off the path, so only
    # the unpacked bundle can provide mangaflow, as on Cloud Functions' /workspace.
    probe = subprocess.run(
        [sys.executable, "-S", "-c",
         "import mangaflow.stores.analytics as a; print(a.__file__); print(a.schemas_dir())"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"})

    assert probe.returncode == 0, probe.stderr
    module_file, schemas = probe.stdout.split()
    assert Path(module_file).is_relative_to(unpacked)
    assert Path(schemas) == unpacked / "schemas" / "bigquery"


def test_an_entry_point_runs_from_the_unpacked_bundle_alone(repo_bundle, tmp_path):
    """Cloud Functions runs main.py from the bundle's root: the code must find its JSON Schemas and
    SQL migrations there, not in the repository."""
    unpacked = tmp_path / "deployed"
    zipfile.ZipFile(repo_bundle).extractall(unpacked)
    assert (unpacked / "schemas" / "sql" / "001_core.sql").exists()
    probe = (
        "import json, mangaflow, mangaflow.schemas, mangaflow.stores.postgres as pg\n"
        "from functions_framework import create_app\n"
        "client = create_app('start_generation', 'main.py').test_client()\n"
        "response = client.post('/', json={'text': 'A story.', 'pages': 99})\n"
        "print(json.dumps({'package': mangaflow.__file__, 'schemas': str(mangaflow.schemas.schema_dir()),\n"
        "                  'sql': [str(p) for p in pg.migration_files()],\n"
        "                  'status': response.status_code, 'body': response.get_json()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=unpacked, capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(unpacked)})
    assert result.returncode == 0, result.stderr
    seen = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert seen["package"].startswith(str(unpacked))
    assert seen["schemas"].startswith(str(unpacked))
    assert seen["sql"] and all(p.startswith(str(unpacked)) for p in seen["sql"])
    assert seen["status"] == 422 and seen["body"]["field"] == "pages"
