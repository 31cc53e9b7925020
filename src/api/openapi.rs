//! The OpenAPI documents of the API, built once from the routes the router registers (passed
//! in, so this module does not import the router that mounts its pages), and the route table the
//! router's fallback answers 405s from.
//!
//! Two documents, so that a client generated for an app holds only what an app calls:
//! `/api/openapi.json` (the app API, behind Cognito tokens) and `/api/hooks/openapi.json` (the
//! server-to-server hook a Cognito trigger calls). `/api/docs` shows both as one page.

use std::collections::BTreeSet;

use actix_web::http::Method;
use actix_web::http::header;
use actix_web::{App, HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use utoipa_actix_web::service_config::ServiceConfig;

use super::docs;
use crate::error::ErrorBody;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An Amazon Cognito user-pool access token (or id token, per \
                         COGNITO_TOKEN_USE). Pages of the site itself may instead send the web \
                         session cookie with the header X-CSRF: 1 (see the README).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse API",
        description = "JSON API for app users authenticated by an Amazon Cognito user pool. \
                       Errors are `{\"error\": {\"code\", \"message\", \"fields\"?, \"request_id\"?}}`; \
                       timestamps are RFC 3339 UTC; ids are UUIDs. Writes to an article take \
                       `If-Match` with the `ETag` read, and answer 412 when it is stale."
    ),
    servers((url = "/", description = "This server: paths start with /api/v1")),
    tags(
        (name = "me", description = "The signed-in user's own account"),
        (name = "articles", description = "Articles: anyone signed in reads, the author or an editor changes"),
        (name = "hooks", description = "Server to server: called by a Cognito trigger, not by apps"),
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The OpenAPI 3 document of the routes `config` registers.
pub fn document(config: fn(&mut ServiceConfig)) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = crate::VERSION.to_owned();
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(doc)
        .configure(config)
        .split_for_parts();
    document_common_errors(&mut doc);
    doc
}

/// Adds the error answers every operation of a kind can give, where its handler did not document
/// them itself: a client (and schemathesis) can then rely on "every status is documented".
///
/// - any operation: `500 internal_error`, `503 database_unavailable` (or the JWKS/Cognito ones);
/// - behind the token guard: `400 invalid_request` (a malformed `Authorization` header), `401`
///   (the token codes), `403` (`user_inactive`, `user_not_provisioned`; a handler documents its
///   own 403s, such as `user_required`);
/// - with a JSON body: `400 malformed_json`/`malformed_body`, `413 payload_too_large`,
///   `415 unsupported_media_type` (not the hook, which takes any type), `422 validation_error`;
/// - with path parameters: `404 not_found`; with query parameters: `422 validation_error`.
///
/// And the headers such answers carry: `Retry-After` on 503, `WWW-Authenticate` on the guard's
/// 401, `X-Request-Id` on every answer.
fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use std::collections::btree_map::Entry;
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{Operation, ParameterIn};
    use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, ResponseBuilder, Type};

    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    // A status the handler documented already keeps its text, and gains the other causes.
    let add = |op: &mut Operation, status: &str, description: &str| match op
        .responses
        .responses
        .entry(status.to_owned())
    {
        Entry::Vacant(entry) => {
            entry.insert(error(description));
        }
        Entry::Occupied(mut entry) => {
            if let RefOr::T(response) = entry.get_mut() {
                let code = description.split([':', ',', ' ']).next().unwrap_or("");
                if !response.description.contains(code) {
                    response.description = format!("{}; {description}", response.description);
                }
            }
        }
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let is_hook = path.starts_with(HOOKS_PREFIX);
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let has = |place: ParameterIn| {
                op.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == place,
                    RefOr::Ref(_) => false,
                })
            };
            let (path_params, query_params) = (has(ParameterIn::Path), has(ParameterIn::Query));
            let guarded = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let body = op.request_body.is_some();
            if guarded {
                add(
                    op,
                    "400",
                    "invalid_request: a malformed Authorization header",
                );
                add(
                    op,
                    "401",
                    "No valid token, or no live web session (see the error codes)",
                );
                add(
                    op,
                    "403",
                    "user_inactive or user_not_provisioned: the account is deactivated, or \
                     not created here; csrf_required or origin_not_allowed: a request with the \
                     web session cookie lacks X-CSRF: 1, or comes from another origin",
                );
            }
            if body {
                add(op, "400", "malformed_json or malformed_body");
                add(op, "413", "payload_too_large");
                if !is_hook {
                    add(
                        op,
                        "415",
                        "unsupported_media_type: send Content-Type: application/json",
                    );
                }
                add(op, "422", "validation_error");
            }
            if path_params {
                add(op, "404", "not_found (also for an id that is not a UUID)");
            }
            if query_params {
                add(
                    op,
                    "422",
                    "validation_error: a query parameter is out of range",
                );
            }
            add(
                op,
                "500",
                "internal_error: a server fault; quote `request_id`",
            );
            add(
                op,
                "503",
                "database_unavailable, jwks_unavailable, cognito_not_configured, or \
                 auth_server_unavailable (a web session's refresh found Cognito down)",
            );
            let statuses: Vec<String> = op.responses.responses.keys().cloned().collect();
            let mut header = |status: &str, name: &str, description: &str| {
                if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) {
                    response.headers.entry(name.to_owned()).or_insert_with(|| {
                        RefOr::T(
                            HeaderBuilder::new()
                                .schema(Some(Object::with_type(Type::String)))
                                .description(Some(description))
                                .build(),
                        )
                    });
                }
            };
            header(
                "503",
                "Retry-After",
                "Seconds to wait before trying again (database_unavailable, jwks_unavailable)",
            );
            if guarded {
                header(
                    "401",
                    "WWW-Authenticate",
                    "The RFC 6750 Bearer challenge, with the error and its description",
                );
            }
            for status in statuses {
                header(
                    &status,
                    "X-Request-Id",
                    "This request's id (a UUID), as the logs know it: quote it when reporting a \
                     problem",
                );
            }
        }
    }
}

