-- Rings: a caller rings some of a call's members. The timers (nobody
-- accepted, a callee did not answer, a missed call) are columns here, so
-- they fire after a restart and whichever node sees them first fires
-- them (a conditional update decides).
CREATE TABLE rings (
    id              TEXT PRIMARY KEY,
    call_cid        TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    caller_id       TEXT NOT NULL,
    video           BOOLEAN NOT NULL,
    state           TEXT NOT NULL,
    ended_reason    TEXT,
    started_at      INTEGER NOT NULL,
    auto_cancel_at  INTEGER NOT NULL,
    missed_at       INTEGER NOT NULL,
    missed_done     BOOLEAN NOT NULL,
    accepted_at     INTEGER,
    ended_at        INTEGER,
    version         INTEGER NOT NULL
);
CREATE INDEX rings_by_call ON rings (call_cid, started_at);
CREATE INDEX rings_ringing ON rings (state, auto_cancel_at);

CREATE TABLE ring_callees (
    ring_id      TEXT NOT NULL REFERENCES rings(id) ON DELETE CASCADE,
    call_cid     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    timeout_at   INTEGER NOT NULL,
    answered_at  INTEGER,
    PRIMARY KEY (ring_id, user_id)
);
CREATE INDEX ring_callees_by_user ON ring_callees (user_id, state);
CREATE INDEX ring_callees_due ON ring_callees (state, timeout_at);

-- Phones that receive pushes (rings, cancels, missed calls).
CREATE TABLE devices (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL,
    push_provider       TEXT NOT NULL,
    push_provider_name  TEXT,
    voip                BOOLEAN NOT NULL,
    created_at          INTEGER NOT NULL
);
CREATE INDEX devices_by_user ON devices (user_id);

-- How far the push sender has read the event log.
CREATE TABLE push_cursor (
    id             INTEGER PRIMARY KEY,
    last_event_id  INTEGER NOT NULL
);
