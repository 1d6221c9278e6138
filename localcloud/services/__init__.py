"""The embedded local servers (PostgreSQL, Valkey, Cloud Storage and Firestore emulators):
start, check and stop them; `env()` gives the variables clients need."""

from localcloud.services.manager import (
    SERVICE_NAMES,
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
