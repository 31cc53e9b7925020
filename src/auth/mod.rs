//! Authentication: Cognito bearer tokens for the API; web sessions of app users signed in
//! through Cognito's managed login; staff passwords (Argon2id), sessions,
//! throttling and CSRF for the back office.

pub mod accounts;
pub mod client_ip;
pub mod cognito;
pub mod csrf;
pub mod outbound;
pub mod password;
pub mod sign_out;
pub mod staff;
pub mod web;
