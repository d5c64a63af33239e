-- Egress jobs: recordings, HLS broadcasts, RTMP pushes, with their state.
CREATE TABLE egress (
    id           TEXT PRIMARY KEY,
    call_cid     TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    session_id   TEXT,
    kind         TEXT NOT NULL,
    -- An RTMP push's target name, or the sid of the track a track
    -- recording records (unique among the call's running jobs of its kind).
    name         TEXT,
    preset       TEXT NOT NULL,
    state        TEXT NOT NULL,
    error        TEXT,
    file         TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    ended_at     BIGINT,
    -- Last report from its worker: a running job silent for long is failed.
    updated_at   BIGINT NOT NULL
);
CREATE INDEX egress_running ON egress (state, updated_at);
CREATE INDEX egress_by_call ON egress (call_cid, kind, created_at);
-- One running composite recording and one running HLS broadcast per call,
-- one running RTMP push per target name, one running recording per track.
CREATE UNIQUE INDEX egress_one_running ON egress (call_cid, kind)
    WHERE kind IN ('recording', 'hls') AND state IN ('starting', 'active', 'ending');
CREATE UNIQUE INDEX egress_one_per_name ON egress (call_cid, kind, name)
    WHERE kind IN ('rtmp', 'track_recording') AND state IN ('starting', 'active', 'ending');
