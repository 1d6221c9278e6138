"""Shared pytest fixtures. `services` (session scope) starts or reuses the local servers and sets
DATABASE_URL, REDIS_URL, STORAGE_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT."""

from localcloud.services.pytest_plugin import services  # noqa: F401  (re-exported fixture)
