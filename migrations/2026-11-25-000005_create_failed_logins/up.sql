-- Back-office login throttling (django-axes, built in). Kept in Postgres so every instance sees
-- the same counts; rows older than the window are ignored and may be pruned.
CREATE TABLE failed_logins (
    id         uuid PRIMARY KEY,
    -- The login as typed, lower-cased; the account need not exist (no enumeration by lock-out).
    username   varchar(254) NOT NULL,
    ip         inet,
    user_agent varchar(255) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX failed_logins_username_idx ON failed_logins (username, created_at);
CREATE INDEX failed_logins_ip_idx ON failed_logins (ip, created_at);
SELECT diesel_manage_updated_at('failed_logins');
