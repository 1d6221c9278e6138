"""Cloud Storage artifacts against the real local emulator: buckets and content addressing."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import uuid

import pytest

from mangaflow.config import BUCKET_KINDS, settings
from mangaflow.stores import objects


def test_six_buckets_exist_with_design_names(services: dict) -> None:
    names = objects.ensure_buckets()
    project = settings().google_cloud_project
    assert names == [f"{project}-manga-{kind.replace('_', '-')}" for kind in BUCKET_KINDS]
    listed = {b.name for b in objects.object_store().client.list_buckets()}
    assert set(names) <= listed


def test_same_bytes_same_uri_one_object(services: dict) -> None:
    prefix = f"test/{uuid.uuid4().hex[:8]}/panels"
    panel = b"\x89PNG fake panel bytes " + uuid.uuid4().bytes
    first = objects.put_bytes("output_images", panel, "image/png", prefix)
    second = objects.put_bytes("output_images", panel, "image/png", prefix)
    assert first == second
    assert first.endswith(f"/{prefix}/{hashlib.sha256(panel).hexdigest()}.png")
    assert objects.object_store().list_uris("output_images", prefix) == [first]
    other = objects.put_bytes("output_images", panel + b"!", "image/png", prefix)
    assert other != first and len(objects.object_store().list_uris("output_images", prefix)) == 2
    assert objects.get_bytes(first) == panel and objects.exists(first)


def test_a_put_is_one_request_and_never_a_second_generation(services: dict) -> None:
    """A content-addressed put is the upload alone ("only if absent"): one HTTP request whether the object is
    new or already there, and an object already there keeps its one generation and bytes."""
    store = objects.object_store()
    session = store.client._http
    sent: list[str] = []
    original = session.request

    def counted(method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(f"{method} {url.split('?')[0]}")
        return original(method, url, *args, **kwargs)

    prefix = f"test/{uuid.uuid4().hex[:8]}"
    panel = b"\x89PNG one request " + uuid.uuid4().bytes
    session.request = counted
    try:
        uri = store.put_bytes("output_images", panel, "image/png", prefix)
        first = list(sent)
        bucket, name = objects.parse_uri(uri)
        generation = store.client.bucket(bucket).get_blob(name).generation
        sent.clear()
        assert store.put_bytes("output_images", panel, "image/png", prefix) == uri
        again = list(sent)
    finally:
        session.request = original
    assert len(first) == 1 and first[0].startswith("POST") and "/upload/" in first[0], first
    assert len(again) == 1, again
    blob = store.client.bucket(bucket).get_blob(name)
    assert blob.generation == generation and objects.get_bytes(uri) == panel


def test_json_is_canonical_and_round_trips(services: dict) -> None:
    prefix = f"test/{uuid.uuid4().hex[:8]}"
    a = objects.put_json("temp_data", {"b": 1, "a": "夜祭り"}, prefix)
    b = objects.put_json("temp_data", {"a": "夜祭り", "b": 1}, prefix)
    assert a == b and a.endswith(".json")
    assert objects.get_json(a) == {"a": "夜祭り", "b": 1}


def test_named_objects_are_replaced(services: dict) -> None:
    name = f"requests/r-{uuid.uuid4().hex[:8]}/manga.pdf"
    uri = objects.put_named("final_products", name, b"%PDF-1.7 one", "application/pdf")
    assert uri == f"gs://{settings().bucket('final_products')}/{name}"
    objects.put_named("final_products", name, b"%PDF-1.7 two", "application/pdf")
    assert objects.get_bytes(uri) == b"%PDF-1.7 two"
    blob = objects.object_store().client.bucket(settings().bucket("final_products")).get_blob(name)
    assert blob.content_type == "application/pdf"


class _Breaks(io.BytesIO):
    """A file that fails to read after `good` bytes (a disk error halfway through an export)."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data)
        self.good = good

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() + (size if size is not None and size >= 0 else len(self.getbuffer())) > self.good:
            raise OSError("disk read failed halfway")
        return super().read(size)


def test_named_files_are_stored_whole_and_replace_the_object(services: dict) -> None:
    name = f"requests/r-{uuid.uuid4().hex[:8]}/manga.cbz"
    small = os.urandom(300_000)
    with tempfile.TemporaryFile() as file:
        file.write(small)
        uri = objects.put_named_file("final_products", name, file, "application/vnd.comicbook+zip")
    assert uri == f"gs://{settings().bucket('final_products')}/{name}" and objects.get_bytes(uri) == small
    # past 8 MiB: a resumable upload in 8 MiB chunks (three here), never the whole file in one read
    large = os.urandom(2 * objects.UPLOAD_CHUNK_BYTES + 12345)
    reads: list[int] = []

    class Counted(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            reads.append(len(data))
            return data

    objects.put_named_file("final_products", name, Counted(large), "application/vnd.comicbook+zip")
    assert objects.get_bytes(uri) == large
    assert max(reads) <= objects.UPLOAD_CHUNK_BYTES
    blob = objects.object_store().client.bucket(settings().bucket("final_products")).get_blob(name)
    assert blob.content_type == "application/vnd.comicbook+zip" and blob.size == len(large)


def test_a_named_file_that_fails_midway_leaves_the_object_as_it_was(services: dict) -> None:
    name = f"requests/r-{uuid.uuid4().hex[:8]}/manga.pdf"
    uri = objects.put_named("final_products", name, b"%PDF-1.7 the book shown", "application/pdf")
    broken = _Breaks(os.urandom(3 * objects.UPLOAD_CHUNK_BYTES), good=objects.UPLOAD_CHUNK_BYTES + 1)
    with pytest.raises(OSError, match="halfway"):
        objects.put_named_file("final_products", name, broken, "application/pdf")
    assert objects.get_bytes(uri) == b"%PDF-1.7 the book shown"
    with pytest.raises(objects.InvalidObject, match="name"):
        objects.put_named_file("final_products", "../escape", io.BytesIO(b"x"))
    with pytest.raises(objects.InvalidObject, match="seekable binary file"):
        objects.put_named_file("final_products", name, b"bytes, not a file")  # type: ignore[arg-type]


def test_missing_and_bad_inputs_are_named(services: dict) -> None:
    missing = f"gs://{settings().bucket('temp_data')}/nothing/{uuid.uuid4().hex}.json"
    assert not objects.exists(missing)
    with pytest.raises(FileNotFoundError, match="nothing"):
        objects.get_bytes(missing)
    with pytest.raises(objects.InvalidObject, match="bucket_kind"):
        objects.put_bytes("photos", b"x")
    with pytest.raises(objects.InvalidObject, match="uri"):
        objects.get_bytes("s3://x/y")
    with pytest.raises(objects.InvalidObject, match="name"):
        objects.put_named("temp_data", "../escape", b"x")


def test_unreachable_storage_names_it(services: dict) -> None:
    import socket

    from mangaflow.config import Settings
    from mangaflow.stores._retry import StoreUnavailable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Settings(storage_emulator_host=f"http://127.0.0.1:{port}", buckets=dict(settings().buckets))
    store = objects.ObjectStore(config, retry_deadline_s=0.3)
    with pytest.raises(StoreUnavailable, match="Cloud Storage .*mangaflow services up"):
        store.put_bytes("temp_data", b"x")
