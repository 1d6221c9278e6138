"""The storage stand-in's metadata in SQLite rows, driven through the emulator's own Storage API:
what the stock JSON file held is migrated, prefixes list exactly, deletes and wipes persist."""
from __future__ import annotations

import json
import os
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


BOUNDARY = "===============0123456789012345678=="


def related(*parts: tuple[str, bytes], boundary: str = BOUNDARY, end: bool = True) -> bytes:
    body = b"".join(f"--{boundary}\r\n{head}\r\n\r\n".encode() + content + b"\r\n" for head, content in parts)
    return body + (f"--{boundary}--".encode() if end else b"")


def test_a_simple_upload_is_split_at_its_boundary() -> None:
    """The object's bytes come back exactly, CR LF pairs, dashes and a boundary missing one character included;
    what the emulator's email parser would read differently or not at all is left to it (None)."""
    import gcp_storage_emulator.server as emulator_server

    from localcloud.services.storage_server import _read_data, split_related

    assert emulator_server._read_data is _read_data   # what the emulator's requests read their bodies with
    tricky = b"\r\n--" + BOUNDARY[:-1].encode() + b"\r\n\r\n\x00\xff--\r\n" * 50 + os.urandom(4096) + b"\r\n"
    body = related(("content-type: application/json; charset=UTF-8", b'{"name": "p.png", "metadata": {"k": "v"}}'),
                   ("Content-Type: image/png", tricky))
    kind = f'multipart/related; boundary="{BOUNDARY}"'
    assert split_related(kind, body) == {"meta": {"name": "p.png", "metadata": {"k": "v"}}, "content": tricky,
                                         "content-type": "image/png"}
    assert split_related(f"multipart/related; boundary={BOUNDARY}", body)["content"] == tricky  # unquoted
    assert split_related(kind, related(("content-type: application/json", b"{}"), ("content-type: text/plain", b""))) \
        == {"meta": {}, "content": b"", "content-type": "text/plain"}
    base64 = related(("content-type: application/json", b"{}"),
                     ("content-type: image/png\r\ncontent-transfer-encoding: base64", b"AAEC"))
    for odd in (related(("content-type: application/json", b"{}")),                       # one part
                related(*[("content-type: application/json", b"{}")] * 3),                # three
                related(("content-type: application/json", b"{}"), ("content-type: image/png", b"x"), end=False),
                related(("content-type: application/json", b"not json"), ("content-type: image/png", b"x")),
                related(("no colon here", b"{}"), ("content-type: image/png", b"x")),
                base64, b"", b"garbage"):
        assert split_related(kind, odd) is None
    assert split_related("multipart/related", body) is None                 # no boundary
    assert split_related('multipart/mixed; boundary="x"', body) is None     # a batch: the emulator's


def test_uploads_through_the_client_keep_every_byte(services: dict) -> None:
    """Through the official client and the running stand-in: simple (multipart) uploads of binary bytes, of
    an empty object and of one that looks like a multipart body itself, read back byte for byte with the MD5
    the stand-in computed; a resumable upload (past the client's simple-upload size) too."""
    import base64
    import hashlib
    import tempfile
    import uuid

    from mangaflow.stores import objects

    store = objects.object_store()
    prefix = f"test/{uuid.uuid4().hex[:8]}"
    payloads = {"random.png": os.urandom(300_000) + b"\r\n--=====\r\n\r\n",
                "empty.bin": b"",
                "looks-like-a-body.txt": related(("content-type: application/json", b"{}"), ("content-type: a/b", b"z"))}
    for name, data in payloads.items():
        uri = store.put_named("temp_data", f"{prefix}/{name}", data, "application/octet-stream")
        assert store.get_bytes(uri) == data
        bucket, path = objects.parse_uri(uri)
        blob = store.client.bucket(bucket).get_blob(path)
        assert blob.md5_hash == base64.b64encode(hashlib.md5(data).digest()).decode() and blob.size == len(data)
    big = os.urandom(9 * 1024 * 1024)
    with tempfile.TemporaryFile() as file:
        file.write(big)
        uri = store.put_named_file("temp_data", f"{prefix}/big.bin", file, "application/octet-stream")
    assert store.get_bytes(uri) == big
