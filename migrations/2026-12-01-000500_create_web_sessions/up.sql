-- Web sign-in through Cognito's managed login (the backend-for-frontend): tokens stay here, the
-- browser holds one opaque cookie whose SHA-256 is `id_hash`.
CREATE TABLE web_sessions (
    -- Public name of the session (the account page's "sign out this session"); not a credential.
    id                uuid PRIMARY KEY,
    -- SHA-256 of the random secret in the cookie: reading this table opens no session.
    id_hash           bytea NOT NULL UNIQUE CHECK (octet_length(id_hash) = 32),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The Cognito sign-in the tokens belong to (`origin_jti`, else `jti`): a revocation of that
    -- sign-in through the API ends this session too.
    sign_in_id        varchar(255) NOT NULL,
    -- The tokens, AES-256-GCM sealed with a key derived from SECRET_KEY and bound to this row.
    access_token      bytea NOT NULL,
    refresh_token     bytea NOT NULL,
    access_expires_at timestamptz NOT NULL,
    -- Sign-in time + WEB_SESSION_MAX_AGE_SECONDS.
    expires_at        timestamptz NOT NULL,
    -- Written at most once a minute; idle sessions end WEB_SESSION_IDLE_TIMEOUT_SECONDS after it.
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    user_agent        varchar(512) NOT NULL DEFAULT '',
    ip                inet,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_user_id_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_at_idx ON web_sessions (expires_at);
CREATE INDEX web_sessions_last_seen_at_idx ON web_sessions (last_seen_at);
CREATE INDEX web_sessions_sign_in_id_idx ON web_sessions (sign_in_id);
SELECT diesel_manage_updated_at('web_sessions');

-- Sign-ins started at /auth/login and not yet finished at /auth/callback: one row per `state`,
-- deleted when the callback uses it (so a state works once) or ten minutes later.
CREATE TABLE web_sign_ins (
    -- SHA-256 of the `state` sent to Cognito.
    state_hash    bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    -- SHA-256 of the random value in the browser's short-lived sign-in cookie: the state works
    -- only in the browser that started the sign-in.
    browser_hash  bytea NOT NULL CHECK (octet_length(browser_hash) = 32),
    -- The PKCE code verifier, sealed like the session tokens.
    code_verifier bytea NOT NULL,
    nonce         varchar(64) NOT NULL,
    -- Where to go after signing in: a path on this site, checked before it was stored.
    next_path     varchar(2048) NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sign_ins_expires_at_idx ON web_sign_ins (expires_at);