/// Paths of the server-to-server hooks (their own document, kept out of app SDKs).
pub const HOOKS_PREFIX: &str = "/api/v1/hooks/";

/// The documents, the route table for 405s, all computed once at start.
pub struct ApiSpec {
    /// The app API (`/api/openapi.json`).
    pub json: String,
    /// The hooks (`/api/hooks/openapi.json`).
    pub hooks_json: String,
    /// Both as a page (`/api/docs`), rendered once.
    pub html: String,
    routes: Vec<(Vec<String>, Vec<Method>)>,
}

impl ApiSpec {
    pub fn build(config: fn(&mut ServiceConfig)) -> Self {
        let doc = document(config);
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                let methods = [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                ]
                .into_iter()
                .filter(|(op, _)| op.is_some())
                .map(|(_, m)| m)
                .collect();
                (segments, methods)
            })
            .collect();
        let mut value = serde_json::to_value(&doc).unwrap_or_default();
        mark_required_headers(&mut value);
        let html = askama::Template::render(&docs::ApiDocs::from_openapi(&value))
            .unwrap_or_else(|e| format!("the API documentation failed to render: {e}"));
        let app = subset(&value, |path| !path.starts_with(HOOKS_PREFIX));
        let mut hooks = subset(&value, |path| path.starts_with(HOOKS_PREFIX));
        hooks["info"]["title"] = "Gatehouse hooks".into();
        hooks["info"]["description"] = "Server-to-server endpoints that Amazon Cognito's Lambda \
            triggers call, signed with COGNITO_HOOK_SECRET. Not for app clients: their document \
            is /api/openapi.json."
            .into();
        let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
        ApiSpec {
            json: json(&app),
            hooks_json: json(&hooks),
            html,
            routes,
        }
    }

    /// The methods a path supports, if it is an API path at all.
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes.iter().find_map(|(segments, methods)| {
            let matches = segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| (s.starts_with('{') && !p.is_empty()) || s == p);
            matches.then_some(methods.as_slice())
        })
    }
}

/// `GET /api/openapi.json` (public).
pub async fn openapi_json(spec: web::Data<ApiSpec>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(spec.json.clone())
}

