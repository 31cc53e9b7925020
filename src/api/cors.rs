//! CORS, so that a single-page app on another origin can call the API (`CORS_ALLOWED_ORIGINS`).
//!
//! actix-cors does the protocol: preflights are answered here, before the token guard (a browser
//! never sends credentials on a preflight), and listed origins get `Access-Control-Allow-Origin`
//! with credentials allowed. Around it, [`outcome`] keeps two promises actix-cors does not:
//! nothing CORS-specific is sent to an origin that is not listed (actix-cors adds its exposed
//! headers and `Allow-Credentials` to every answer), and a refused preflight is an API error like
//! any other, in JSON with a stable code.

use actix_cors::{Cors, CorsError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;

use crate::error::{ApiError, ErrorCode};

/// How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
const PREFLIGHT_MAX_AGE_SECONDS: usize = 600;

/// The CORS layer for `origins` (exact origins; none means no cross-origin access).
pub fn layer(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("x-csrf"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
        ])
        .supports_credentials()
        .max_age(PREFLIGHT_MAX_AGE_SECONDS);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Wraps [`layer`]: refused preflights become JSON errors, and answers to origins that are not
/// listed (or to requests without `Origin`) carry no CORS headers besides `Vary`.
pub async fn outcome(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let refusal = res
        .response()
        .error()
        .and_then(|e| e.as_error::<CorsError>())
        .map(|e| {
            let status = match e {
                CorsError::OriginNotAllowed
                | CorsError::MethodNotAllowed
                | CorsError::HeadersNotAllowed => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(
                status,
                ErrorCode::CorsRejected,
                format!("Cross-origin request refused: {e}."),
            )
        });
    if let Some(error) = refusal {
        let (req, _) = res.into_parts();
        let mut response = actix_web::ResponseError::error_response(&error);
        // The refusal depends on these as much as an acceptance does.
        response.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        return Ok(ServiceResponse::new(req, response).map_into_right_body());
    }
    let headers = res.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    }
    Ok(res.map_into_left_body())
}
