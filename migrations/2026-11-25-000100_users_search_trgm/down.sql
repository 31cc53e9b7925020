DROP INDEX IF EXISTS users_staff_idx;
DROP INDEX IF EXISTS users_username_idx;
DROP INDEX IF EXISTS users_cognito_sub_trgm_idx;
DROP INDEX IF EXISTS users_email_trgm_idx;
DROP INDEX IF EXISTS users_username_trgm_idx;
DROP EXTENSION IF EXISTS pg_trgm;
