//! The API's own description: `schema/` serves the OpenAPI 3.1 document (`openapi/openapi.json`,
//! a checked data file: the HTTP suite validates every answer against it and a host test
//! compares its paths and methods with the route table), and `docs/` a self-contained page that
//! renders it for people.

use base64::Engine;
use sha2::{Digest, Sha256};
use worker::{Headers, Response};

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::config::Settings;
use crate::domain::profile::{FieldKind, UserField};
use crate::error::ApiError;
use crate::http::Ctx;

/// The OpenAPI 3.1 document, as served.
pub const DOCUMENT: &str = include_str!("../../openapi/openapi.json");

/// The docs page: HTML with one inline `<style>` and one inline `<script>`, nothing external.
pub const DOCS_PAGE: &str = include_str!("../../openapi/docs.html");

/// The media type of an OpenAPI document in JSON.
pub const DOCUMENT_MEDIA_TYPE: &str = "application/vnd.oai.openapi+json";

fn text_response(media: &str, body: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("Content-Type", media)
        .map_err(ApiError::internal)?;
    Ok(Response::ok(body)
        .map_err(ApiError::internal)?
        .with_headers(headers))
}

// GET /auth/schema/ (this service's own): 200 the OpenAPI document, public and cacheable
/// The document (with the operator's user fields, when USER_FIELDS declares any).
pub async fn document(ctx: &Ctx) -> Result<Response, ApiError> {
    static WITH_FIELDS: OnceLock<String> = OnceLock::new();
    let text = if ctx.settings.user_fields.is_empty() {
        DOCUMENT
    } else {
        WITH_FIELDS
            .get_or_init(|| document_for(ctx.settings))
            .as_str()
    };
    text_response(DOCUMENT_MEDIA_TYPE, text)
}

/// The schemas that show a user, and the error objects that name its fields.
const USER_SCHEMAS: [&str; 2] = ["User", "CreatedUser"];
const USER_ERRORS: [&str; 2] = ["RegisterErrors", "UpdateErrors"];
/// The paths whose request bodies take the user's fields.
const USER_BODIES: [&str; 3] = ["/auth/users/", "/auth/users/me/", "/auth/users/{id}/"];

/// The JSON Schema of a declared field's value.
fn field_schema(field: &UserField) -> Value {
    let nullable = |kind: &str| {
        if field.required {
            json!(kind)
        } else {
            json!([kind, "null"])
        }
    };
    match field.kind {
        FieldKind::Text { max_length } => json!({ "type": "string", "maxLength": max_length }),
        FieldKind::Integer => json!({ "type": nullable("integer") }),
        FieldKind::Boolean => json!({ "type": nullable("boolean") }),
    }
}

/// The document with `settings.user_fields` in the user schemas (shown on every user), their
/// field errors, and the request bodies that accept them; the embedded text when it fails to
/// parse (a host test keeps it parsing).
pub fn document_for(settings: &Settings) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(DOCUMENT) else {
        return DOCUMENT.to_string();
    };
    let fields = &settings.user_fields;
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        for name in USER_SCHEMAS {
            let Some(schema) = schemas.get_mut(name) else {
                continue;
            };
            for field in fields {
                if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                    props.insert(field.name.clone(), field_schema(field));
                }
                if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
                    required.push(json!(field.name));
                }
            }
        }
        for name in USER_ERRORS {
            if let Some(props) = schemas
                .get_mut(name)
                .and_then(|s| s.get_mut("properties"))
                .and_then(Value::as_object_mut)
            {
                for field in fields {
                    props.insert(
                        field.name.clone(),
                        json!({ "$ref": "#/components/schemas/Messages" }),
                    );
                }
            }
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for path in USER_BODIES {
            let Some(item) = paths.get_mut(path).and_then(Value::as_object_mut) else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(content) = operation
                    .pointer_mut("/requestBody/content")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for media in content.values_mut() {
                    if let Some(props) = media
                        .pointer_mut("/schema/properties")
                        .and_then(Value::as_object_mut)
                    {
                        for field in fields {
                            props.insert(field.name.clone(), field_schema(field));
                        }
                    }
                }
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| DOCUMENT.to_string())
}

