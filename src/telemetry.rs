//! Logging setup, the per-request id and span, and the access log.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The access log (one line per request, target `gatehouse::access`) is off by default, as in
/// gunicorn: at thousands of requests per second it would cost more than the request itself.
/// Failed and slow requests are still logged. `RUST_LOG=info` turns it on.
const DEFAULT_FILTER: &str = "info,gatehouse::access=warn";
/// Requests slower than this are logged at warn, so they show in the default log.
const SLOW_REQUEST: Duration = Duration::from_secs(1);
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global subscriber, writing to stderr (stdout stays clean for CLI output).
/// `RUST_LOG` overrides the default filter. Safe to call more than once.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

tokio::task_local! {
    static CURRENT_REQUEST_ID: uuid::Uuid;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<uuid::Uuid> {
    CURRENT_REQUEST_ID.try_with(|id| *id).ok()
}

/// The outermost middleware: gives the request an id (UUIDv7, visible to error bodies and
/// returned in `X-Request-Id` so a client report can be matched to the logs), runs it inside a
/// span carrying that id, and writes the access log line.
pub async fn request_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = uuid::Uuid::now_v7();
    let span = tracing::info_span!("request", request_id = %id);
    // Probes hit every few seconds; keep them out of the access log unless they fail.
    let probe = matches!(req.path(), "/healthz" | "/readyz");
    // Inner middleware answers refusals as responses (see the API guard), so they too get the id
    // header and a log line; an `Err` here is actix's own and leaves through its error path.
    let mut response = CURRENT_REQUEST_ID
        .scope(id, next.call(req))
        .instrument(span.clone())
        .await?;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let _entered = span.enter();
    let (method, path) = (response.request().method(), response.request().path());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 || elapsed >= SLOW_REQUEST {
        tracing::warn!(target: "gatehouse::access", %method, path, status, latency_ms, "request completed");
    } else if probe {
        tracing::debug!(target: "gatehouse::access", %method, path, status, latency_ms, "request completed");
    } else {
        tracing::info!(target: "gatehouse::access", %method, path, status, latency_ms, "request completed");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use actix_web::body::to_bytes;

    use super::*;
    use crate::error::ApiError;

    #[actix_web::test]
    async fn server_faults_answer_generically_with_the_request_id() {
        let id = uuid::Uuid::now_v7();

        let response = CURRENT_REQUEST_ID
            .scope(id, async {
                ApiError::internal("connection pool poisoned: secret detail").error_response()
            })
            .await;

        assert_eq!(response.status(), 500);
        let body = to_bytes(response.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert_eq!(body["error"]["request_id"], id.to_string());
        assert!(!body.to_string().contains("secret detail"));
    }

    #[actix_web::test]
    async fn client_errors_carry_no_request_id() {
        let response = CURRENT_REQUEST_ID
            .scope(uuid::Uuid::now_v7(), async {
                ApiError::not_found().error_response()
            })
            .await;
        let body = to_bytes(response.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(body["error"].get("request_id").is_none());
    }
}
