DROP TRIGGER web_sessions_queue_revocation ON web_sessions;
DROP FUNCTION web_sessions_queue_revocation();
DROP TABLE web_revocations;
