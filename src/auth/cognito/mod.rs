//! Cognito user-pool tokens: the JWKS cache, the verifier, and the API guard.

pub mod error;
pub mod guard;
pub mod jwks;
pub mod provisioning;
pub mod verify;

pub use error::AuthError;
pub use guard::{Caller, CognitoUser, ServiceClient, require_cognito_user};
pub use jwks::JwksCache;
pub use verify::{Claims, Verifier};

use std::sync::Arc;

use crate::config::CognitoSettings;

/// Builds the verifier and starts refreshing its keys in the background. The first fetch happens
/// there too, so start-up never waits on (or fails because of) the JWKS.
pub fn start(settings: &CognitoSettings) -> Result<Arc<Verifier>, reqwest::Error> {
    let jwks = Arc::new(JwksCache::new(
        settings.jwks_url.clone(),
        settings.jwks_min_refetch,
    )?);
    jwks.spawn_refresher(settings.jwks_refresh);
    Ok(Arc::new(Verifier::new(settings.clone(), jwks)))
}
