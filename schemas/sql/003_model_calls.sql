-- What the models cost and where each picture came from (issue 11), and which phase call may still
-- record its answer (issue 9). Applied once by mangaflow.stores.postgres.migrate().

-- Every try of every model call: tokens from the answer's usageMetadata, its list price (prices.json),
-- provenance, and what happened (status). Cache hits and calls refused by the budget are rows too,
-- so a request's images add up: sheets + panels = model answers + cache hits + fallbacks.
CREATE TABLE IF NOT EXISTS model_calls (
    call_id         bigserial PRIMARY KEY,
    request_id      text NOT NULL REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    phase           smallint CHECK (phase BETWEEN 1 AND 7),
    attempt         smallint,
    panel_id        text,
    operation       text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('text', 'image')),
    call_key        text NOT NULL,
    try_number      smallint NOT NULL DEFAULT 0,
    provider        text NOT NULL,
    model           text NOT NULL,
    model_version   text,
    -- ok: answered in time; blocked: answered without an image (safety filter, no image); error: failed
    -- (HTTP status in http_status); timeout: no answer by the deadline; late: the answer to a timed-out
    -- try, discarded (still billed); cache: reused an earlier image; budget: not asked, the budget was spent.
    status          text NOT NULL CHECK (status IN ('ok', 'blocked', 'error', 'timeout', 'late', 'cache', 'budget')),
    fault           text,
    http_status     smallint,
    error           text,
    input_tokens    integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    image_tokens    integer NOT NULL DEFAULT 0 CHECK (image_tokens >= 0),
    cost_usd        numeric(14, 8) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    latency_ms      integer CHECK (latency_ms >= 0),
    prompt_sha256   text,
    reference_sha256 jsonb NOT NULL DEFAULT '[]'::jsonb,
    seed            bigint,
    response_id     text,
    cache_of        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS model_calls_request_idx ON model_calls (request_id, call_key);

-- A request's spending limit. A call first reserves the most it can cost; the reservation becomes what
-- it did cost when it answers. A reservation that does not fit stops the model for the rest of the run.
CREATE TABLE IF NOT EXISTS model_budgets (
    request_id      text PRIMARY KEY REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    budget_usd      numeric(14, 6) NOT NULL CHECK (budget_usd >= 0),
    spent_usd       numeric(14, 8) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),
    reserved_usd    numeric(14, 8) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    stopped_at      timestamptz,
    stop_reason     text
);

-- The phase call (request, phase, attempt, panel) that may record its result: a retry of the same call
-- takes the lease over, and the earlier call's late answer is discarded.
CREATE TABLE IF NOT EXISTS phase_call_leases (
    request_id      text NOT NULL REFERENCES generation_requests (request_id) ON DELETE CASCADE,
    call_key        text NOT NULL,
    token           text NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, call_key)
);

-- Images a model drew, by the keys that find them again (docs/vertex.md, "The image cache"): `inputs:`
-- (everything the picture is made from), `prompt:` (the exact prompt and references). One row per key;
-- near matches are looked up among the rows with the same references (refs_key).
CREATE TABLE IF NOT EXISTS image_cache (
    user_id         text NOT NULL,
    cache_key       text NOT NULL,
    kind            text NOT NULL,
    model           text NOT NULL,
    refs_key        text NOT NULL,
    normalised_prompt text NOT NULL,
    image_uri       text NOT NULL,
    description     jsonb,
    provenance      jsonb NOT NULL,
    request_id      text NOT NULL,
    attempt         smallint NOT NULL,
    item_id         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, cache_key)
);
CREATE INDEX IF NOT EXISTS image_cache_near_idx ON image_cache (user_id, refs_key, created_at DESC);
