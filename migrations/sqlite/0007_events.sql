-- Events: every change an app or backend may hear of, stored in the same
-- transaction as the change (an outbox). `seq` orders them and is their
-- public id; `origin_id` makes storing an event that came over the bus
-- (from the SFU or egress, maybe on several API nodes) idempotent.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    origin_id   TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    call_cid    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX events_by_call ON events (call_cid, seq);
