-- Back-office search is "contains" (ILIKE '%word%') on username, email and Cognito sub, which no
-- B-tree index can serve: trigram GIN indexes keep it fast at millions of users. pg_trgm is a
-- trusted extension (PostgreSQL 13+), so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_username_trgm_idx ON users USING gin (username gin_trgm_ops);
CREATE INDEX users_email_trgm_idx ON users USING gin (email gin_trgm_ops);
CREATE INDEX users_cognito_sub_trgm_idx ON users USING gin (cognito_sub gin_trgm_ops);
-- The list's default order: lets a page of a broad search walk the index instead of sorting
-- every match.
CREATE INDEX users_username_idx ON users (username);
-- Staff are a handful among millions of app users: "staff only" reads this small index.
CREATE INDEX users_staff_idx ON users (username) WHERE is_staff;
