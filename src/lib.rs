//! Gatehouse: a staff back office and a Cognito-guarded JSON API over one PostgreSQL database.

/// The release, shown in page footers and `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod admin;
pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
/// Entry points for `fuzz/` (which turns the `fuzzing` feature on) and the seed replay unit tests;
/// never in a plain or release build.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod models;
pub mod portal;
pub mod routes;
pub mod schema;
pub mod seed;
pub mod startup;
pub mod state;
pub mod telemetry;
