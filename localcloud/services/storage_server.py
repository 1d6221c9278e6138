"""Serves gcp-storage-emulator's JSON API on disk, writing its metadata file at most every
FLUSH_INTERVAL_S instead of after every request (and always on SIGTERM/SIGINT).

Why: the emulator rewrites one JSON file describing every object after each upload, so an upload
costs time proportional to everything ever stored (about 10 ms at 800 objects, and growing). The
request handling itself is the emulator's own, unchanged.
Usage: python -m localcloud.services.storage_server --host 127.0.0.1 --port PORT --data-dir DIR
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from functools import partial
from http.server import HTTPServer
from types import FrameType

from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage

FLUSH_INTERVAL_S = 0.25


class DeferredMetaStorage(Storage):
    """The emulator's storage with the metadata write deferred to `flush()`."""

    dirty_since: float | None = None

    def _write_config_to_file(self) -> None:
        if self.dirty_since is None:
            self.dirty_since = time.monotonic()

    def flush(self) -> None:
        if self.dirty_since is not None:
            super()._write_config_to_file()
            # Cleared only after the write: a signal arriving mid-write leaves it dirty, so the
            # shutdown path writes the file again in full.
            self.dirty_since = None


class _Server(HTTPServer):
    storage: DeferredMetaStorage

    def service_actions(self) -> None:
        # Runs in the serving thread between requests, so the flush never races a request.
        since = self.storage.dirty_since
        if since is not None and time.monotonic() - since >= FLUSH_INTERVAL_S:
            self.storage.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True, help="absolute directory for objects and metadata")
    parser.add_argument("--project-number", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)

    storage = DeferredMetaStorage(data_dir=args.data_dir, project_number=args.project_number)
    httpd = _Server((args.host, args.port), partial(RequestHandler, storage))
    httpd.storage = storage

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=FLUSH_INTERVAL_S)
    except SystemExit:
        pass
    finally:
        storage.flush()
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
