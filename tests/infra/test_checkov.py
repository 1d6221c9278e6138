"""checkov over infra/ (issue 7: 0 failed), run from the pinned tool environment `.venv-tools/`
that `make tools` builds and `make test` depends on. Every skip carries its reason in the
Terraform (`#checkov:skip=CKV_...:reason`) and is listed in infra/README.md."""
from __future__ import annotations

import json
import os
import re
import subprocess
from functools import lru_cache
from typing import Any

from terraform_model import INFRA, REPO

TOOLS = REPO / ".venv-tools"
CHECKOV = TOOLS / "bin" / "checkov"
SKIP = re.compile(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)")


def _require_tools() -> None:
    assert CHECKOV.is_file(), (
        f"{CHECKOV.relative_to(REPO)} is missing: run `make tools` (make test does it first)")


@lru_cache(maxsize=1)
def checkov_report() -> dict[str, Any]:
    _require_tools()
    # Offline on purpose: no guideline download, no platform, no version check.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
           "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [str(CHECKOV), "--directory", str(INFRA), "--framework", "terraform", "--skip-download",
         "--compact", "--output", "json"],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.stdout.strip(), f"checkov printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["check_type"] == "terraform"
    return report


def skips_in_terraform() -> dict[tuple[str, str], str]:
    """(check id, file) => reason, for every skip comment in infra/*.tf."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(INFRA.glob("*.tf")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SKIP.search(line)
            if match:
                found[(match.group(1), path.name)] = match.group(2).strip()
    return found


def test_checkov_finds_no_failed_check():
    report = checkov_report()
    failed = report["results"].get("failed_checks", [])

    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 100, "checkov saw too little of infra/"
    assert report["summary"]["passed"] > 100
    assert failed == [], "\n".join(
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in failed)


def test_every_skip_has_a_reason_in_the_terraform_and_a_row_in_the_readme():
    skips = skips_in_terraform()
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(CKV2?_[A-Z]+_\d+)` \| `([a-z_]+\.tf)` \|", readme, re.MULTILINE))

    assert skips, "no skip found: then the README's table should be empty and this test changed"
    for (check, file), reason in skips.items():
        assert len(reason) >= 20, f"{check} in {file}: the reason is too short to be one"
    assert rows == set(skips), (f"in the Terraform, not in infra/README.md: {sorted(set(skips) - rows)}; "
                                f"in the README only: {sorted(rows - set(skips))}")


def test_checkov_honoured_exactly_the_skips_written_in_the_terraform():
    report = checkov_report()
    skipped = report["results"].get("skipped_checks", [])
    written = {check for check, _ in skips_in_terraform()}

    assert skipped, "checkov reported no skipped check, yet the Terraform carries skip comments"
    for check in skipped:
        assert check["check_result"].get("suppress_comment"), check["check_id"]
    assert {check["check_id"] for check in skipped} == written


def test_the_tool_environment_is_exactly_the_pinned_one():
    _require_tools()
    frozen = subprocess.run([str(TOOLS / "bin" / "python"), "-m", "pip", "freeze", "--all"],
                            capture_output=True, text=True, check=True, timeout=120).stdout
    installed = {line.split("==")[0].lower(): line for line in frozen.splitlines() if "==" in line}
    pinned = [line for line in (REPO / "tools" / "requirements.txt").read_text().splitlines()
              + (REPO / "tools" / "constraints.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")]

    assert "checkov==3.3.30" in pinned
    for line in pinned:
        name = line.split("==")[0].lower()
        assert installed.get(name) == line, f"{line} pinned, {installed.get(name)} installed"
