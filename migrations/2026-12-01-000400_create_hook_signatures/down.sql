DROP TABLE hook_signatures;
