-- The demo model of the Agiliq DRF + Cognito tutorial (name max_length=50), made complete.
CREATE TABLE articles (
    id         uuid PRIMARY KEY,
    name       varchar(50) NOT NULL CHECK (btrim(name) <> ''),
    body       text NOT NULL DEFAULT '',
    author_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX articles_author_id_idx ON articles (author_id);
CREATE INDEX articles_created_at_idx ON articles (created_at DESC, id DESC);
SELECT diesel_manage_updated_at('articles');
