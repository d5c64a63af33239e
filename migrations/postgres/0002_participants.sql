-- Who is (and was) connected to a call's media, as reported by the SFU.
CREATE TABLE participants (
    participant_sid  TEXT PRIMARY KEY,
    call_cid         TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    session_id       TEXT,
    user_id          TEXT NOT NULL,
    joined_at        BIGINT NOT NULL,
    left_at          BIGINT
);
CREATE INDEX participants_by_call ON participants (call_cid, left_at);
