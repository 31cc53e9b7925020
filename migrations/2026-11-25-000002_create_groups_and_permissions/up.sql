-- Django's authorisation model: permissions granted to users directly or through groups.
CREATE TABLE groups (
    id         uuid PRIMARY KEY,
    name       varchar(150) NOT NULL CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX groups_name_lower_key ON groups (lower(name));
SELECT diesel_manage_updated_at('groups');

CREATE TABLE permissions (
    id         uuid PRIMARY KEY,
    -- `<model>.<action>`, e.g. `users.view`, `articles.change`.
    codename   varchar(100) NOT NULL UNIQUE CHECK (codename ~ '^[a-z_]+\.[a-z_]+$'),
    name       varchar(255) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT diesel_manage_updated_at('permissions');

-- Fixed UUIDv7 ids, so every database names each permission alike.
INSERT INTO permissions (id, codename, name) VALUES
    ('01a213b9-baa9-7d24-8851-8e46761a8e0c', 'users.view', 'Can view user'),
    ('01a213b9-baa9-7b8e-a43c-9d935fdb22c2', 'users.add', 'Can add user'),
    ('01a213b9-baa9-78c4-9c38-e39546dd5987', 'users.change', 'Can change user'),
    ('01a213b9-baa9-7d15-92a9-c4a3819e5778', 'users.delete', 'Can delete user'),
    ('01a213b9-baa9-7dc9-99d5-c6418b22d30e', 'groups.view', 'Can view group'),
    ('01a213b9-baa9-750e-abd5-7a335a9df8f7', 'groups.add', 'Can add group'),
    ('01a213b9-baa9-745d-9f2c-ef951f059b09', 'groups.change', 'Can change group'),
    ('01a213b9-baa9-7afd-9168-54045f292029', 'groups.delete', 'Can delete group'),
    ('01a213b9-baa9-71ab-ad55-df9910cec544', 'articles.view', 'Can view article'),
    ('01a213b9-baa9-7c46-8241-ea12dac95016', 'articles.add', 'Can add article'),
    ('01a213b9-baa9-770a-b925-d8df14824649', 'articles.change', 'Can change article'),
    ('01a213b9-baa9-79ac-b893-5e3c29f01c44', 'articles.delete', 'Can delete article');

-- Link tables: the pair is the key; a surrogate id would only need a second unique index.
CREATE TABLE user_groups (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id   uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group_id_idx ON user_groups (group_id);

CREATE TABLE user_permissions (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, permission_id)
);
CREATE INDEX user_permissions_permission_id_idx ON user_permissions (permission_id);

CREATE TABLE group_permissions (
    group_id      uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, permission_id)
);
CREATE INDEX group_permissions_permission_id_idx ON group_permissions (permission_id);
