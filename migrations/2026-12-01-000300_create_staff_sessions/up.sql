-- Server-side record of each back-office session. The session cookie is encrypted but otherwise
-- self-contained, so without this a copied cookie kept working after logout until it expired;
-- the guard now also needs the cookie's session id to be here, and logout deletes it.
CREATE TABLE staff_sessions (
    -- SHA-256 of the random session id held in the cookie: reading this table opens no session.
    id_hash    bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Login time + SESSION_MAX_AGE_SECONDS; expired rows are pruned at each login.
    expires_at timestamptz NOT NULL
);
CREATE INDEX staff_sessions_user_id_idx ON staff_sessions (user_id);
CREATE INDEX staff_sessions_expires_at_idx ON staff_sessions (expires_at);
