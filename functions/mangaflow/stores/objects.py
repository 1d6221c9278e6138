"""Artifacts in Cloud Storage (the local emulator through STORAGE_EMULATOR_HOST): the six buckets,
content-addressed puts (same bytes, same URI, one object) and fixed-name puts for final products."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from typing import Any, BinaryIO

from google.api_core import exceptions as gexc

from mangaflow.config import BUCKET_KINDS, Settings, settings
from mangaflow.stores._process_wide import ProcessWide
from mangaflow.errors import StoreValueError
from mangaflow.stores._retry import StoreUnavailable, with_retry

_EXTENSIONS = {
    "image/png": "png",
    "image/webp": "webp",
    "image/jpeg": "jpg",
    "application/json": "json",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/vnd.comicbook+zip": "cbz",
    "text/plain": "txt",
    "text/html": "html",
    "application/octet-stream": "bin",
}


# (connect, read) seconds per HTTP call. The library's own retries (up to 120 s) are switched off:
# with_retry() below retries connection failures with its own deadline and then names the service.
_TIMEOUT = (3, 60)
# A large file goes up in chunks of this size (a multiple of 256 KiB, as resumable uploads require).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

# Lifecycles of the infrastructure design (4.3): (action, age in days, storage class).
# Terraform sets them in the cloud; a bucket this module creates gets the same rules.
# (The local emulator accepts and ignores them.)
BUCKET_LIFECYCLES: dict[str, list[tuple[str, int, str | None]]] = {
    "input_data": [("Delete", 90, None)],
    "output_images": [],
    "preview_cache": [("Delete", 30, None)],
    "version_snapshots": [("SetStorageClass", 7, "NEARLINE"), ("Delete", 60, None)],
    "final_products": [("SetStorageClass", 30, "NEARLINE"), ("SetStorageClass", 365, "COLDLINE")],
    "temp_data": [("Delete", 7, None)],
}


class InvalidObject(StoreValueError):
    """A bucket kind, URI or object name is not acceptable; the message names it."""


def _is_transient(err: BaseException) -> bool:
    import requests

    return isinstance(
        err,
        (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
         gexc.ServiceUnavailable, gexc.InternalServerError, gexc.BadGateway, gexc.GatewayTimeout,
         gexc.TooManyRequests),
    )


def parse_uri(uri: str) -> tuple[str, str]:
    """'gs://bucket/a/b' -> ('bucket', 'a/b')."""
    if not isinstance(uri, str) or not uri.startswith("gs://") or "/" not in uri[5:]:
        raise InvalidObject(f"uri must look like gs://bucket/name, got {uri!r}")
    bucket, _, name = uri[5:].partition("/")
    if not bucket or not name:
        raise InvalidObject(f"uri must look like gs://bucket/name, got {uri!r}")
    return bucket, name


class ObjectStore:
    """One storage client per process, created on first use."""

    def __init__(self, config: Settings | None = None, retry_deadline_s: float = 20.0) -> None:
        self._config = config or settings()
        self.retry_deadline_s = retry_deadline_s
        self._client: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                from google.cloud import storage

                if self._config.storage_emulator_host:
                    from google.auth.credentials import AnonymousCredentials

                    self._client = storage.Client(
                        project=self._config.google_cloud_project,
                        credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": self._config.storage_emulator_host},
                    )
                else:
                    self._client = storage.Client(project=self._config.google_cloud_project)
                self._pid = os.getpid()
            return self._client

    def where(self) -> str:
        return self._config.storage_emulator_host or "Cloud Storage"

    def _call(self, operation: Any) -> Any:
        return with_retry(
            operation, is_transient=_is_transient, service="Cloud Storage", where=self.where,
            deadline_s=self.retry_deadline_s,
        )

    def bucket_name(self, bucket_kind: str) -> str:
        if bucket_kind not in BUCKET_KINDS:
            raise InvalidObject(f"bucket_kind must be one of {', '.join(BUCKET_KINDS)}, got {bucket_kind!r}")
        return self._config.bucket(bucket_kind)

    def named_uri(self, bucket_kind: str, name: str) -> str:
        """The URI `put_named(bucket_kind, name, ...)` stores at (whether or not anything is there yet)."""
        return f"gs://{self.bucket_name(bucket_kind)}/{name}"

    def ensure_buckets(self) -> list[str]:
        """Creates whichever of the six buckets is missing; returns all six names."""
        names = [self.bucket_name(kind) for kind in BUCKET_KINDS]

        def op() -> None:
            existing = {b.name for b in self.client.list_buckets(retry=None, timeout=_TIMEOUT)}
            for kind, name in zip(BUCKET_KINDS, names):
                if name in existing:
                    continue
                bucket = self.client.bucket(name)
                for action, age, storage_class in BUCKET_LIFECYCLES[kind]:
                    if action == "Delete":
                        bucket.add_lifecycle_delete_rule(age=age)
                    else:
                        bucket.add_lifecycle_set_storage_class_rule(storage_class, age=age)
                try:
                    self.client.create_bucket(bucket, location=self._config.region, retry=None, timeout=_TIMEOUT)
                except gexc.Conflict:
                    pass  # another worker created it meanwhile

        self._call(op)
        return names

    # Uploads pass if_generation_match=0 ("only if absent"), so a retried or concurrent upload of
    # the same content-addressed name never writes a second generation.
    def _upload(self, bucket: str, name: str, data: bytes, content_type: str, only_if_absent: bool) -> None:
        blob = self.client.bucket(bucket).blob(name)
        kwargs: dict[str, Any] = {"content_type": content_type, "retry": None, "timeout": _TIMEOUT}
        if only_if_absent:
            kwargs["if_generation_match"] = 0
        try:
            blob.upload_from_string(data, **kwargs)
        except gexc.PreconditionFailed:
            pass  # already there: identical by construction of the name

    def put_bytes(
        self, bucket_kind: str, data: bytes, content_type: str = "application/octet-stream", prefix: str = ""
    ) -> str:
        """Stores `data` as `<prefix>/<sha256>.<ext>` and returns its gs:// URI; when that object
        exists nothing is written (retries never duplicate; identical panels are stored once).

        One request: the upload itself says "only if absent" (if_generation_match=0) and an object already
        there answers 412. An existence check first cost a second round trip on every new object, which is
        nearly every put (bench/RESULTS.md, "Fixed costs")."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidObject(f"data must be bytes, got {type(data).__name__}")
        bucket = self.bucket_name(bucket_kind)
        digest = hashlib.sha256(data).hexdigest()
        ext = _EXTENSIONS.get(content_type.split(";")[0].strip(), "bin")
        name = f"{_clean_prefix(prefix)}{digest}.{ext}"

        self._call(lambda: self._upload(bucket, name, bytes(data), content_type, only_if_absent=True))
        return f"gs://{bucket}/{name}"

    def put_json(self, bucket_kind: str, value: Any, prefix: str = "") -> str:
        """Content-addressed JSON (canonical: sorted keys, UTF-8) so equal values share one URI."""
        data = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return self.put_bytes(bucket_kind, data, "application/json", prefix)

    def put_named(
        self, bucket_kind: str, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Stores under a fixed name (e.g. requests/{id}/manga.pdf), replacing what was there."""
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise InvalidObject(f"name must be a relative object path without '..', got {name!r}")
        bucket = self.bucket_name(bucket_kind)
        self._call(lambda: self._upload(bucket, name, bytes(data), content_type, only_if_absent=False))
        return f"gs://{bucket}/{name}"

    def put_named_file(
        self, bucket_kind: str, name: str, file: BinaryIO, content_type: str = "application/octet-stream"
    ) -> str:
        """Stores a seekable binary file under a fixed name, like put_named, without reading it whole
        into memory: past 8 MiB it goes up as a resumable upload in UPLOAD_CHUNK_BYTES chunks (one
        chunk in memory at a time). The object appears only once the last byte is in: an upload that
        fails midway leaves whatever was stored under the name before."""
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise InvalidObject(f"name must be a relative object path without '..', got {name!r}")
        if not (hasattr(file, "read") and hasattr(file, "seek")):
            raise InvalidObject(f"file must be a seekable binary file, got {type(file).__name__}")
        bucket = self.bucket_name(bucket_kind)
        size = file.seek(0, io.SEEK_END)

        def op() -> None:
            file.seek(0)
            blob = self.client.bucket(bucket).blob(name, chunk_size=UPLOAD_CHUNK_BYTES)
            blob.upload_from_file(file, size=size, content_type=content_type, retry=None, timeout=_TIMEOUT)

        self._call(op)
        return f"gs://{bucket}/{name}"

    def get_bytes(self, uri: str) -> bytes:
        """The object's bytes; FileNotFoundError naming the URI when it is absent."""
        bucket, name = parse_uri(uri)

        def op() -> bytes:
            try:
                return self.client.bucket(bucket).blob(name).download_as_bytes(retry=None, timeout=_TIMEOUT)
            except gexc.NotFound as err:
                raise FileNotFoundError(f"no object at {uri}") from err

        return self._call(op)

    def get_json(self, uri: str) -> Any:
        return json.loads(self.get_bytes(uri).decode("utf-8"))

    def exists(self, uri: str) -> bool:
        bucket, name = parse_uri(uri)
        return bool(self._call(lambda: self.client.bucket(bucket).blob(name).exists(retry=None, timeout=_TIMEOUT)))

    def list_uris(self, bucket_kind: str, prefix: str = "") -> list[str]:
        bucket = self.bucket_name(bucket_kind)
        return self._call(
            lambda: [
                f"gs://{bucket}/{b.name}"
                for b in self.client.list_blobs(bucket, prefix=prefix or None, retry=None, timeout=_TIMEOUT)
            ]
        )


def _clean_prefix(prefix: str) -> str:
    prefix = (prefix or "").strip("/")
    if ".." in prefix.split("/"):
        raise InvalidObject(f"prefix must not contain '..', got {prefix!r}")
    return f"{prefix}/" if prefix else ""


# The process-wide ObjectStore (lazily created from settings()). `reset_object_store()` forgets it after the environment changed (tests).
object_store = ProcessWide(ObjectStore)
reset_object_store = object_store.reset

# Module-level shortcuts over the process-wide store, the names the phases call.
def ensure_buckets() -> list[str]:
    return object_store().ensure_buckets()


def put_bytes(bucket_kind: str, data: bytes, content_type: str = "application/octet-stream", prefix: str = "") -> str:
    return object_store().put_bytes(bucket_kind, data, content_type, prefix)


def put_json(bucket_kind: str, value: Any, prefix: str = "") -> str:
    return object_store().put_json(bucket_kind, value, prefix)


def put_named(bucket_kind: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    return object_store().put_named(bucket_kind, name, data, content_type)


def put_named_file(bucket_kind: str, name: str, file: BinaryIO,
                   content_type: str = "application/octet-stream") -> str:
    return object_store().put_named_file(bucket_kind, name, file, content_type)


def get_bytes(uri: str) -> bytes:
    return object_store().get_bytes(uri)


def get_json(uri: str) -> Any:
    return object_store().get_json(uri)


def exists(uri: str) -> bool:
    return object_store().exists(uri)


__all__ = [
    "InvalidObject", "ObjectStore", "StoreUnavailable", "ensure_buckets", "exists", "get_bytes", "get_json",
    "object_store", "parse_uri", "put_bytes", "put_json", "put_named", "put_named_file", "reset_object_store",
]
