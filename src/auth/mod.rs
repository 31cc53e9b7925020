//! Authentication: staff passwords (Argon2id), staff sessions and throttling, CSRF for the back
//! office; Cognito tokens join later.

pub mod csrf;
pub mod password;
pub mod staff;
