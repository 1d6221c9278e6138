"""Serves gcp-storage-emulator's JSON API with its metadata in SQLite instead of one JSON file.

Why: the emulator rewrites one JSON file describing every object after each change, so a write
costs time proportional to everything stored, and batching those rewrites (this launcher's former
design) lost acknowledged uploads on a crash. Here each object's metadata is one SQLite row
(WAL journal), committed before the response is sent: a write costs the same at 1,000 or 100,000
objects, and an acknowledged upload survives SIGKILL. Object bytes are written to a temporary file
and renamed into place, so a crash never leaves half an object. The request handling is the
emulator's own, unchanged, but for one thing the emulator ignores: an upload's `ifGenerationMatch`
precondition is kept (412 when the object's generation differs, 0 meaning "absent"), so a content-addressed
put is one request and never writes a second generation; and a multipart upload's body is split at its
boundary (`split_related`) instead of going through the `email` package's line-by-line parser, which took
about 80 ms for a 1 MB PNG and held every other caller waiting (the server answers one request at a time).
An existing `.meta` file is migrated on start (and kept as `.meta.migrated`).

Usage: python -m localcloud.services.storage_server --host 127.0.0.1 --port PORT --data-dir DIR
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator, MutableMapping
from functools import partial
from http import HTTPStatus
from http.server import HTTPServer
from urllib.parse import parse_qs, urlsplit
from pathlib import Path
from types import FrameType
from typing import Any

import gcp_storage_emulator.server as emulator_server
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.settings import STORAGE_DIR
from gcp_storage_emulator.storage import Storage, _FileStore

METADATA_FILE = "metadata.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, name TEXT NOT NULL, resource TEXT NOT NULL, PRIMARY KEY (bucket, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS soft_deleted (
    bucket TEXT NOT NULL, name TEXT NOT NULL, generation TEXT NOT NULL, resource TEXT NOT NULL,
    PRIMARY KEY (bucket, name, generation)
) WITHOUT ROWID;
-- The small maps (buckets, their IAM policies, open resumable uploads), one JSON value each.
CREATE TABLE IF NOT EXISTS documents (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_DOCUMENTS = ("buckets", "bucket_iam_policies", "resumable")


def open_metadata(path: Path) -> sqlite3.Connection:
    """The metadata database. WAL with synchronous=NORMAL: a committed row is in the OS before the
    commit returns, so it survives the process being killed (not a power cut, like the object
    bytes, which are not fsynced either)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction around several statements; nested uses join the outer one."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class BucketObjects(MutableMapping[str, dict]):
    """One bucket's object metadata, read and written row by row (the emulator treats it as a dict)."""

    def __init__(self, db: sqlite3.Connection, bucket: str) -> None:
        self._db, self._bucket = db, bucket

    def __getitem__(self, name: str) -> dict:
        row = self._db.execute("SELECT resource FROM objects WHERE bucket = ? AND name = ?",
                               (self._bucket, name)).fetchone()
        if row is None:
            raise KeyError(name)
        return json.loads(row[0])

    def __setitem__(self, name: str, resource: dict) -> None:
        self._db.execute("INSERT INTO objects (bucket, name, resource) VALUES (?, ?, ?) "
                         "ON CONFLICT (bucket, name) DO UPDATE SET resource = excluded.resource",
                         (self._bucket, name, json.dumps(resource)))

    def __delitem__(self, name: str) -> None:
        if self._db.execute("DELETE FROM objects WHERE bucket = ? AND name = ?", (self._bucket, name)).rowcount == 0:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        rows = self._db.execute("SELECT name FROM objects WHERE bucket = ? ORDER BY name", (self._bucket,)).fetchall()
        return iter([row[0] for row in rows])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM objects WHERE bucket = ?", (self._bucket,)).fetchone()[0])

    def __contains__(self, name: object) -> bool:
        return self._db.execute("SELECT 1 FROM objects WHERE bucket = ? AND name = ?",
                                (self._bucket, name)).fetchone() is not None

    def __bool__(self) -> bool:  # without it, truth would count every row
        return self._db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (self._bucket,)).fetchone() is not None

    def with_prefix(self, prefix: str | None) -> list[tuple[str, dict]]:
        """(name, resource) of the objects whose name starts with `prefix`, by name, using the index."""
        if not prefix:
            rows = self._db.execute("SELECT name, resource FROM objects WHERE bucket = ? ORDER BY name",
                                    (self._bucket,)).fetchall()
        else:
            end = _after_prefix(prefix)
            rows = self._db.execute(
                "SELECT name, resource FROM objects WHERE bucket = ? AND name >= ?"
                + (" AND name < ?" if end else "") + " ORDER BY name",
                (self._bucket, prefix, end) if end else (self._bucket, prefix)).fetchall()
        return [(name, json.loads(resource)) for name, resource in rows]


