//! Authentication: staff passwords (Argon2id) here; Cognito tokens and sessions join later.

pub mod password;
