//! The one error type of the Worker, and the one error body: `{"error": code, "message": text}`
//! (`{"error", "error_description"}` on the OAuth endpoints, RFC 6749 §5.2).
//!
//! Every failure a client can cause is a 4xx whose message says what to fix. Storage that
//! fails (D1 or KV, after the one retry of a transient D1 failure where that is safe) is a
//! 503 `storage_unavailable` with `Retry-After`; other internal causes (a JS exception, a bad
//! stored value) a generic 500. Either is logged and never carries its cause's text.

use edgeauth_core::api::{ErrorBody, OAuthErrorBody};
use edgeauth_core::ConfigProblem;
use worker::Response;

use crate::http::{self, body::BodyError};
use crate::pages;

/// Why a request failed.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: a field is missing, of the wrong type or out of range.
    BadRequest(String),
    /// 400: the body is not JSON.
    InvalidJson(String),
    /// 401 without a credential where one is needed; the text says which
    /// ([`ApiError::credential_required`] for the usual one).
    CredentialRequired(String),
    /// 401 for a credential that is not valid; the text says why.
    InvalidCredential(String),
    /// 403: a valid credential whose scope does not cover the request.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 405, with the methods the path allows.
    MethodNotAllowed(String),
    /// 413.
    PayloadTooLarge,
    /// 415, saying what to send.
    UnsupportedMediaType(&'static str),
    /// 501: a feature whose setting is absent.
    NotConfigured(String),
    /// 503: settings that are present but unusable, or unsafe for this host.
    Misconfigured(Vec<String>),
    /// A refusal with its own status and error code, for the sign-in and OAuth endpoints
    /// whose codes the API reference lists (`invalid_state`, `csrf_rejected`, …).
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// An OAuth endpoint's refusal (RFC 6749 §5.2): the body is
    /// `{"error": error, "error_description": description}`.
    OAuth {
        status: u16,
        error: &'static str,
        description: String,
    },
    /// 503 with `Retry-After`: D1 or KV failed, so the request was not carried out (a flow's
    /// writes are one batch, so a failure leaves nothing half-written). The cause is logged,
    /// never shown.
    StorageUnavailable(String),
    /// 500: logged, never shown.
    Internal(String),
    /// Another error, with `Retry-After: seconds` (RFC 9110 §10.2.3): a limit or a
    /// temporary state that passes.
    RetryAfter(Box<ApiError>, u64),
}

impl ApiError {
    /// The HTTP response for this error: the JSON body.
    pub fn into_response(self) -> Response {
        if let ApiError::RetryAfter(error, seconds) = self {
            let mut response = error.into_response();
            http::set_header(&mut response, "Retry-After", &seconds.to_string());
            return response;
        }
        if let ApiError::OAuth {
            status,
            error,
            description,
        } = self
        {
            return http::json(
                status,
                &OAuthErrorBody {
                    error: error.to_owned(),
                    error_description: Some(description),
                },
            );
        }
        let (status, code, message, extra_header) = self.describe();
        let mut response = http::json(
            status,
            &ErrorBody {
                error: code.to_owned(),
                message,
            },
        );
        if let Some((name, value)) = extra_header {
            http::set_header(&mut response, name, &value);
        }
        response
    }

    /// The same error as an HTML page, for a person's browser on the sign-in pages.
    /// It carries the same extra header as the JSON body (a 401's challenge, RFC 9110 §15.5.2;
    /// a 405's `Allow`).
    pub fn into_html_response(self) -> Response {
        let (status, code, message, extra_header) = self.describe();
        let mut response = pages::page_response(status, pages::error_html(status, code, &message));
        if let Some((name, value)) = extra_header {
            http::set_header(&mut response, name, &value);
        }
        response
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::RetryAfter(error, _) => error.status(),
            ApiError::BadRequest(_) | ApiError::InvalidJson(_) => 400,
            ApiError::CredentialRequired(_) | ApiError::InvalidCredential(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::NotConfigured(_) => 501,
            ApiError::Misconfigured(_) | ApiError::StorageUnavailable(_) => 503,
            ApiError::Internal(_) => 500,
            ApiError::Refused { status, .. } | ApiError::OAuth { status, .. } => *status,
        }
    }

