//! `GET /openapi.json`: the OpenAPI 3.1 description of every endpoint (the repository's
//! `openapi.json`, compiled in), answered before authentication like `/healthz`.

use worker::Response;

use crate::http;

/// The document, byte for byte as in the repository.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// The document as `application/json`.
pub fn openapi() -> Response {
    let mut response = Response::ok(OPENAPI_JSON)
        .unwrap_or_else(|_| Response::empty().expect("an empty response"));
    http::set_header(&mut response, "Content-Type", "application/json");
    response
}
