-- One table for both doors: staff (password + session) and app users (Cognito `sub`).
CREATE TABLE users (
    id                 uuid PRIMARY KEY,
    username           varchar(150) NOT NULL CHECK (btrim(username) <> ''),
    -- Stored lower-case (Cognito compared emails case-sensitively once; we normalise). Not unique:
    -- Cognito lets several unverified users share an address.
    email              varchar(254) NOT NULL DEFAULT '' CHECK (email = lower(email)),
    -- NULL means an unusable password: such a user can never log in to the back office.
    password_hash      text,
    cognito_sub        varchar(128) UNIQUE CHECK (cognito_sub <> ''),
    email_verified     boolean NOT NULL DEFAULT false,
    first_name         varchar(150) NOT NULL DEFAULT '',
    last_name          varchar(150) NOT NULL DEFAULT '',
    is_active          boolean NOT NULL DEFAULT true,
    is_staff           boolean NOT NULL DEFAULT false,
    is_superuser       boolean NOT NULL DEFAULT false,
    last_login         timestamptz,
    -- API tokens issued (iat) before this instant are refused: our own revocation, which Cognito lacks.
    tokens_valid_after timestamptz,
    -- Bumped on password change and deactivation; staff sessions carry the epoch they began in.
    session_epoch      integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- "Alice" and "alice" are the same account.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE INDEX users_email_idx ON users (email);
CREATE INDEX users_created_at_idx ON users (created_at);

SELECT diesel_manage_updated_at('users');