    /// The error code the body carries: `bad_request`, `invalid_state`, `invalid_grant`, …
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::RetryAfter(error, _) => error.code(),
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::CredentialRequired(_) | ApiError::InvalidCredential(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::Misconfigured(_) => "misconfigured",
            ApiError::Refused { code, .. } => code,
            ApiError::OAuth { error, .. } => error,
            ApiError::StorageUnavailable(_) => "storage_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The message a refusal (a 4xx) carries, as its body would; `None` for a failure.
    pub fn refusal_message(&self) -> Option<String> {
        (400..500)
            .contains(&self.status())
            .then(|| self.clone().describe().2)
    }

    /// Status, error code, message and an extra header (RFC 6750 challenge, `Allow`).
    #[allow(clippy::type_complexity)]
    fn describe(self) -> (u16, &'static str, String, Option<(&'static str, String)>) {
        // RFC 6750 §3: a bare challenge when no credential was sent, `invalid_token` when a
        // bad one was, `insufficient_scope` when it did not cover the request.
        let mut extra_header: Option<(&'static str, String)> = None;
        let (status, code) = (self.status(), self.code());
        let message = match self {
            ApiError::RetryAfter(error, seconds) => {
                let (_, _, message, _) = error.describe();
                extra_header = Some(("Retry-After", seconds.to_string()));
                message
            }
            ApiError::BadRequest(m) => m,
            ApiError::InvalidJson(m) => m,
            ApiError::CredentialRequired(m) => {
                extra_header = Some(("WWW-Authenticate", r#"Bearer realm="edgeauth""#.into()));
                m
            }
            ApiError::InvalidCredential(m) => {
                extra_header = Some((
                    "WWW-Authenticate",
                    format!(
                        r#"Bearer realm="edgeauth", error="invalid_token", error_description="{}""#,
                        quoted_string_safe(&m)
                    ),
                ));
                m
            }
            ApiError::Forbidden(m) => {
                extra_header = Some((
                    "WWW-Authenticate",
                    r#"Bearer realm="edgeauth", error="insufficient_scope""#.into(),
                ));
                m
            }
            ApiError::NotFound(m) => m,
            ApiError::MethodNotAllowed(allow) => {
                extra_header = Some(("Allow", allow.clone()));
                format!("this path accepts {allow}")
            }
            ApiError::PayloadTooLarge => payload_too_large(),
            ApiError::UnsupportedMediaType(what_to_send) => what_to_send.to_owned(),
            ApiError::NotConfigured(m) => m,
            ApiError::Misconfigured(problems) => format!(
                "the server's configuration needs fixing by its operator: {}",
                problems.join("; ")
            ),
            ApiError::Refused { message, .. } => message,
            ApiError::OAuth { description, .. } => description,
            ApiError::StorageUnavailable(cause) => {
                worker::console_error!("storage unavailable: {cause}");
                extra_header = Some(("Retry-After", STORAGE_RETRY_AFTER_S.to_string()));
                format!(
                    "the server's storage did not answer, so the request was not carried out; try again in {STORAGE_RETRY_AFTER_S} s"
                )
            }
            ApiError::Internal(cause) => {
                worker::console_error!("internal error: {cause}");
                "the server failed to answer; try again, and report it if it persists".to_owned()
            }
        };
        (status, code, message, extra_header)
    }
}

impl ApiError {
    /// 401 for an endpoint that needs a credential and got none.
    pub fn credential_required() -> ApiError {
        ApiError::CredentialRequired(
            "this endpoint needs a credential: send `Authorization: Bearer <token>`".to_owned(),
        )
    }

    /// This error, answered with `Retry-After: seconds`.
    pub fn retry_after(self, seconds: u64) -> ApiError {
        ApiError::RetryAfter(Box::new(self), seconds)
    }

    /// A body an OAuth endpoint could not read, as an RFC 6749 §5.2 `invalid_request` with
    /// the status the problem has (400, 413, 415).
    pub fn oauth_body(e: BodyError) -> ApiError {
        let (status, description) = match ApiError::from(e) {
            ApiError::PayloadTooLarge => (413, payload_too_large()),
            ApiError::UnsupportedMediaType(what_to_send) => (415, what_to_send.to_owned()),
            ApiError::InvalidJson(message) => (400, message),
            other => return other,
        };
        ApiError::OAuth {
            status,
            error: "invalid_request",
            description,
        }
    }
}

/// How long a client waits before retrying after a storage failure (`Retry-After`).
pub const STORAGE_RETRY_AFTER_S: u64 = 5;

fn payload_too_large() -> String {
    format!(
        "request bodies are limited to {} bytes",
        http::MAX_BODY_BYTES
    )
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(_) => ApiError::PayloadTooLarge,
            BodyError::UnsupportedMediaType(what_to_send) => {
                ApiError::UnsupportedMediaType(what_to_send)
            }
            BodyError::InvalidJson(message) => ApiError::InvalidJson(message),
            BodyError::Unreadable(cause) => {
                ApiError::Internal(format!("reading the request body: {cause}"))
            }
        }
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// A failed D1 call (transient or not: a transient one was already retried where that is
    /// safe) is a 503 the client may retry; a stored record that does not decode is a 500.
    /// Either is logged, never shown.
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Database(_) | crate::store::StoreError::Transient(_) => {
                ApiError::StorageUnavailable(e.to_string())
            }
            crate::store::StoreError::BadRecord(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<worker::KvError> for ApiError {
    fn from(e: worker::KvError) -> Self {
        ApiError::StorageUnavailable(format!("KV: {e}"))
    }
}

impl From<Vec<ConfigProblem>> for ApiError {
    fn from(problems: Vec<ConfigProblem>) -> Self {
        ApiError::Misconfigured(problems.iter().map(ToString::to_string).collect())
    }
}

/// Keeps a message inside an RFC 9110 quoted-string: printable ASCII without `"` or `\`.
fn quoted_string_safe(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}
