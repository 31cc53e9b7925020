DROP TABLE group_permissions;
DROP TABLE user_permissions;
DROP TABLE user_groups;
DROP TABLE permissions;
DROP TABLE groups;
