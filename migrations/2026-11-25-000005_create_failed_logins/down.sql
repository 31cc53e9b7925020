DROP TABLE failed_logins;
