-- Webhooks: where events go, and how far each endpoint has got. The state
-- of delivery lives here (not in a node's memory), so a restart, a crash
-- or another API node taking over resumes exactly where it was.

-- An endpoint, from the config file (`source` 'config') or the REST API
-- ('api'). `queued_through`: every event up to this id is queued in
-- `webhook_deliveries` for it (or was not wanted); a new endpoint starts
-- at the end of the log.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    ordinal         BIGINT NOT NULL,
    url             TEXT NOT NULL,
    events          TEXT,
    queued_through  BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (source, url)
);

-- An event waiting for one endpoint ('pending') or given up on ('parked',
-- until redelivered); a row is deleted once delivered. A call's events go
-- to an endpoint one at a time: of its pending rows only one, its head
-- (normally the oldest), has a `next_attempt_at`; when the head is
-- delivered or parked, the next oldest becomes the head. So what may go
-- next is a short index range, however long the queues grow.
CREATE TABLE webhook_deliveries (
    endpoint_id      TEXT NOT NULL,
    event_id         BIGINT NOT NULL,
    call_cid         TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    first_attempt_at BIGINT,
    last_attempt_at  BIGINT,
    next_attempt_at  BIGINT,
    last_error       TEXT,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, state, call_cid, event_id);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, event_id);
CREATE INDEX webhook_deliveries_heads ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;

-- Which node delivers: one row, held by whoever renewed it last before
-- it expired.
CREATE TABLE webhook_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
