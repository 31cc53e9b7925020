-- Seeds :n users (default 1,000,000) for measuring the back office at scale:
--   psql "$DATABASE_URL" -v n=1000000 -f scripts/seed_users.sql
-- Every third user is a Cognito user (has a sub); created_at spreads over two years.
\if :{?n}
\else
  \set n 1000000
\endif
INSERT INTO users (id, username, email, cognito_sub, email_verified, created_at, updated_at)
SELECT gen_random_uuid(),
       'seed' || g,
       'seed' || g || '@' || (ARRAY['example.com', 'corp.example', 'mail.example'])[1 + g % 3],
       CASE WHEN g % 3 = 0 THEN md5(g::text) END,
       g % 2 = 0,
       now() - (g % 730) * interval '1 day',
       now()
FROM generate_series(1, :n) AS g
ON CONFLICT DO NOTHING;
ANALYZE users;
