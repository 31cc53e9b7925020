//! What every handler shares: the database pool and the settings, built once at start.
//!
//! The Cognito token verifier is registered beside it as its own `web::Data<Verifier>` (when a
//! user pool is configured), so this module stays below `auth` and every layer may use it.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::Pool;

/// Everything handlers share, built once (never inside the per-worker factory).
pub struct AppState {
    pub pool: Pool,
    pub settings: Arc<Settings>,
}
