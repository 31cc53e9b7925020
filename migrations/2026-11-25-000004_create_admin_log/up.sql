-- The back office's history: who did what to which object, and which fields changed.
CREATE TABLE admin_log (
    id             uuid PRIMARY KEY,
    -- The audit trail outlives the staff account that wrote it.
    user_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    username       varchar(150) NOT NULL,
    object_type    varchar(50) NOT NULL,
    -- Text, not a foreign key: the object may be gone (deleted), its history stays readable.
    object_id      varchar(64) NOT NULL,
    object_repr    varchar(200) NOT NULL,
    action         varchar(20) NOT NULL CHECK (action IN ('add', 'change', 'delete', 'action')),
    change_message text NOT NULL DEFAULT '',
    -- {"field": {"old": …, "new": …}}; never password hashes or secrets.
    changes        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_log_object_idx ON admin_log (object_type, object_id, created_at DESC);
CREATE INDEX admin_log_user_idx ON admin_log (user_id, created_at DESC);
SELECT diesel_manage_updated_at('admin_log');
