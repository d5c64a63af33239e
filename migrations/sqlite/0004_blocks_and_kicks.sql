-- Users blocked from a call: refused at REST join, at /rtc and at ingest,
-- whatever token they hold, until unblocked.
CREATE TABLE blocked_users (
    call_cid    TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (call_cid, user_id)
);

-- The last kick of a user from a call: join tokens minted before it no
-- longer admit them (a new REST join does).
CREATE TABLE kicked_users (
    call_cid    TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    kicked_at   INTEGER NOT NULL,
    PRIMARY KEY (call_cid, user_id)
);
