-- The users list pages "ids first": it finds one page of ids in an index ordered like the list
-- (sort column, then id as the tie-breaker, which follows the sort's direction), then loads those
-- rows. With (column, id) indexes that is an index-only walk for every sortable column, in either
-- direction, whatever the table size. They replace the single-column indexes they extend (an
-- equality lookup on email still uses the email one).
DROP INDEX users_username_idx;
CREATE INDEX users_username_id_idx ON users (username, id);
DROP INDEX users_email_idx;
CREATE INDEX users_email_id_idx ON users (email, id);
DROP INDEX users_created_at_idx;
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
CREATE INDEX users_is_staff_id_idx ON users (is_staff, id);
CREATE INDEX users_is_active_id_idx ON users (is_active, id);
CREATE INDEX users_source_id_idx ON users ((cognito_sub IS NOT NULL), id);
-- The two rare groups the back office filters on: staff (a handful) and deactivated accounts
-- (a few percent), in the list's default order.
DROP INDEX users_staff_idx;
CREATE INDEX users_staff_idx ON users (username, id) WHERE is_staff;
CREATE INDEX users_inactive_idx ON users (username, id) WHERE NOT is_active;
