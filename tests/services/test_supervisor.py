"""The supervisor on real servers: one registry of parts, stable addresses across restarts, the
parts reaching each other (and a broken link reported with what to run), a full up/down cycle."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from localcloud import supervisor
from localcloud.services.pytest_plugin import local_dir_of_tests
from localcloud.supervisor import Launch, Part
from localcloud.supervisor._proc import pid_alive
from mangaflow_cli.main import main as cli

# Stops, kills or restarts servers the rest of the suite shares: run apart (make test).
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parents[2]
ALL_PARTS = ["postgres", "redis", "storage", "firestore", "workflows", "pubsub", "scheduler", "vertex", "gateway"]


def rows() -> dict[str, dict]:
    return {row["name"]: row for row in supervisor.status()}


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_health", timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture()
def fresh_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: pytest keeps /tmp/pytest-of-<user> at mode 700, which an unprivileged
    # PostgreSQL account (used when the tests run as root) cannot walk through.
    path = Path(tempfile.mkdtemp(prefix="mangaflow-supervisor-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_tests_run_on_a_stack_of_their_own(stack: dict) -> None:
    assert supervisor.local_dir() == local_dir_of_tests() == Path(stack["local_dir"])
    assert supervisor.local_dir() != REPO / ".local"
    assert (supervisor.local_dir() / "services.json").exists()


def test_status_json_shape(stack: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["services", "status", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ALL_PARTS
    for row in listed:
        assert {"name", "endpoint", "healthy", "version", "pid", "port", "running", "started", "links"} <= set(row)
        assert row["healthy"] is True and row["version"] and row["message"] == ""
    by_name = {r["name"]: r for r in listed}
    assert by_name["postgres"]["version"].split(".")[0].isdigit()
    assert by_name["redis"]["version"].count(".") == 2
    assert by_name["postgres"]["endpoint"] == os.environ["DATABASE_URL"]
    assert by_name["firestore"]["endpoint"] == os.environ["FIRESTORE_EMULATOR_HOST"]
    assert by_name["gateway"]["endpoint"] == stack["gateway"]
    assert {link["to"] for link in by_name["gateway"]["links"]} == {"postgres", "redis", "storage", "firestore",
                                                                     "workflows", "pubsub", "vertex"}
    for caller in ("workflows", "pubsub", "scheduler"):  # each calls the gateway's functions
        assert [link["to"] for link in by_name[caller]["links"]] == ["gateway"]
    assert all(link["ok"] for row in listed for link in row["links"])


def test_human_status_and_bad_action(stack: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["services", "status"]) == 0
    out = capsys.readouterr().err
    assert "postgres" in out and "gateway" in out and "healthy" in out
    with pytest.raises(SystemExit) as bad:
        cli(["services", "launch"])
    assert bad.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_env_and_up_reuse_running_parts(stack: dict, capsys: pytest.CaptureFixture[str]) -> None:
    variables = supervisor.env()
    assert {"DATABASE_URL", "REDIS_URL", "STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "WORKFLOWS_EMULATOR_HOST",
            "WORKFLOWS_GRPC_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "CLOUD_SCHEDULER_EMULATOR_HOST",
            "VERTEX_AI_EMULATOR_HOST",
            "MANGAFLOW_GATEWAY_URL", "GOOGLE_CLOUD_PROJECT"} == set(variables)
    pids = {name: row["pid"] for name, row in rows().items()}
    state = supervisor.up()
    assert {name: state[name]["pid"] for name in ALL_PARTS} == pids
    # The `mangaflow` script runs .venv/bin/python3.11, pytest .venv/bin/python: the same command.
    alias = Path(sys.prefix) / "bin" / "python3.11"
    subprocess.run([str(alias), "-m", "mangaflow_cli", "services", "up"], cwd=REPO, check=True, capture_output=True)
    assert {name: row["pid"] for name, row in rows().items()} == pids
    saved = json.loads((supervisor.local_dir() / "services.json").read_text())
    assert {"pid", "port", "ports", "endpoint", "started", "config"} <= set(saved["gateway"])
    assert cli(["services", "env"]) == 0
    assert f"export REDIS_URL={variables['REDIS_URL']}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ALL_PARTS)
def test_a_restarted_part_keeps_its_address_and_the_others_still_reach_it(stack: dict, name: str) -> None:
    before = rows()
    entry = supervisor.restart(name)
    after = rows()
    assert entry["port"] == before[name]["port"] and entry["pid"] != before[name]["pid"]
    assert after[name]["endpoint"] == before[name]["endpoint"]
    # Nobody else had to move or restart, and every link checks out.
    assert {n: r["pid"] for n, r in after.items() if n != name} == {n: r["pid"] for n, r in before.items() if n != name}
    assert all(row["healthy"] for row in after.values()), {n: r["message"] for n, r in after.items()}
    with pytest.raises(ValueError, match="service name must be one of"):
        supervisor.restart("mysql")


def test_an_engine_that_moves_is_a_broken_link_until_up_tells_the_gateway(stack: dict) -> None:
    old = rows()
    supervisor.stop("workflows")
    # Something else takes the engine's port while it is down.
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", old["workflows"]["port"]))
    squatter.listen()
    try:
        moved = supervisor.restart("workflows", tell_dependants=False)  # the gateway is not told
        assert moved["port"] != old["workflows"]["port"]
        broken = rows()
        assert not broken["gateway"]["healthy"]
        message = broken["gateway"]["message"]
        assert old["workflows"]["endpoint"] in message and moved["endpoint"] in message
        assert "mangaflow services up" in message
        # The engine is durable: the deployed pipeline (and every execution) moved with its journal.
        assert broken["workflows"]["healthy"], broken["workflows"]["message"]
        assert cli(["services", "status"]) == 1

        state = supervisor.up()  # tells the gateway (restarted with the new address) and redeploys
        healed = rows()
        assert all(row["healthy"] for row in healed.values()), {n: r["message"] for n, r in healed.items()}
        assert state["workflows"]["port"] == moved["port"]
        assert state["gateway"]["port"] == old["gateway"]["port"]
        assert state["gateway"]["pid"] != old["gateway"]["pid"]
        assert {n: healed[n]["pid"] for n in supervisor.STORE_PARTS} == {n: old[n]["pid"] for n in supervisor.STORE_PARTS}
    finally:
        squatter.close()
        os.environ.update(supervisor.env())  # later tests reach the engine at its new address


def test_a_stopped_gateway_is_what_the_engine_reports(stack: dict) -> None:
    supervisor.stop("gateway")
    try:
        report = rows()
        assert not report["gateway"]["running"] and "mangaflow services up" in report["gateway"]["message"]
        assert not report["workflows"]["healthy"]
        assert "does not answer" in report["workflows"]["message"]
    finally:
        supervisor.up()
    assert all(row["healthy"] for row in rows().values())


def test_new_function_code_is_loaded_in_place_without_a_restart(stack: dict) -> None:
    gateway = rows()["gateway"]
    loaded = health(gateway["endpoint"])["worker_started"]
    main_py = REPO / "functions" / "main.py"
    stat = main_py.stat()
    os.utime(main_py, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        state = supervisor.up()
    finally:
        os.utime(main_py, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        supervisor.up()
    assert state["gateway"]["pid"] == gateway["pid"]  # the same gunicorn master: SIGHUP, new workers
    assert health(gateway["endpoint"])["worker_started"] > loaded


def test_storage_sigkill_50_ms_after_an_upload_keeps_the_object(stack: dict) -> None:
    from mangaflow.stores import objects

    for round_ in range(5):
        data = os.urandom(2048) + f"round {round_}".encode()
        uri = objects.put_bytes("temp_data", data, "application/octet-stream", "sigkill-test")
        time.sleep(0.05)
        supervisor.kill("storage")
        supervisor.up(["storage"])
        assert objects.get_bytes(uri) == data


def test_firestore_sigkill_keeps_chat_data(stack: dict) -> None:
    from google.cloud import firestore

    client = firestore.Client(project=supervisor.project())
    session = client.collection("chat_sessions").document(f"s-{os.getpid()}-{time.time_ns()}")
    session.set({"request_id": "r-test", "updated": firestore.SERVER_TIMESTAMP, "messages": 0})
    session.collection("messages").add({"text": "make the sky brighter", "intent": "modify", "confidence": 0.9})
    batch = client.batch()
    batch.update(session, {"messages": firestore.Increment(1)})
    batch.set(session.collection("intents").document("i1"), {"kind": "modify", "applied": True})
    batch.commit()
    written = session.get()

    supervisor.kill("firestore")
    supervisor.up(["firestore"])

    client = firestore.Client(project=supervisor.project())
    session = client.collection("chat_sessions").document(session.id)
    again = session.get()
    assert again.to_dict() == {**written.to_dict(), "messages": 1}
    assert again.update_time == written.update_time
    assert [m.to_dict()["text"] for m in session.collection("messages").stream()] == ["make the sky brighter"]
    assert session.collection("intents").document("i1").get().to_dict() == {"kind": "modify", "applied": True}


def test_a_torn_journal_record_is_cut_off_and_the_rest_replayed(stack: dict) -> None:
    from google.cloud import firestore

    client = firestore.Client(project=supervisor.project())
    document = client.collection("chat_sessions").document(f"torn-{time.time_ns()}")
    document.set({"kept": True})
    supervisor.kill("firestore")
    journal = supervisor.local_dir() / "firestore" / "journal.jsonl"
    size = journal.stat().st_size
    with journal.open("a") as handle:  # a crash in the middle of appending an unacknowledged commit
        handle.write('{"at": 1700000000000, "commit": "CgVwcm9q')
    supervisor.up(["firestore"])
    assert journal.stat().st_size == size
    assert firestore.Client(project=supervisor.project()).collection("chat_sessions").document(
        document.id).get().to_dict() == {"kept": True}


def test_a_stack_in_a_fresh_folder_comes_back_at_the_same_addresses(fresh_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGAFLOW_LOCAL_DIR", str(fresh_dir / "local"))
    with pytest.raises(supervisor.ServiceNotRunning, match="mangaflow services up"):
        supervisor.env()
    try:
        first = supervisor.up()
        assert all(row["healthy"] for row in supervisor.status())
        assert (fresh_dir / "local" / "postgres" / "data" / "PG_VERSION").exists()
        pids = [first[name]["pid"] for name in ALL_PARTS]
        ports = {name: first[name]["ports"] for name in ALL_PARTS}
        supervisor.down()
        assert not any(pid_alive(pid) for pid in pids)
        assert not any(row["healthy"] or row["running"] for row in supervisor.status())
        assert cli(["services", "status"]) == 1
        second = supervisor.up()
        assert {name: second[name]["ports"] for name in ALL_PARTS} == ports
    finally:
        supervisor.down()


def test_a_registered_part_gets_its_dependencies_addresses_and_follows_them(fresh_dir: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a part is one entry; when a part it depends on moves, it is restarted with the new address."""
    monkeypatch.setenv("MANGAFLOW_LOCAL_DIR", str(fresh_dir / "local"))

    def answers(ctx: supervisor.Context) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ctx.port}/", timeout=1).close()
            return True
        except OSError:
            return False

    supervisor.register(Part(
        "toy", marker="http.server",
        launch=lambda ctx: Launch([sys.executable, "-m", "http.server", str(ctx.port), "--bind", "127.0.0.1"],
                                  env=dict(ctx.env), cwd=ctx.data_dir),
        healthy=answers, endpoint=lambda ctx: f"http://127.0.0.1:{ctx.port}",
        exports=lambda ctx: {"TOY_URL": f"http://127.0.0.1:{ctx.port}"}, version=lambda ctx: "toy 1",
        depends_on=("redis",),
    ))
    squatter = socket.socket()
    try:
        state = supervisor.up(["toy"])
        assert {name for name, entry in state.items() if entry.get("pid")} == {"redis", "toy"}
        environ = Path(f"/proc/{state['toy']['pid']}/environ").read_bytes().split(b"\0")
        assert f"REDIS_URL={state['redis']['endpoint']}".encode() in environ
        assert supervisor.env(["toy"])["TOY_URL"] == state["toy"]["endpoint"]

        supervisor.stop("redis")
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", state["redis"]["port"]))
        squatter.listen()
        old_pid = state["toy"]["pid"]
        moved = supervisor.up(["toy"])
        assert moved["redis"]["port"] != state["redis"]["port"]
        assert moved["toy"]["pid"] != old_pid and moved["toy"]["port"] == state["toy"]["port"]
        environ = Path(f"/proc/{moved['toy']['pid']}/environ").read_bytes().split(b"\0")
        assert f"REDIS_URL={moved['redis']['endpoint']}".encode() in environ
        with pytest.raises(ValueError, match="unregistered"):
            supervisor.register(Part("orphan", marker="x", launch=lambda ctx: Launch([]), healthy=lambda ctx: True,
                                     endpoint=str, exports=dict, version=str, depends_on=("nothing",)))
    finally:
        squatter.close()
        for name in ("toy", "redis"):
            supervisor.stop(name)
        supervisor.PARTS.pop("toy", None)


def test_the_former_state_files_are_taken_over(fresh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data folder of the former manager (services.json with one `port`) and stack (stack.json)."""
    local = fresh_dir / "local"
    local.mkdir()
    monkeypatch.setenv("MANGAFLOW_LOCAL_DIR", str(local))
    (local / "services.json").write_text(json.dumps({
        "postgres": {"name": "postgres", "port": 23457, "endpoint": "postgresql://postgres@127.0.0.1:23457/mangaflow"},
        "redis": {"name": "redis", "port": 23458}}))
    (local / "stack.json").write_text(json.dumps({"fingerprint": "abc", "gateway": {"pid": 999_999_999, "port": 23459},
                                                  "workflows": {"pid": 999_999_998, "port": 23460}}))
    variables = supervisor.env()
    assert variables["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:23457/mangaflow"
    assert variables["REDIS_URL"] == "redis://127.0.0.1:23458/0"
    assert variables["WORKFLOWS_EMULATOR_HOST"] == "127.0.0.1:23460"
    assert variables["MANGAFLOW_GATEWAY_URL"] == "http://127.0.0.1:23459"
    report = rows()
    assert not report["gateway"]["running"] and report["gateway"]["port"] == 23459
