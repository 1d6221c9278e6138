"""The storage stand-in's metadata in SQLite rows, driven through the emulator's own Storage API:
what the stock JSON file held is migrated, prefixes list exactly, deletes and wipes persist."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.storage import Storage

from localcloud.services.storage_server import METADATA_FILE, PreconditionFailed, SqliteMetaStorage

BUCKET = "mangaflow-local-manga-temp-data"


def resource(name: str, generation: int = 1) -> dict:
    return {"kind": "storage#object", "bucket": BUCKET, "name": name, "generation": str(generation),
            "metageneration": "1", "contentType": "application/octet-stream", "size": "3"}


def test_the_stock_metadata_file_is_migrated_once(tmp_path: Path) -> None:
    stock = Storage(data_dir=str(tmp_path))
    stock.create_bucket(BUCKET, {"name": BUCKET, "softDeletePolicy": {"retentionDurationSeconds": "3600"}})
    for name in ("a/1.bin", "a/2.bin", "b/3.bin"):
        stock.create_file(BUCKET, name, b"abc", resource(name))
    stock.delete_file(BUCKET, "b/3.bin")  # kept as a soft-deleted generation
    stock.set_bucket_iam_policy(BUCKET, {"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]})

    migrated = SqliteMetaStorage(str(tmp_path))
    assert sorted(migrated.objects[BUCKET]) == ["a/1.bin", "a/2.bin"]
    assert migrated.get_file(BUCKET, "a/2.bin") == b"abc"
    assert migrated.get_bucket(BUCKET)["name"] == BUCKET
    assert migrated.get_bucket_iam_policy(BUCKET)["bindings"][0]["members"] == ["allUsers"]
    assert [name for name, _ in migrated._list_soft_deleted_candidates(BUCKET)] == ["b/3.bin"]
    meta = tmp_path / ".cloudstorage" / ".meta"
    assert not meta.exists() and meta.with_name(".meta.migrated").exists()
    assert (tmp_path / METADATA_FILE).exists()

    migrated.create_file(BUCKET, "a/4.bin", b"new", resource("a/4.bin"))
    again = SqliteMetaStorage(str(tmp_path))  # nothing left to migrate: the rows are the truth
    assert sorted(again.objects[BUCKET]) == ["a/1.bin", "a/2.bin", "a/4.bin"]


@pytest.mark.parametrize("prefix", ["", "a", "a/", "a/b", "ä", "日本/", "\U0001f600", "a\U0010ffff", "\ud7ff", "zz"])
def test_prefix_listing_matches_every_name_with_the_prefix(tmp_path: Path, prefix: str) -> None:
    storage = SqliteMetaStorage(str(tmp_path))
    storage.create_bucket(BUCKET, {"name": BUCKET})
    # (The emulator keeps bytes at <bucket>/<name> on disk, so no name is also another's folder.)
    names = ["a/b", "a/bc", "a/c/d", "ab", "b", "ä/x", "äb", "日本/ページ.png", "日本語",
             "\U0001f600/1", "\U0001f600\U0001f600", "a\U0010ffff", "a\U0010ffffx", "\ud7ffa", "\ue000", "z"]
    for name in names:
        storage.create_file(BUCKET, name, b"x", resource(name))
    listed, _ = storage.get_file_list(BUCKET, prefix=prefix or None)
    assert [obj["name"] for obj in listed] == sorted(n for n in names if n.startswith(prefix))


def test_deletes_restores_and_wipes_outlive_a_restart(tmp_path: Path) -> None:
    storage = SqliteMetaStorage(str(tmp_path))
    storage.create_bucket(BUCKET, {"name": BUCKET, "softDeletePolicy": {"retentionDurationSeconds": "3600"}})
    storage.create_file(BUCKET, "keep.bin", b"k", resource("keep.bin"))
    storage.create_file(BUCKET, "gone.bin", b"g", resource("gone.bin", 7))
    storage.delete_file(BUCKET, "gone.bin")

    reopened = SqliteMetaStorage(str(tmp_path))
    with pytest.raises(NotFound):
        reopened.get_file_obj(BUCKET, "gone.bin")
    assert reopened.get_soft_deleted_file(BUCKET, "gone.bin", "7") == b"g"
    restored = reopened.restore_soft_deleted_file(BUCKET, "gone.bin", "7")
    assert SqliteMetaStorage(str(tmp_path)).get_file_obj(BUCKET, "gone.bin")["generation"] == restored["generation"]

    reopened.wipe(keep_buckets=True)
    wiped = SqliteMetaStorage(str(tmp_path))
    assert wiped.get_bucket(BUCKET) is not None and list(wiped.objects[BUCKET]) == []
    assert json.loads(json.dumps(wiped.soft_deleted)) == {}


def test_an_upload_keeps_its_generation_precondition(tmp_path: Path) -> None:
    """The emulator ignores ifGenerationMatch; the stand-in keeps it: 0 means "only if absent", any other value
    must be the object's generation, and a failed precondition writes nothing (bytes nor row)."""
    storage = SqliteMetaStorage(str(tmp_path))
    storage.create_bucket(BUCKET, {"name": BUCKET})
    storage.generation_match = "0"
    storage.create_file(BUCKET, "p.png", b"one", resource("p.png", 7))
    with pytest.raises(PreconditionFailed, match="generation 7"):
        storage.create_file(BUCKET, "p.png", b"two", resource("p.png", 8))
    storage.generation_match = "8"
    with pytest.raises(PreconditionFailed):
        storage.create_file(BUCKET, "p.png", b"two", resource("p.png", 8))
    storage.generation_match = "7"
    storage.create_file(BUCKET, "p.png", b"three", resource("p.png", 9))
    storage.generation_match = None
    again = SqliteMetaStorage(str(tmp_path))
    assert again.get_file(BUCKET, "p.png") == b"three" and again.objects[BUCKET]["p.png"]["generation"] == "9"


def test_every_caller_at_once_gets_a_connection(services: dict) -> None:
    """The stand-in serves one request at a time; callers beyond socketserver's default backlog of 5 had their
    connection refused silently and waited out TCP's 1 s retransmission. 40 connections opened at once (the
    server busy with the first, which sends nothing) are all accepted by the kernel into the backlog."""
    import socket
    from urllib.parse import urlsplit

    from mangaflow.config import settings

    where = urlsplit(settings().storage_emulator_host)
    opened: list[socket.socket] = []
    try:
        for _ in range(40):
            opened.append(socket.create_connection((where.hostname, where.port), timeout=0.5))
    finally:
        for sock in opened:
            sock.close()
    assert len(opened) == 40
