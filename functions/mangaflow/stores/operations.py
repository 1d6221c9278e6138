"""What operators watch and housekeeping removes, over the stores: the HITL figures of the last hour
(PostgreSQL), abandoned approval gates, chat caches (Redis), and objects past their bucket's
lifecycle (Cloud Storage)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from mangaflow.stores import objects, postgres, sessions

CLEANUP_BY = "cleanup:abandoned"  # decided_by of a gate housekeeping closed (no one's outcome)

# Per phase 1-7: the oldest open gate, the gates decided in the window by outcome (housekeeping's
# closures are no one's outcome), and the whole-phase attempts finished in the window with how
# many were quality retries (an attempt after one whose gate decision was 'retry').
_HITL_FIGURES = """
WITH phases AS (SELECT generate_series(1, 7) AS phase),
open_gates AS (
  SELECT phase, MIN(opened_at) AS oldest_open_at FROM approval_gates WHERE decided_at IS NULL GROUP BY phase
),
decided AS (
  SELECT phase, COUNT(*) AS decided,
         COUNT(*) FILTER (WHERE timed_out) AS timed_out,
         COUNT(*) FILTER (WHERE NOT timed_out AND decision IS NOT NULL) AS answered
  FROM approval_gates
  WHERE decided_at >= :since AND decided_at <= :now AND decided_by IS DISTINCT FROM :cleanup
  GROUP BY phase
),
attempts AS (
  SELECT r.phase, COUNT(*) AS attempts,
         COUNT(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM phase_runs p WHERE p.request_id = r.request_id AND p.phase = r.phase
             AND p.attempt = r.attempt - 1 AND p.panel_id IS NULL AND p.decision = 'retry')) AS retries
  FROM phase_runs r
  WHERE r.panel_id IS NULL AND r.status = 'succeeded' AND r.finished_at >= :since AND r.finished_at <= :now
  GROUP BY r.phase
)
SELECT phases.phase, o.oldest_open_at, COALESCE(d.decided, 0) AS decided, COALESCE(d.timed_out, 0) AS timed_out,
       COALESCE(d.answered, 0) AS answered, COALESCE(a.attempts, 0) AS attempts, COALESCE(a.retries, 0) AS retries
FROM phases
LEFT JOIN open_gates o ON o.phase = phases.phase
LEFT JOIN decided d ON d.phase = phases.phase
LEFT JOIN attempts a ON a.phase = phases.phase
ORDER BY phases.phase
"""

# Open gates nobody can answer any more: their run has ended, or their deadline passed long ago
# (the workflow's own timeout would have closed them: its execution is gone).
_ABANDONED_GATES = """
SELECT g.gate_id, g.request_id, g.phase, g.opened_at, g.deadline, r.status
FROM approval_gates g JOIN generation_requests r ON r.request_id = g.request_id
WHERE g.decided_at IS NULL
  AND (r.status IN ('completed', 'failed', 'cancelled') OR g.deadline < :before)
  AND (CAST(:rid AS text) IS NULL OR g.request_id = :rid)
ORDER BY g.opened_at
"""


def _instant(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


class Operations:
    """The `Operations` role (mangaflow.stores.roles) on PostgreSQL and Cloud Storage."""

    def hitl_figures(self, now: dt.datetime, window_s: int) -> list[dict[str, Any]]:
        rows = postgres.database().run(_HITL_FIGURES, since=now - dt.timedelta(seconds=window_s), now=now,
                                       cleanup=CLEANUP_BY)
        for row in rows:
            row["oldest_open_at"] = _instant(row["oldest_open_at"])
        return rows

    def abandoned_gates(self, before: dt.datetime, request_id: str | None = None) -> list[dict[str, Any]]:
        return postgres.database().run(_ABANDONED_GATES, before=before, rid=request_id)

    def close_abandoned_gate(self, gate_id: str) -> bool:
        """Closes the gate as timed out by housekeeping; False if someone decided it meanwhile."""
        return bool(postgres.database().run(
            "UPDATE approval_gates SET decided_at = now(), timed_out = true, decided_by = :by"
            " WHERE gate_id = :gid AND decided_at IS NULL RETURNING gate_id", by=CLEANUP_BY, gid=gate_id))

    def remove_chat_cache(self, session_id: str) -> int:
        """Deletes a chat session's real-time cache (`chat:{session_id}:*` in Redis); returns the keys removed."""
        def sweep(client: Any) -> int:
            keys = list(client.scan_iter(match=f"chat:{session_id}:*", count=100))
            return int(client.delete(*keys)) if keys else 0

        return int(sessions.session_store().call(sweep))

    def remove_objects_older_than(self, bucket_kind: str, before: dt.datetime, prefix: str = "") -> int:
        """Deletes the bucket's objects created before `before`; returns how many were removed."""
        from google.api_core import exceptions

        store = objects.object_store()
        bucket = store.bucket_name(bucket_kind)

        def sweep() -> int:
            removed = 0
            for blob in list(store.client.list_blobs(bucket, prefix=prefix or None, retry=None, timeout=(3, 60))):
                created = blob.time_created
                if created is not None and created < before:
                    try:
                        blob.delete(retry=None, timeout=(3, 60))
                        removed += 1
                    except exceptions.NotFound:
                        pass  # removed meanwhile (another sweep, or the bucket's own lifecycle)
            return removed

        return store._call(sweep)  # noqa: SLF001 - the store's own retry policy for Cloud Storage