def _after_prefix(prefix: str) -> str | None:
    """The least string above every name that starts with `prefix` (None: there is none). Names
    sort as UTF-8 bytes, in code point order, so it is the prefix with its last code point raised
    (dropping trailing U+10FFFF, skipping the surrogates, which UTF-8 cannot hold)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000
    return stripped[:-1] + chr(following)


class ObjectsByBucket(MutableMapping[str, BucketObjects]):
    """`storage.objects`: bucket name -> that bucket's rows."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __getitem__(self, bucket: str) -> BucketObjects:
        return BucketObjects(self._db, bucket)

    def get(self, bucket: str, default: Any = None) -> BucketObjects:  # type: ignore[override]
        return BucketObjects(self._db, bucket)

    def __setitem__(self, bucket: str, objects: MutableMapping[str, dict]) -> None:
        if isinstance(objects, BucketObjects):
            return  # the emulator assigns back the mapping it got: the rows are already written
        with transaction(self._db):
            self._db.execute("DELETE FROM objects WHERE bucket = ?", (bucket,))
            for name, resource in objects.items():
                BucketObjects(self._db, bucket)[name] = resource

    def __delitem__(self, bucket: str) -> None:
        self._db.execute("DELETE FROM objects WHERE bucket = ?", (bucket,))

    def __iter__(self) -> Iterator[str]:
        return iter([row[0] for row in self._db.execute("SELECT DISTINCT bucket FROM objects").fetchall()])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(DISTINCT bucket) FROM objects").fetchone()[0])


class _AtomicFileStore(_FileStore):
    """Object bytes go to a temporary file renamed into place: a crash mid-write leaves the old
    object (or none), never a truncated one behind metadata that describes the whole."""

    def write_bytes(self, rel: str, content: bytes) -> None:
        path = self._disk_path(self._norm(rel))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)


def split_related(content_type: str, body: bytes) -> dict | None:
    """A simple upload's `multipart/related` body (a JSON part, then the object's bytes) as the emulator's
    handlers take it: {"meta", "content", "content-type"}. The parts are found with bytes.find on the
    boundary (linear, in C); None for any other shape (a third part, a part with its own transfer encoding,
    a missing boundary), which the emulator's own parser then reads."""
    from email.message import Message

    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or not content_type.lower().startswith("multipart/related"):
        return None
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        return None
    parts, start = [], len(delimiter)
    while True:
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            return None
        parts.append(body[start:end])
        start = end + 2 + len(delimiter)
        if body.startswith(b"--", start):
            break
    if len(parts) != 2:
        return None
    fields: list[tuple[dict[str, str], bytes]] = []
    for part in parts:
        head, sep, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                return None
            headers[name.strip().lower()] = value.strip()
        if headers.get("content-transfer-encoding", "binary").lower() not in ("binary", "8bit", "7bit"):
            return None
        fields.append((headers, content))
    (_, meta), (media_headers, content) = fields
    try:
        metadata = json.loads(meta)
    except ValueError:
        return None
    media_type = (media_headers.get("content-type") or "text/plain").split(";")[0].strip().lower()
    return {"meta": metadata, "content": content, "content-type": media_type}


