-- Signatures the post-confirmation hook has accepted, so a captured request cannot be replayed
-- within its five-minute window. Kept in Postgres so every instance refuses the replay; a row is
-- useless once its timestamp is outside the window and is pruned then.
CREATE TABLE hook_signatures (
    -- The HMAC-SHA256 that verified (32 bytes): unique per timestamp and body.
    signature  bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hook_signatures_expires_at_idx ON hook_signatures (expires_at);
