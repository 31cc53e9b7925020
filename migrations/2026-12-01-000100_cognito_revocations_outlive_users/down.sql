DROP INDEX revoked_tokens_jti_idx;
ALTER TABLE revoked_tokens ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;
UPDATE revoked_tokens r SET user_id = u.id FROM users u WHERE u.cognito_sub = r.sub;
DELETE FROM revoked_tokens WHERE user_id IS NULL;
-- The old key was the jti alone: keep one row per jti, the longest-lived.
DELETE FROM revoked_tokens a USING revoked_tokens b
WHERE a.jti = b.jti AND (a.expires_at, a.id) < (b.expires_at, b.id);
ALTER TABLE revoked_tokens
    DROP CONSTRAINT revoked_tokens_issuer_jti_key,
    ADD CONSTRAINT revoked_tokens_jti_key UNIQUE (jti),
    ALTER COLUMN user_id SET NOT NULL,
    DROP COLUMN issuer,
    DROP COLUMN sub;
CREATE INDEX revoked_tokens_user_id_idx ON revoked_tokens (user_id);

DROP TRIGGER users_sign_out_deleted_user ON users;
DROP FUNCTION gatehouse_sign_out_deleted_user();

ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
UPDATE users u SET tokens_valid_after = s.latest
FROM (SELECT sub, max(signed_out_at) AS latest FROM cognito_signouts GROUP BY sub) s
WHERE u.cognito_sub = s.sub;
DROP TABLE cognito_signouts;
ALTER TABLE users DROP COLUMN cognito_issuer;