def _read_data(request_handler: Any, query: dict) -> Any:
    """The emulator's request body reader, with a simple upload's multipart body split at its boundary."""
    content_type = request_handler.headers.get("Content-Type") or ""
    if content_type.lower().startswith("multipart/related") and not request_handler.headers.get("Content-Encoding"):
        raw = emulator_server._read_raw_data(request_handler)
        if not raw:
            return None
        split = split_related(content_type, raw)
        if split is not None:
            return split
        return _EMULATOR_READ_DATA(_Replayed(request_handler, raw), query)
    return _EMULATOR_READ_DATA(request_handler, query)


class _Replayed:
    """A request handler whose body was already read: the emulator's parser reads it again from memory."""

    def __init__(self, handler: Any, body: bytes) -> None:
        import io
        from email.message import Message

        self.headers = Message()   # looked up without regard to case, like the handler's own
        for key, value in handler.headers.items():
            if key.lower() not in ("transfer-encoding", "content-length"):
                self.headers[key] = value
        self.headers["Content-Length"] = str(len(body))
        self.rfile = io.BytesIO(body)


_EMULATOR_READ_DATA = emulator_server._read_data
emulator_server._read_data = _read_data   # what the emulator's Request.data calls


class PreconditionFailed(Exception):
    """An upload's ifGenerationMatch did not hold: nothing was written."""


class SqliteMetaStorage(Storage):
    """The emulator's storage with its metadata in SQLite rows, written before each response."""

    def __init__(self, data_dir: str, project_number: str | None = None) -> None:
        self._db = open_metadata(Path(data_dir) / METADATA_FILE)
        self._written: dict[str, str] = {}
        # The ifGenerationMatch of the request being served (the server answers one request at a time).
        self.generation_match: str | None = None
        super().__init__(data_dir=data_dir, project_number=project_number)
        self._store = _AtomicFileStore(use_memory=False, root=Path(data_dir) / STORAGE_DIR)

    # -- loading and migrating

    def _read_config_from_file(self) -> None:
        self._migrate_meta_file()
        documents = dict(self._db.execute("SELECT key, value FROM documents").fetchall())
        for key in _DOCUMENTS:
            setattr(self, key, json.loads(documents.get(key, "{}")))
            self._written[key] = documents.get(key, "{}")
        self.objects = ObjectsByBucket(self._db)
        self.soft_deleted = {}
        for bucket, name, generation, resource in self._db.execute(
                "SELECT bucket, name, generation, resource FROM soft_deleted"):
            self.soft_deleted.setdefault(bucket, {}).setdefault(name, {})[generation] = json.loads(resource)

    def _migrate_meta_file(self) -> None:
        """Moves the emulator's own `.meta` JSON (or the former launcher's) into the rows, once."""
        try:
            raw = self._store.read_bytes(".meta")
        except FileNotFoundError:
            return
        data = json.loads(raw.decode("utf-8"))
        with transaction(self._db):
            for key in _DOCUMENTS:
                self._db.execute("INSERT OR REPLACE INTO documents (key, value) VALUES (?, ?)",
                                 (key, json.dumps(data.get(key) or {})))
            for bucket, objects in (data.get("objects") or {}).items():
                self._db.executemany("INSERT OR REPLACE INTO objects (bucket, name, resource) VALUES (?, ?, ?)",
                                     [(bucket, name, json.dumps(obj)) for name, obj in objects.items()])
            for bucket, by_name in (data.get("soft_deleted") or {}).items():
                for name, generations in by_name.items():
                    for generation, obj in generations.items():
                        self._soft_row(bucket, name, generation, obj)
        meta = self._store._disk_path(".meta")
        os.replace(meta, meta.with_name(".meta.migrated"))

    # -- writing

    def _write_config_to_file(self) -> None:
        """Called by the emulator after every change: objects are already in their rows; the small
        maps are written when they changed."""
        for key in _DOCUMENTS:
            value = json.dumps(getattr(self, key))
            if self._written.get(key) != value:
                self._db.execute("INSERT OR REPLACE INTO documents (key, value) VALUES (?, ?)", (key, value))
                self._written[key] = value

    def _soft_row(self, bucket: str, name: str, generation: str, resource: dict | None) -> None:
        if resource is None:
            self._db.execute("DELETE FROM soft_deleted WHERE bucket = ? AND name = ? AND generation = ?",
                             (bucket, name, generation))
        else:
            self._db.execute("INSERT OR REPLACE INTO soft_deleted VALUES (?, ?, ?, ?)",
                             (bucket, name, generation, json.dumps(resource)))

    def create_file(self, bucket_name: str, file_name: str, content: bytes, file_obj: dict,
                    file_id: str | None = None) -> None:
        if self.generation_match is not None and bucket_name in self.buckets:
            current = (self.objects[bucket_name].get(file_name) or {}).get("generation") or "0"
            if str(current) != self.generation_match:
                raise PreconditionFailed(f"{bucket_name}/{file_name} is at generation {current}, "
                                         f"not {self.generation_match}")
        with transaction(self._db):
            super().create_file(bucket_name, file_name, content, file_obj, file_id)

    def delete_file(self, bucket_name: str, file_name: str) -> None:
        generation = str((self.objects[bucket_name].get(file_name) or {}).get("generation") or "0")
        with transaction(self._db):
            super().delete_file(bucket_name, file_name)
            kept = self.soft_deleted.get(bucket_name, {}).get(file_name, {}).get(generation)
            if kept is not None:
                self._soft_row(bucket_name, file_name, generation, kept)

    def _remove_soft_deleted_generation(self, bucket_name: str, file_name: str, generation: str) -> None:
        super()._remove_soft_deleted_generation(bucket_name, file_name, generation)
        self._soft_row(bucket_name, file_name, str(generation), None)

    def delete_bucket(self, bucket_name: str) -> None:
        with transaction(self._db):
            super().delete_bucket(bucket_name)
            self._db.execute("DELETE FROM soft_deleted WHERE bucket = ?", (bucket_name,))

    def wipe(self, keep_buckets: bool = False) -> None:
        with transaction(self._db):
            self._db.execute("DELETE FROM objects")
            self._db.execute("DELETE FROM soft_deleted")
            super().wipe(keep_buckets)
            self.objects = ObjectsByBucket(self._db)  # the emulator resets it to a plain dict
            self._write_config_to_file()

    def _list_live_candidates(self, bucket_name: str, prefix: str | None = None) -> list[tuple[str, dict]]:
        return self.objects[bucket_name].with_prefix(prefix)


