//! `GET /api/docs`: the OpenAPI document as a readable page, served by us (no CDN, no script).

use askama::Template;
use serde_json::Value;

pub struct Param {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub description: String,
}

pub struct Reply {
    pub status: String,
    pub description: String,
    pub schema: String,
    /// The response headers documented for it (`ETag`, `Location`, `Retry-After`, …).
    pub headers: Vec<String>,
}

pub struct Operation {
    pub method: String,
    pub path: String,
    /// Anchor id, e.g. `get-api-v1-me`.
    pub anchor: String,
    pub summary: String,
    pub description: String,
    pub public: bool,
    pub params: Vec<Param>,
    pub body_schema: String,
    pub replies: Vec<Reply>,
}

pub struct Schema {
    pub name: String,
    pub json: String,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
pub struct ApiDocs {
    pub page_title: String,
    pub description: String,
    pub operations: Vec<Operation>,
    pub schemas: Vec<Schema>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// `#/components/schemas/ArticleOut` → `ArticleOut`; arrays and inline schemas described briefly.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    if schema["type"] == "array" {
        return format!("array of {}", schema_name(&schema["items"]));
    }
    schema["type"].as_str().unwrap_or("").to_owned()
}

fn content_schema(content: &Value) -> String {
    content["content"]
        .as_object()
        .and_then(|types| types.values().next())
        .map(|media| schema_name(&media["schema"]))
        .unwrap_or_default()
}

impl ApiDocs {
    /// Reads the generated document (built once at start, like the JSON).
    pub fn from_openapi(doc: &Value) -> Self {
        let mut operations = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, item) in paths {
                for method in ["get", "post", "put", "patch", "delete"] {
                    let op = &item[method];
                    if op.is_null() {
                        continue;
                    }
                    let params = op["parameters"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .map(|p| Param {
                                    name: text(&p["name"]),
                                    location: text(&p["in"]),
                                    required: p["required"].as_bool().unwrap_or(false),
                                    description: text(&p["description"]),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let replies = op["responses"]
                        .as_object()
                        .map(|rs| {
                            rs.iter()
                                .map(|(status, r)| Reply {
                                    status: status.clone(),
                                    description: text(&r["description"]),
                                    schema: content_schema(r),
                                    headers: r["headers"]
                                        .as_object()
                                        .map(|h| h.keys().cloned().collect())
                                        .unwrap_or_default(),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let anchor = format!("{method}{}", path.replace(['/', '{', '}'], "-"));
                    operations.push(Operation {
                        method: method.to_uppercase(),
                        path: path.clone(),
                        anchor,
                        summary: text(&op["summary"]),
                        description: text(&op["description"]),
                        public: op["security"].is_null(),
                        params,
                        body_schema: content_schema(&op["requestBody"]),
                        replies,
                    });
                }
            }
        }
        let schemas = doc["components"]["schemas"]
            .as_object()
            .map(|all| {
                all.iter()
                    .map(|(name, schema)| Schema {
                        name: name.clone(),
                        json: serde_json::to_string_pretty(schema).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        ApiDocs {
            page_title: "API".into(),
            description: text(&doc["info"]["description"]),
            operations,
            schemas,
        }
    }
}
