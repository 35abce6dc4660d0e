//! `GET /openapi.json`: the OpenAPI 3.1 description of every endpoint (the repository's
//! `openapi.json`, compiled in), answered before authentication like `/healthz`.

use worker::Response;

use crate::http;

/// The document, byte for byte as in the repository.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// The document as `application/json`.
pub fn openapi() -> Response {
    http::fixed(200, OPENAPI_JSON.as_bytes().to_vec(), "application/json")
}
