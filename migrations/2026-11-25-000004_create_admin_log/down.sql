DROP TABLE admin_log;
