-- The workflow execution that runs a request, so a user's run slot can be tied to a live execution
-- (freed when it ends in any way, reclaimed when it no longer exists).
ALTER TABLE generation_requests ADD COLUMN IF NOT EXISTS execution_name text;
