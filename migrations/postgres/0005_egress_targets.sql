-- Where an RTMP push goes, stream key included: a secret. Kept apart from
-- the job (which every recordings list reads) and never put on the bus;
-- the worker that pushes fetches it from the API.
CREATE TABLE egress_targets (
    egress_id  TEXT PRIMARY KEY REFERENCES egress(id) ON DELETE CASCADE,
    target     TEXT NOT NULL
);
