//! The HTTP client for calls to Cognito (the JWKS, the managed-login endpoints): every one has
//! timeouts and follows no redirect.

use std::time::Duration;

pub fn client(connect_timeout: Duration, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Calls come from any worker's runtime: no idle connection may belong to another one.
        .pool_max_idle_per_host(0)
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
}
