//! The one bounded body reader: request bodies (JSON, HTML forms, OAuth parameters) and the
//! identity provider's answers are read as a stream and refused as soon as they pass their
//! limit, whether or not a `Content-Length` was sent, so a large or endless body never sits
//! whole in the isolate's memory.

use futures_util::StreamExt;
use serde_json::Value;
use worker::{ByteStream, Request};

use super::header;

/// Largest request body accepted, in bytes; larger ones answer 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Why a body was refused.
#[derive(Debug)]
pub enum BodyError {
    /// Over the limit (in bytes).
    TooLarge(usize),
    /// Not of a media type the endpoint takes; says what to send.
    UnsupportedMediaType(&'static str),
    /// Declared JSON that does not parse; says why.
    InvalidJson(String),
    /// The stream failed (the client went away, a runtime error): not the client's mistake.
    Unreadable(String),
}

const SEND_JSON: &str = "send the body as JSON with `Content-Type: application/json`";
const SEND_FORM: &str = "send the form with `Content-Type: application/x-www-form-urlencoded`";
const SEND_OAUTH: &str =
    "send the parameters as `application/x-www-form-urlencoded` (RFC 6749) or `application/json`";

/// Reads at most `limit` bytes of `stream`, refusing at once a `declared` length over it.
pub async fn read_bounded(
    declared: Option<u64>,
    stream: Option<ByteStream>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let Some(mut stream) = stream else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            drain(&mut stream, body.len() + chunk.len()).await;
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Most bytes of a refused body read (and thrown away) before answering.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Reads and discards what is left of a refused body, up to [`DRAIN_LIMIT`] in all, so that a
/// client that sent a little too much gets its answer on a connection in a clean state (the
/// local runtime, seeing a request answered with its body half read, may fail other requests
/// in flight). Memory stays flat: nothing is kept. A larger body is abandoned unread.
async fn drain(stream: &mut ByteStream, mut seen: usize) {
    while seen <= DRAIN_LIMIT {
        match stream.next().await {
            Some(Ok(chunk)) => seen += chunk.len(),
            _ => return,
        }
    }
}

/// The request's body, at most [`MAX_BODY_BYTES`].
async fn bytes(req: &mut Request) -> Result<Vec<u8>, BodyError> {
    let declared = header(req, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    // Refused before the body's stream is taken: under workerd, a request body whose stream
    // was taken and then dropped unread left the isolate unable to answer the next request
    // (503 "worker restarted mid-request", or a hang), measured on the OAuth endpoints.
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge(MAX_BODY_BYTES));
    }
    let stream = match req.inner().body() {
        None => None,
        Some(_) => Some(
            req.stream()
                .map_err(|e| BodyError::Unreadable(e.to_string()))?,
        ),
    };
    read_bounded(declared, stream, MAX_BODY_BYTES).await
}

/// The media type of the body (`application/json`), lower case, without parameters.
fn media_type(req: &Request) -> String {
    header(req, "Content-Type")
        .and_then(|ct| ct.split(';').next().map(|m| m.trim().to_ascii_lowercase()))
        .unwrap_or_default()
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Whether the body is an HTML form.
pub fn is_form(req: &Request) -> bool {
    media_type(req) == FORM
}

/// Parses JSON; `hint` follows the parser's complaint in the message.
fn parse_json(bytes: &[u8], hint: &str) -> Result<Value, BodyError> {
    serde_json::from_slice(bytes)
        .map_err(|e| BodyError::InvalidJson(format!("the body is not valid JSON ({e}){hint}")))
}

/// A JSON body: `application/json` (else 415), well-formed.
pub async fn json(req: &mut Request) -> Result<Value, BodyError> {
    parse_json(
        &json_bytes(req).await?,
        "; send an object like {\"name\": \"CI\"}",
    )
}

/// The bytes of a body sent as `application/json` (else 415), unparsed: for a body whose
/// signature covers its exact bytes (GitHub's secret-scanning reports).
pub async fn json_bytes(req: &mut Request) -> Result<Vec<u8>, BodyError> {
    let declared = header(req, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge(MAX_BODY_BYTES));
    }
    if media_type(req) != JSON {
        return Err(BodyError::UnsupportedMediaType(SEND_JSON));
    }
    bytes(req).await
}

/// A URL-encoded form body, parsed; the first value of a repeated field wins.
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(bytes: &[u8]) -> Self {
        Form(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The fields, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// An HTML form body: `application/x-www-form-urlencoded` (else 415).
pub async fn form(req: &mut Request) -> Result<Form, BodyError> {
    let declared = header(req, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge(MAX_BODY_BYTES));
    }
    if !is_form(req) {
        return Err(BodyError::UnsupportedMediaType(SEND_FORM));
    }
    Ok(Form::parse(&bytes(req).await?))
}

/// One field of a form body, read from a clone so the handler can still read the body.
pub async fn form_field(req: &Request, name: &str) -> Result<Option<String>, BodyError> {
    let mut copy = req
        .clone()
        .map_err(|e| BodyError::Unreadable(e.to_string()))?;
    Ok(form(&mut copy).await?.get(name))
}

/// The parameters of an OAuth request, as sent.
pub enum OAuthBody {
    /// No body at all (or only whitespace).
    Empty,
    /// `application/x-www-form-urlencoded` (RFC 6749 §3.2).
    Form(Form),
    /// `application/json`.
    Json(Value),
}

impl OAuthBody {
    /// The string parameter `name`, from either shape.
    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            OAuthBody::Empty => None,
            OAuthBody::Form(form) => form.get(name),
            OAuthBody::Json(body) => body[name].as_str().map(str::to_owned),
        }
    }
}

/// An OAuth request body: empty, a form, or JSON.
pub async fn oauth(req: &mut Request) -> Result<OAuthBody, BodyError> {
    let bytes = bytes(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(OAuthBody::Empty);
    }
    match media_type(req).as_str() {
        FORM => Ok(OAuthBody::Form(Form::parse(&bytes))),
        JSON => parse_json(&bytes, "").map(OAuthBody::Json),
        _ => Err(BodyError::UnsupportedMediaType(SEND_OAUTH)),
    }
}
