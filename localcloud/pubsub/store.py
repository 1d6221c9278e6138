"""Topics, subscriptions and every message not yet acknowledged, in one SQLite file, so a restart or a
SIGKILL loses nothing the server has answered for: Publish returns only after its messages (and one
delivery row per subscription) are committed. Leases are not stored: after a restart every unacked
message is delivered again, with its delivery count kept."""
from __future__ import annotations

import json
import fcntl
import sqlite3
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, topic BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (name TEXT PRIMARY KEY, subscription BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,        -- JSON object
    ordering_key TEXT NOT NULL,
    publish_time REAL NOT NULL       -- seconds since the epoch
);
CREATE TABLE IF NOT EXISTS deliveries (
    subscription TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL,       -- deliveries so far (the delivery_attempt of the last one)
    PRIMARY KEY (subscription, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_message ON deliveries (message_id);
"""

MessageRow = tuple[int, str, bytes, dict[str, str], str, float]


class PubSubStore:
    """The SQLite file `pubsub.sqlite3` in `data_dir` (WAL: a killed process keeps every commit)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_folder(data_dir)
        self.path = data_dir / "pubsub.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def last_message_id(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
        top = self._db.execute("SELECT max(id) FROM messages").fetchone()[0]
        return max(row[0] if row else 0, top or 0)

    # --- resources -----------------------------------------------------------------------------------

    def load(self, table: str, cls: Any) -> dict[str, Any]:
        column = table[:-1]
        return {name: cls.FromString(blob) for name, blob in self._db.execute(f"SELECT name, {column} FROM {table}")}

    def save(self, table: str, name: str, message: Any) -> None:
        column = table[:-1]
        self._db.execute(f"INSERT INTO {table} (name, {column}) VALUES (?, ?) "
                         f"ON CONFLICT(name) DO UPDATE SET {column} = excluded.{column}",
                         (name, message.SerializeToString()))

    def delete_topic(self, name: str) -> None:
        self._db.execute("DELETE FROM topics WHERE name = ?", (name,))

    def delete_subscription(self, name: str) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM subscriptions WHERE name = ?", (name,))
            self._db.execute("DELETE FROM deliveries WHERE subscription = ?", (name,))

    # --- messages ------------------------------------------------------------------------------------

    def publish(self, rows: list[MessageRow], subscriptions: Iterable[str]) -> None:
        """The messages and one delivery per subscription, in one transaction."""
        subscriptions = list(subscriptions)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO messages (id, topic, data, attributes, ordering_key, publish_time) VALUES (?, ?, ?, ?, ?, ?)",
                [(mid, topic, data, json.dumps(attrs), key, when) for mid, topic, data, attrs, key, when in rows])
            self._db.executemany("INSERT INTO deliveries (subscription, message_id, attempts) VALUES (?, ?, 0)",
                                 [(sub, row[0]) for sub in subscriptions for row in rows])

    def count_attempts(self, subscription: str, attempts: list[tuple[int, int]]) -> None:
        """[(message_id, attempts)] after a delivery."""
        self._db.executemany("UPDATE deliveries SET attempts = ? WHERE subscription = ? AND message_id = ?",
                             [(n, subscription, mid) for mid, n in attempts])

    def forget(self, subscription: str, message_ids: list[int]) -> None:
        """Acknowledged (or dead-lettered, or past retention): no longer owed to the subscription."""
        self._db.executemany("DELETE FROM deliveries WHERE subscription = ? AND message_id = ?",
                             [(subscription, mid) for mid in message_ids])

    def pending(self) -> Iterator[tuple[str, int, MessageRow]]:
        """(subscription, attempts, message) for everything owed, in publish order."""
        rows = self._db.execute(
            "SELECT d.subscription, d.attempts, m.id, m.topic, m.data, m.attributes, m.ordering_key, m.publish_time "
            "FROM deliveries d JOIN messages m ON m.id = d.message_id ORDER BY m.id")
        for sub, attempts, mid, topic, data, attrs, key, when in rows:
            yield sub, attempts, (mid, topic, bytes(data), json.loads(attrs), key, when)

    def collect_garbage(self) -> int:
        """Drops messages no subscription is owed any more; returns how many."""
        return self._db.execute(
            "DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM deliveries) AND id < ?",
            (self.last_message_id(),)).rowcount

    def close(self) -> None:
        self._db.close()
        self._lock.close()


def _lock_folder(data_dir: Path) -> IO[str]:
    """One server per data folder: a second one would deliver (or fire) everything twice."""
    handle = open(data_dir / "server.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise OSError(f"the data folder {data_dir} is in use by another server") from None
    return handle
