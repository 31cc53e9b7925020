-- API sign-outs. Cognito access/id tokens cannot be revoked at the source, so `POST /api/v1/logout`
-- records the sign-in (`origin_jti`, shared by every token refreshed from it) until the token's
-- expiry; the guard refuses tokens whose sign-in is listed here.
CREATE TABLE revoked_tokens (
    id         uuid PRIMARY KEY,
    jti        varchar(255) NOT NULL UNIQUE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- After this the token is expired anyway and the row may be pruned.
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);
CREATE INDEX revoked_tokens_user_id_idx ON revoked_tokens (user_id);
SELECT diesel_manage_updated_at('revoked_tokens');
