//! Authentication: Cognito bearer tokens for the API, Argon2id passwords for staff.

pub mod cognito;
pub mod password;
