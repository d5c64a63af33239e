-- OnAir schema, Postgres. Times are milliseconds since the Unix epoch; JSON is TEXT.
CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    image       TEXT,
    role        TEXT NOT NULL,
    custom      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE call_types (
    name        TEXT PRIMARY KEY,
    grants      TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE calls (
    cid                 TEXT PRIMARY KEY,
    call_type           TEXT NOT NULL,
    id                  TEXT NOT NULL,
    created_by          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    starts_at           BIGINT,
    ended_at            BIGINT,
    backstage           BOOLEAN NOT NULL,
    custom              TEXT NOT NULL,
    settings_override   TEXT NOT NULL,
    current_session_id  TEXT
);

CREATE TABLE members (
    call_cid    TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    custom      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (call_cid, user_id)
);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    call_cid         TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT,
    live_started_at  BIGINT,
    live_ended_at    BIGINT
);
CREATE INDEX sessions_by_call ON sessions (call_cid, started_at);
