"""cloudbuild.yaml: test, package, terraform init/plan/apply in that order, every substitution it
uses declared, and apply only of the reviewed plan."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILT_IN = {"PROJECT_ID", "BUILD_ID", "SHORT_SHA", "COMMIT_SHA", "BRANCH_NAME", "LOCATION"}


def load() -> dict:
    return yaml.safe_load((REPO / "cloudbuild.yaml").read_text(encoding="utf-8"))


def script_of(step: dict) -> str:
    return " ".join(step.get("args", []))


def test_steps_run_tests_then_package_then_plan_then_apply() -> None:
    steps = {step["id"]: step for step in load()["steps"]}

    assert list(steps) == ["test", "package", "terraform-init", "terraform-plan",
                           "terraform-apply"]
    assert "make test" in script_of(steps["test"])
    assert "scripts/package_functions.sh" in script_of(steps["package"])
    assert "function_source_zip=" in script_of(steps["terraform-plan"])
    assert "-out=tfplan" in script_of(steps["terraform-plan"])
    assert "apply -input=false tfplan" in script_of(steps["terraform-apply"])
    for step_id in ("terraform-init", "terraform-plan", "terraform-apply"):
        assert steps[step_id]["dir"] == "infra"
        assert re.fullmatch(r"hashicorp/terraform:\d+\.\d+\.\d+", steps[step_id]["name"])


def test_every_substitution_used_is_declared() -> None:
    text = (REPO / "cloudbuild.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{?(_[A-Z0-9_]+)", text))
    built_in_used = set(re.findall(r"(?<!\$)\$\{?([A-Z][A-Z0-9_]+)\b", text)) - used

    assert used and used <= set(load()["substitutions"])
    assert built_in_used <= BUILT_IN, built_in_used
    assert load()["substitutions"]["_APPLY"] == "false"  # applying is opted into per trigger
