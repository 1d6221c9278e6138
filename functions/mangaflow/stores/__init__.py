"""State stores: PostgreSQL (postgres), Redis sessions/limits/progress (sessions), Cloud Storage
artifacts (objects) and Firestore chat (chat). Import the submodule you need; clients are lazy."""

from mangaflow.stores._retry import StoreUnavailable

__all__ = ["StoreUnavailable"]