// GET /auth/docs/ (this service's own): 200 text/html with its own CSP
/// The docs page, with a Content-Security-Policy that runs only its own inline script and style.
pub async fn docs(_ctx: &Ctx) -> Result<Response, ApiError> {
    let response = text_response("text/html; charset=utf-8", DOCS_PAGE)?;
    response
        .headers()
        .set("Content-Security-Policy", &docs_csp())
        .map_err(ApiError::internal)?;
    Ok(response)
}

/// The text between the first `<{tag}>` and its closing tag.
fn inline_block<'a>(page: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    page.split_once(open.as_str())
        .and_then(|(_, rest)| rest.split_once(close.as_str()))
        .map_or("", |(inside, _)| inside)
}

fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The docs page's policy: its one inline script and style by hash, fetches to this origin only
/// (the document), nothing else; no framing, no forms, no base URL.
pub fn docs_csp() -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sha256_source(inline_block(DOCS_PAGE, "script")),
        sha256_source(inline_block(DOCS_PAGE, "style")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::ROUTES;
    use std::collections::BTreeSet;

    #[test]
    fn declared_user_fields_join_the_user_schemas_their_errors_and_the_bodies() {
        let vars = [
            (
                "USER_EXTRA_FIELDS",
                r#"{"age":"integer","phone":"string:20"}"#,
            ),
            ("USER_FIELDS", "first_name,age,phone"),
            ("REQUIRED_FIELDS", "age"),
        ];
        let settings = Settings::from_lookup(|key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        let doc: Value = serde_json::from_str(&document_for(&settings)).unwrap();
        let user = &doc["components"]["schemas"]["User"];
        assert_eq!(user["properties"]["age"], json!({ "type": "integer" }));
        assert_eq!(
            user["properties"]["phone"],
            json!({ "type": "string", "maxLength": 20 })
        );
        assert_eq!(user["properties"]["first_name"]["type"], "string");
        let required: Vec<&str> = user["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(required.contains(&"phone") && required.contains(&"age"));
        assert_eq!(user["additionalProperties"], false);
        let errors = &doc["components"]["schemas"]["RegisterErrors"]["properties"];
        assert_eq!(errors["age"]["$ref"], "#/components/schemas/Messages");
        let body = &doc["paths"]["/auth/users/"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["properties"];
        assert_eq!(body["phone"]["maxLength"], 20);
        // Without declared fields the embedded document is served as it is.
        let plain = Settings::from_lookup(|_| None).unwrap();
        assert!(plain.user_fields.is_empty());
    }

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// The document's paths in the route table's notation, each with its methods.
    fn document_routes() -> BTreeSet<String> {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let mut table = match path.strip_prefix("/auth/") {
                Some(rest) => rest.trim_end_matches('/').to_string(),
                None => path.clone(),
            };
            if item["x-prefix-match"] == Value::Bool(true) {
                table.push_str("/*");
            }
            for method in METHODS {
                if item.get(method).is_some() {
                    out.insert(format!("{} {table}", method.to_uppercase()));
                }
            }
        }
        out
    }

    /// Every path of the route table (aliases included) with every method it answers.
    fn table_routes() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for route in ROUTES {
            for path in route.paths {
                for method in route.allow().split(", ") {
                    out.insert(format!("{method} {path}"));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_lists_exactly_the_route_tables_paths_and_methods() {
        let doc = document_routes();
        let table = table_routes();
        let missing: Vec<_> = table.difference(&doc).collect();
        let extra: Vec<_> = doc.difference(&table).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "not in the document: {missing:?}; not in the route table: {extra:?}"
        );
        assert!(table.contains("POST users/confirm"), "aliases are compared");
        assert!(table.contains("GET /.well-known/jwks.json"));
    }

    #[test]
    fn the_docs_page_runs_only_its_hashed_inline_code_and_loads_nothing() {
        let script = inline_block(DOCS_PAGE, "script");
        let style = inline_block(DOCS_PAGE, "style");
        assert!(script.len() > 500 && style.len() > 100);
        assert_eq!(DOCS_PAGE.matches("<script").count(), 1);
        assert_eq!(DOCS_PAGE.matches("<style").count(), 1);
        for external in ["http://", "https://", " src=", " href=", "@import", "url("] {
            assert!(!DOCS_PAGE.contains(external), "{external}");
        }
        let csp = docs_csp();
        assert!(csp.contains(&sha256_source(script)));
        assert!(csp.contains(&sha256_source(style)));
        assert!(!csp.contains("unsafe"));
        assert_ne!(sha256_source(script), sha256_source(&format!("{script} ")));
    }
}
