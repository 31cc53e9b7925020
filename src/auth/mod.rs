//! Authentication: Cognito bearer tokens for the API; staff passwords (Argon2id), sessions,
//! throttling and CSRF for the back office.

pub mod accounts;
pub mod client_ip;
pub mod cognito;
pub mod csrf;
pub mod password;
pub mod staff;