/// `GET /api/hooks/openapi.json` (public): the hooks' document.
pub async fn hooks_openapi_json(spec: web::Data<ApiSpec>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(spec.hooks_json.clone())
}

/// Response headers the server always sends where they are documented (utoipa's header type has
/// no `required`): generated clients can then type them as present.
const ALWAYS_SENT: [&str; 4] = ["ETag", "Location", "WWW-Authenticate", "X-Request-Id"];

fn mark_required_headers(doc: &mut serde_json::Value) {
    let operations = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        // `get_mut`, not indexing: indexing a missing key inserts a null.
        let responses = op
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|r| r.values_mut());
        for response in responses {
            if let Some(headers) = response
                .get_mut("headers")
                .and_then(serde_json::Value::as_object_mut)
            {
                for (name, header) in headers.iter_mut() {
                    if ALWAYS_SENT.contains(&name.as_str()) {
                        header["required"] = true.into();
                    }
                }
            }
        }
    }
}

/// The part of `doc` whose paths `keep` accepts, with only the schemas, security schemes and tags
/// those paths use.
fn subset(doc: &serde_json::Value, keep: impl Fn(&str) -> bool) -> serde_json::Value {
    use serde_json::Value;

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => {
                            if let Some(name) = r.strip_prefix("#/components/schemas/") {
                                out.push(name.to_owned());
                            }
                        }
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    let mut out = doc.clone();
    if let Some(paths) = out.get_mut("paths").and_then(Value::as_object_mut) {
        paths.retain(|path, _| keep(path));
    }
    let mut pending = Vec::new();
    refs(&out["paths"], &mut pending);
    let mut used = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if used.insert(name.clone()) {
            refs(&doc["components"]["schemas"][&name], &mut pending);
        }
    }
    let operations: Vec<&Value> = out["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .collect();
    let schemes: BTreeSet<String> = operations
        .iter()
        .filter_map(|op| op["security"].as_array())
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys().cloned())
        .collect();
    let tags: BTreeSet<String> = operations
        .iter()
        .filter_map(|op| op["tags"].as_array())
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if let Some(components) = out.get_mut("components").and_then(Value::as_object_mut) {
        if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
            schemas.retain(|name, _| used.contains(name));
        }
        if let Some(found) = components
            .get_mut("securitySchemes")
            .and_then(Value::as_object_mut)
        {
            found.retain(|name, _| schemes.contains(name));
        }
        components.retain(|_, v| v.as_object().is_none_or(|o| !o.is_empty()));
    }
    if let Some(list) = out.get_mut("tags").and_then(Value::as_array_mut) {
        list.retain(|t| t["name"].as_str().is_some_and(|n| tags.contains(n)));
    }
    out
}

/// `GET /api/docs` (public): the documents as a page.
pub async fn docs_html(spec: web::Data<ApiSpec>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(spec.html.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_hold_no_null() {
        // A null where the schema wants an object is what indexing a `Value` mutably leaves.
        fn nulls(value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Null => found.push(at.to_owned()),
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        nulls(v, &format!("{at}/{k}"), found);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        nulls(v, &format!("{at}/{i}"), found);
                    }
                }
                _ => {}
            }
        }
        let spec = ApiSpec::build(crate::api::config);
        for json in [&spec.json, &spec.hooks_json] {
            let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
            let mut found = Vec::new();
            nulls(&value, "", &mut found);
            assert!(found.is_empty(), "{found:?}");
        }
    }

    #[test]
    fn route_table_matches_templates() {
        let spec = ApiSpec::build(crate::api::config);
        let id = "0191d2c4-0000-7000-8000-000000000000";
        assert_eq!(
            spec.allowed("/api/v1/articles"),
            Some([Method::GET, Method::POST].as_slice())
        );
        assert_eq!(
            spec.allowed(&format!("/api/v1/articles/{id}")),
            Some([Method::GET, Method::PATCH, Method::DELETE].as_slice())
        );
        assert_eq!(spec.allowed("/api/v1/nothing"), None);
        assert_eq!(spec.allowed("/api/v1/articles/x/y"), None);
    }
}
