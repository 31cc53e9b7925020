//! Strict JSON input: a body is read with a size limit, must be JSON, must be an object, and
//! every field is checked by name, so a client learns about all its mistakes at once:
//! `{"error": {"code": "validation_error", "fields": {"name": ["…"]}}}`.

use std::collections::BTreeMap;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// Ids in paths are UUIDs; anything else names nothing (404, never a 500).
pub fn parse_id(raw: &str) -> Option<Uuid> {
    Uuid::try_parse(raw).ok()
}

/// Largest request body the API reads (an article body is at most `MAX_BODY_CHARS`).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let mut payload = payload.take();
        Box::pin(async move {
            let is_json = content_type
                .as_deref()
                .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::UnsupportedMediaType,
                    "Send the body as JSON with Content-Type: application/json.",
                ));
            }
            let body = read_body(&mut payload, MAX_REQUEST_BYTES).await?;
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => Ok(JsonObject(map)),
                Ok(_) => Err(FieldErrors::non_field("Expected a JSON object.").into_error()),
                Err(e) => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MalformedJson,
                    format!(
                        "The body is not valid JSON: {} (line {}, column {}).",
                        describe_json_error(&e),
                        e.line(),
                        e.column()
                    ),
                )),
            }
        })
    }
}

/// Reads a request body, refusing (413, JSON) as soon as it exceeds `limit`.
pub async fn read_body(payload: &mut Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedBody,
                e.to_string(),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("The body is larger than {limit} bytes."),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A raw body of at most 64 KiB (signed webhook payloads are checked byte for byte).
pub struct SmallBody(pub Vec<u8>);

pub const MAX_SMALL_BODY_BYTES: usize = 64 * 1024;

impl FromRequest for SmallBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        Box::pin(async move {
            Ok(SmallBody(
                read_body(&mut payload, MAX_SMALL_BODY_BYTES).await?,
            ))
        })
    }
}

fn describe_json_error(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; we report those separately.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Collects messages per field; empty means the input is acceptable.
#[derive(Default, Debug)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn non_field(message: &str) -> Self {
        let mut errors = Self::default();
        errors.add("non_field_errors", message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_error(self) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationError,
            "The request has invalid fields; see `fields`.",
        );
        error.fields = Some(self.0);
        error
    }

    /// `Err` with every collected message, or `Ok(value)` when there were none.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self.into_error())
        }
    }
}

/// Reads an object's fields against a declared list: writable fields are taken, read-only ones
/// and unknown ones are reported.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>, writable: &[&str], read_only: &[&str]) -> Self {
        let mut errors = FieldErrors::default();
        for key in map.keys() {
            if read_only.contains(&key.as_str()) {
                errors.add(key, "This field is read-only.");
            } else if !writable.contains(&key.as_str()) {
                errors.add(key, "Unknown field.");
            }
        }
        Fields { map, errors }
    }

    /// A string field, trimmed when `trim`; `None` when absent. `null` is refused: these fields
    /// are not nullable.
    pub fn string(&mut self, name: &str, trim: bool, min: usize, max: usize) -> Option<String> {
        let value = self.map.get(name)?;
        let Some(text) = value.as_str() else {
            self.errors
                .add(name, format!("Expected a string, got {}.", kind(value)));
            return None;
        };
        let text = if trim { text.trim() } else { text };
        let len = text.chars().count();
        if len < min {
            self.errors.add(
                name,
                if min == 1 {
                    "This field may not be blank.".to_owned()
                } else {
                    format!("Ensure this field has at least {min} characters.")
                },
            );
            return None;
        }
        if len > max {
            self.errors.add(
                name,
                format!("Ensure this field has no more than {max} characters (it has {len})."),
            );
            return None;
        }
        if text.chars().any(|c| c == '\0') {
            self.errors.add(name, "NUL characters are not allowed.");
            return None;
        }
        Some(text.to_owned())
    }

    pub fn require(&mut self, name: &str) {
        if !self.map.contains_key(name) {
            self.errors.add(name, "This field is required.");
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_report_every_problem() {
        let map = serde_json::json!({"name": 5, "email": "x", "bogus": true, "body": "  ok  "});
        let map = map.as_object().unwrap();
        let mut f = Fields::new(map, &["name", "body"], &["email"]);
        assert_eq!(f.string("name", true, 1, 50), None);
        assert_eq!(f.string("body", true, 0, 10).as_deref(), Some("ok"));
        f.require("title");
        let e = format!("{:?}", f.errors);
        for expected in [
            "read-only",
            "Unknown field",
            "Expected a string, got a number",
            "required",
        ] {
            assert!(e.contains(expected), "{e}");
        }
    }
}
