-- Core state of a generation: requests, every phase attempt, approval gates, feedback and
-- preview versions. Applied once by mangaflow.stores.postgres.migrate(); recorded in schema_migrations.

CREATE TABLE IF NOT EXISTS generation_requests (
    request_id      text PRIMARY KEY,
    user_id         text NOT NULL,
    client_address  text,
    title           text,
    language        text CHECK (language IN ('ja', 'en')),
    style           text,
    pages           integer CHECK (pages BETWEEN 1 AND 200),
    input_uri       text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled')),
    current_phase   smallint CHECK (current_phase BETWEEN 1 AND 7),
    hitl_timeout_s  integer NOT NULL DEFAULT 1800 CHECK (hitl_timeout_s BETWEEN 30 AND 86400),
    auto_approve    boolean NOT NULL DEFAULT false,
    options         jsonb NOT NULL DEFAULT '{}'::jsonb,
    result_uri      text,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX IF NOT EXISTS generation_requests_user_idx ON generation_requests (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS generation_requests_status_idx ON generation_requests (status);

-- Every attempt of every phase (phase 5: one row per panel and attempt). panel_id is NULL for
-- whole-phase runs; NULLS NOT DISTINCT (PostgreSQL 15+) makes the retry key unique either way.
CREATE TABLE IF NOT EXISTS phase_runs (
    run_id          bigserial PRIMARY KEY,
    request_id      text NOT NULL REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    phase           smallint NOT NULL CHECK (phase BETWEEN 1 AND 7),
    attempt         smallint NOT NULL CHECK (attempt BETWEEN 1 AND 20),
    panel_id        text,
    status          text NOT NULL DEFAULT 'succeeded'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    input_uri       text,
    output_uri      text,
    score           double precision CHECK (score BETWEEN 0 AND 1),
    decision        text,
    hints           jsonb NOT NULL DEFAULT '[]'::jsonb,
    fallback        text,
    error           text,
    started_at      timestamptz,
    finished_at     timestamptz,
    duration_ms     integer CHECK (duration_ms >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT phase_runs_attempt_key UNIQUE NULLS NOT DISTINCT (request_id, phase, attempt, panel_id)
);
CREATE INDEX IF NOT EXISTS phase_runs_request_idx ON phase_runs (request_id, phase, attempt);

-- One gate per phase and modification round (round 0 is the first review, then up to 3 reruns).
CREATE TABLE IF NOT EXISTS approval_gates (
    gate_id         text PRIMARY KEY,
    request_id      text NOT NULL REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    phase           smallint NOT NULL CHECK (phase BETWEEN 1 AND 7),
    round           smallint NOT NULL DEFAULT 0 CHECK (round BETWEEN 0 AND 3),
    callback_url    text,
    preview_uri     text,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    deadline        timestamptz NOT NULL,
    decision        text CHECK (decision IN ('approve', 'modify', 'skip')),
    decided_by      text,
    decided_at      timestamptz,
    timed_out       boolean NOT NULL DEFAULT false,
    feedback        text,
    CONSTRAINT approval_gates_round_key UNIQUE (request_id, phase, round)
);
CREATE INDEX IF NOT EXISTS approval_gates_open_idx ON approval_gates (deadline) WHERE decided_at IS NULL;

-- Requested modifications: the person's text or quick option, the parsed intent and its intensity.
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id     text PRIMARY KEY,
    request_id      text NOT NULL REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    phase           smallint NOT NULL CHECK (phase BETWEEN 1 AND 7),
    gate_id         text REFERENCES approval_gates (gate_id) ON DELETE SET NULL,
    text            text NOT NULL DEFAULT '',
    quick_option    text,
    parsed_intent   jsonb NOT NULL DEFAULT '{}'::jsonb,
    intensity       double precision CHECK (intensity BETWEEN 0 AND 1),
    confidence      double precision CHECK (confidence BETWEEN 0 AND 1),
    applied         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS feedback_request_idx ON feedback (request_id, phase, created_at);

-- Every preview shown for a phase, numbered 1, 2, ... so versions can be compared and reverted to.
CREATE TABLE IF NOT EXISTS preview_versions (
    request_id      text NOT NULL REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    phase           smallint NOT NULL CHECK (phase BETWEEN 1 AND 7),
    version         integer NOT NULL CHECK (version >= 1),
    uri             text NOT NULL,
    attempt         smallint,
    label           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, phase, version)
);
