-- Capabilities granted to or revoked from one user in one call
-- (POST {c}/user_permissions, Stream's "grant on stage"), on top of what
-- the user's roles give. Lists of capability names, as JSON arrays.
CREATE TABLE user_permissions (
    call_cid    TEXT NOT NULL REFERENCES calls(cid) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    granted     TEXT NOT NULL,
    revoked     TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (call_cid, user_id)
);
