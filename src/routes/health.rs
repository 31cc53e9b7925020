use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::auth::cognito::Verifier;
use crate::state::AppState;

/// How long `/readyz` waits for the database before calling it unavailable.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up and serving. Touches nothing else, so a database outage never
/// gets the process restarted.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok", "version": crate::VERSION}))
}

/// Readiness: everything a request needs is reachable. 503 naming the failing check otherwise;
/// the cause (database error text, JWKS fetch error) goes to the log only, since this endpoint is
/// often reachable by more than the orchestrator.
pub async fn readyz(
    state: web::Data<AppState>,
    verifier: Option<web::Data<Verifier>>,
) -> HttpResponse {
    let mut ready = true;
    let database = match crate::db::ping(&state.pool, READY_DB_TIMEOUT).await {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            ready = false;
            json!({"status": "error"})
        }
    };
    let mut checks = json!({"database": database});
    if let Some(verifier) = &verifier {
        let status = verifier.jwks().status();
        checks["jwks"] = if status.loaded {
            json!({"status": "ok", "keys": status.keys})
        } else {
            tracing::warn!(
                error = status
                    .last_error
                    .as_deref()
                    .unwrap_or("signing keys not loaded yet"),
                "readiness: JWKS check failed"
            );
            ready = false;
            json!({"status": "error"})
        };
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks,
    });
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
