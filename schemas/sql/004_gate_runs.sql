-- A finished request reopened at a phase gate (service/reopening.py) runs the workflow again: its gates are
-- new ones, numbered by the run (0: the first run; 1, 2, ...: each reopening), beside the old, decided ones.
ALTER TABLE approval_gates ADD COLUMN IF NOT EXISTS run smallint NOT NULL DEFAULT 0 CHECK (run BETWEEN 0 AND 999);
ALTER TABLE approval_gates DROP CONSTRAINT IF EXISTS approval_gates_round_key;
CREATE UNIQUE INDEX IF NOT EXISTS approval_gates_run_round_key ON approval_gates (request_id, phase, run, round);