class Handler(RequestHandler):
    """The emulator's request handler, with an upload's ifGenerationMatch kept (see the module's doc)."""

    storage: SqliteMetaStorage

    def _with_preconditions(self, method: Any) -> None:
        match = parse_qs(urlsplit(self.path).query).get("ifGenerationMatch")
        self.storage.generation_match = match[0] if match else None
        try:
            method()
        except PreconditionFailed as failed:
            body = json.dumps({"error": {"code": 412, "message": str(failed), "errors": [
                {"domain": "global", "reason": "conditionNotMet", "message": str(failed)}]}}).encode()
            self.send_response(HTTPStatus.PRECONDITION_FAILED)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            self.storage.generation_match = None

    def do_POST(self) -> None:
        self._with_preconditions(super().do_POST)

    def do_PUT(self) -> None:
        self._with_preconditions(super().do_PUT)


class Server(HTTPServer):
    """One request at a time (the storage is not thread-safe), each on its own connection (HTTP/1.0), with a
    listen backlog for every caller at once: with the socketserver default of 5, the sixth client connecting
    while one request is served had its SYN dropped and waited out TCP's 1 s retransmission (8 threads reading
    28 small objects took 1.05 s instead of 0.1 s; a gateway runs 8 threads a worker)."""

    request_queue_size = 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True, help="absolute directory for objects and metadata")
    parser.add_argument("--project-number", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)

    storage = SqliteMetaStorage(data_dir=os.path.abspath(args.data_dir), project_number=args.project_number)
    httpd = Server((args.host, args.port), partial(Handler, storage))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever()
    except SystemExit:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
