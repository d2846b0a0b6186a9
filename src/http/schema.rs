//! The API's own description: `schema/` serves the OpenAPI 3.1 document (`openapi/openapi.json`,
//! a checked data file: the HTTP suite validates every answer against it and a host test
//! compares its paths and methods with the route table), and `docs/` a self-contained page that
//! renders it for people.

use base64::Engine;
use sha2::{Digest, Sha256};
use worker::{Headers, Response};

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
/// The document.
pub async fn document(_ctx: &Ctx) -> Result<Response, ApiError> {
    text_response(DOCUMENT_MEDIA_TYPE, DOCUMENT)
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
    use serde_json::Value;
    use std::collections::BTreeSet;

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
