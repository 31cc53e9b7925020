-- Refresh tokens of ended web sessions, to be revoked at Cognito. Every deletion of a session row
-- (sign-out, staff "sign out everywhere" or deactivation, the user's deletion by cascade, pruning
-- of idle sessions) queues its token here through the trigger, in the deleting transaction, so no
-- path can forget it. The request that ended the session revokes at once when it can; a
-- background task revokes the rest, retrying while Cognito is unreachable.
CREATE TABLE web_revocations (
    session_id    uuid PRIMARY KEY,
    -- Sealed as it was in web_sessions (bound to the session id and the column).
    refresh_token bytea NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    -- Left alone until then: the ending request's own revocation goes first.
    not_before    timestamptz NOT NULL DEFAULT now() + interval '10 seconds',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_revocations_not_before_idx ON web_revocations (not_before);

CREATE FUNCTION web_sessions_queue_revocation() RETURNS trigger AS $$
BEGIN
    INSERT INTO web_revocations (session_id, refresh_token)
    VALUES (OLD.id, OLD.refresh_token)
    ON CONFLICT (session_id) DO NOTHING;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER web_sessions_queue_revocation
    AFTER DELETE ON web_sessions
    FOR EACH ROW EXECUTE FUNCTION web_sessions_queue_revocation();
