"""The service manager on real servers: status shape, reuse, restart, a full up/down cycle."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from localcloud import services as local
from localcloud import cli
from localcloud.services import manager


def test_status_json_shape(services: dict, stack: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["services", "status", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["postgres", "redis", "storage", "firestore", "gateway", "workflows"]
    rows = listed[:4]
    for row in rows:
        assert {"name", "endpoint", "healthy", "version", "pid", "port", "running", "started"} <= set(row)
        assert row["healthy"] is True and row["version"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["postgres"]["version"].split(".")[0].isdigit()
    assert by_name["redis"]["version"].count(".") == 2
    assert by_name["postgres"]["endpoint"] == os.environ["DATABASE_URL"]
    assert by_name["firestore"]["endpoint"] == os.environ["FIRESTORE_EMULATOR_HOST"]


def test_human_status_and_bad_action(services: dict, stack: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["services", "status"]) == 0
    out = capsys.readouterr().err
    assert "postgres" in out and "healthy" in out
    with pytest.raises(SystemExit) as bad:
        cli.main(["services", "launch"])
    assert bad.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_env_and_up_reuses_running_servers(services: dict) -> None:
    variables = local.env()
    assert set(variables) == {"DATABASE_URL", "REDIS_URL", "STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST",
                              "GOOGLE_CLOUD_PROJECT"}
    pids = {r["name"]: r["pid"] for r in local.status()}
    state = local.up()
    assert {name: state[name]["pid"] for name in local.SERVICE_NAMES} == pids
    saved = json.loads((Path(services["local_dir"]) / "services.json").read_text())
    assert {"pid", "port", "endpoint", "started"} <= set(saved["storage"])


def test_restart_keeps_port_and_on_disk_objects(services: dict) -> None:
    from mangaflow.stores import objects

    uri = objects.put_bytes("temp_data", uuid.uuid4().bytes, "application/octet-stream", "restart-test")
    before = {r["name"]: r for r in local.status()}["storage"]
    entry = local.restart("storage")
    assert entry["port"] == before["port"] and entry["pid"] != before["pid"]
    assert objects.exists(uri)
    with pytest.raises(ValueError, match="service name must be one of"):
        local.restart("mysql")


@pytest.fixture()
def fresh_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: pytest keeps /tmp/pytest-of-<user> at mode 700, which an unprivileged
    # PostgreSQL account (used when the tests run as root) cannot walk through.
    path = Path(tempfile.mkdtemp(prefix="mangaflow-services-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_full_cycle_in_a_fresh_directory(fresh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """up from nothing (initdb, npm package present), healthy, then down stops every process."""
    tmp_path = fresh_dir
    monkeypatch.setenv("MANGAFLOW_LOCAL_DIR", str(tmp_path / "local"))
    with pytest.raises(local.ServiceNotRunning, match="mangaflow services up"):
        local.env()
    try:
        state = local.up()
        rows = local.status()
        assert all(r["healthy"] for r in rows)
        assert (tmp_path / "local" / "postgres" / "data" / "PG_VERSION").exists()
        pids = [state[name]["pid"] for name in local.SERVICE_NAMES]
    finally:
        local.down()
    assert not any(manager._pid_alive(pid) for pid in pids)
    assert not any(r["healthy"] or r["running"] for r in local.status())
    assert cli.main(["services", "status"]) == 1
