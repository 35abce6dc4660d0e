//! Small HTTP translations shared by every handler: JSON bodies in and out, headers.

use serde::Serialize;
use serde_json::Value;
use worker::{Request, Response};

use crate::error::ApiError;

/// Largest request body accepted, in bytes; larger ones answer 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON response with `status`. Serialising a `serde_json::Value` or a plain struct cannot
/// fail, so this returns a `Response` rather than a `Result`.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::from_bytes(bytes)
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(status);
    set_header(&mut response, "Content-Type", "application/json");
    response
}

/// 204 No Content.
pub fn no_content() -> Response {
    Response::empty()
        .expect("an empty response")
        .with_status(204)
}

/// A 302/303 to `location` with the given `Set-Cookie` headers.
pub fn redirect(status: u16, location: &str, cookies: &[String]) -> Result<Response, ApiError> {
    let mut response = Response::empty()?.with_status(status);
    set_header(&mut response, "Location", location);
    for cookie in cookies {
        response.headers_mut().append("Set-Cookie", cookie)?;
    }
    Ok(response)
}

/// Sets a header on a response we built (its headers are mutable, so this cannot fail for
/// valid ASCII names and values, which are all this Worker writes).
pub fn set_header(response: &mut Response, name: &str, value: &str) {
    if let Err(e) = response.headers_mut().set(name, value) {
        worker::console_error!("could not set header {name}: {e}");
    }
}

/// A request header, or `None` when absent.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The first value of query parameter `name`.
pub fn query_param(url: &worker::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Reads a JSON body: `application/json`, at most [`MAX_BODY_BYTES`], well-formed.
pub async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let declared_len = header(req, "Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    let is_json = header(req, "Content-Type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = req.bytes().await?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::InvalidJson(format!(
            "the body is not valid JSON ({}); send an object like {{\"name\": \"CI\"}}",
            e
        ))
    })
}

/// Whether the body is an HTML form (`application/x-www-form-urlencoded`).
pub fn is_form(req: &Request) -> bool {
    header(req, "Content-Type").is_some_and(|ct| {
        ct.split(';').next().is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    })
}

/// A field of a URL-encoded form body, read from a clone so the handler can still read the
/// body; at most [`MAX_BODY_BYTES`].
pub async fn form_field(req: &Request, name: &str) -> Result<Option<String>, ApiError> {
    let declared_len = header(req, "Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = req.clone()?.bytes().await?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned()))
}

/// A URL-encoded form body, parsed; the first value of a repeated field wins.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Reads an HTML form body: `application/x-www-form-urlencoded` (else 415), at most
/// [`MAX_BODY_BYTES`] (else 413).
pub async fn read_form(req: &mut Request) -> Result<Form, ApiError> {
    let declared_len = header(req, "Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    if !is_form(req) {
        return Err(ApiError::Refused {
            status: 415,
            code: "unsupported_media_type",
            message: "send the form with `Content-Type: application/x-www-form-urlencoded`"
                .to_owned(),
        });
    }
    let bytes = req.bytes().await?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(Form(
        url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
}
