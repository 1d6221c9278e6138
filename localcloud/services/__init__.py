"""The embedded servers' own launchers (`storage_server.py`, `firestore_server.js`) and the pytest
fixture; `localcloud.supervisor` starts, checks and stops them. Its store-facing operations are
re-exported here for the tests and benchmarks that drive the stores."""

from localcloud.supervisor import (
    STORE_PARTS as SERVICE_NAMES,
    ServiceError,
    ServiceNotRunning,
    bucket_names,
    down,
    env,
    kill,
    local_dir,
    restart,
    status,
    stop,
    up,
)

__all__ = [
    "SERVICE_NAMES",
    "ServiceError",
    "ServiceNotRunning",
    "bucket_names",
    "down",
    "env",
    "kill",
    "local_dir",
    "restart",
    "status",
    "stop",
    "up",
]
