-- API revocations no longer depend on the local user row (issue 11, points 1 and 2). A deleted row
-- used to take its revocations (ON DELETE CASCADE) and its "signed out everywhere" instant with it,
-- so a still-valid, even logged-out, token provisioned a fresh active user. Both are now keyed by
-- the Cognito identity (issuer + sub, issuer + sign-in), which outlives the row.

-- The issuer of the tokens that provisioned the user (NULL: provisioned before this was recorded,
-- or by the post-confirmation hook, which does not know the issuer format the pool signs with).
ALTER TABLE users ADD COLUMN cognito_issuer text CHECK (cognito_issuer <> '');

-- Tokens whose sign-in (`auth_time`, else `iat`) is before `signed_out_at` are refused: written by
-- "sign out everywhere" and by every deletion of a Cognito user (the trigger below). `issuer` ''
-- means unknown and applies to every accepted issuer.
CREATE TABLE cognito_signouts (
    issuer        text NOT NULL,
    sub           varchar(128) NOT NULL CHECK (sub <> ''),
    signed_out_at timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, sub)
);
SELECT diesel_manage_updated_at('cognito_signouts');

INSERT INTO cognito_signouts (issuer, sub, signed_out_at)
SELECT '', cognito_sub, tokens_valid_after
FROM users
WHERE cognito_sub IS NOT NULL AND tokens_valid_after IS NOT NULL;
ALTER TABLE users DROP COLUMN tokens_valid_after;

-- A trigger rather than application code: admin delete, bulk delete, a cascade or a psql session
-- all go through it. The instant only ever moves forward.
CREATE FUNCTION gatehouse_sign_out_deleted_user() RETURNS trigger AS $$
BEGIN
    IF OLD.cognito_sub IS NOT NULL THEN
        INSERT INTO cognito_signouts (issuer, sub, signed_out_at)
        VALUES (coalesce(OLD.cognito_issuer, ''), OLD.cognito_sub, clock_timestamp())
        ON CONFLICT (issuer, sub) DO UPDATE
            SET signed_out_at = GREATEST(cognito_signouts.signed_out_at, EXCLUDED.signed_out_at);
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_sign_out_deleted_user
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_sign_out_deleted_user();

-- Revoked sign-ins: keyed by (issuer, origin_jti), no reference to users. Existing rows get the
-- unknown issuer '' (matches every accepted one) and are kept at least 31 days from their logout
-- (Cognito's default refresh-token lifetime plus a day of token validity): their `expires_at` was
-- only the logged-out token's `exp`.
ALTER TABLE revoked_tokens
    ADD COLUMN issuer text NOT NULL DEFAULT '',
    ADD COLUMN sub varchar(128);
UPDATE revoked_tokens r SET sub = u.cognito_sub FROM users u WHERE u.id = r.user_id;
DELETE FROM revoked_tokens WHERE sub IS NULL;
UPDATE revoked_tokens SET expires_at = GREATEST(expires_at, created_at + interval '31 days');
ALTER TABLE revoked_tokens
    DROP COLUMN user_id,
    ALTER COLUMN issuer DROP DEFAULT,
    ALTER COLUMN sub SET NOT NULL,
    DROP CONSTRAINT revoked_tokens_jti_key,
    ADD CONSTRAINT revoked_tokens_issuer_jti_key UNIQUE (issuer, jti);

-- The guard looks revocations up by sign-in and sign-outs by `sub` alone (see auth/cognito/guard.rs):
-- both on every API request, so both indexed.
CREATE INDEX revoked_tokens_jti_idx ON revoked_tokens (jti);
CREATE INDEX cognito_signouts_sub_idx ON cognito_signouts (sub);
