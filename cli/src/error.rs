//! The one error type of the CLI and the exit codes it maps to.
//!
//! Every failure becomes a [`CliError`]: what went wrong (`message`, printed after `error: `),
//! what to do next (`hint`, printed after `hint: `), and an [`ExitStatus`] that scripts can
//! branch on. Messages never contain a token.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure (e.g. the server rejected the request as invalid: 400, 405, 413, 415) |
//! | 2 | usage error: bad or missing flags or arguments (clap's own code) |
//! | 3 | authentication required or invalid (HTTP 401), or a device login that can no longer be refreshed (it is forgotten: log in again) |
//! | 4 | forbidden: the credential may not do this (HTTP 403): its scope does not cover the request, or it is not a person's where one is needed (`edgeauth token`) |
//! | 5 | not found (HTTP 404) |
//! | 6 | server unreachable: connection refused, DNS failure, TLS failure, timeout |
//! | 7 | server error or unexpected response: 5xx (incl. 501 `not_configured`, 503 `misconfigured`), a body that is not the JSON expected, a redirect |
//! | 8 | local configuration error: no server set, bad `edgeauth.toml`, bad credentials file, bad `EDGEAUTH_*` value |
//! | 9 | `edgeauth login`: no answer from the browser in time (`EDGEAUTH_LOGIN_TIMEOUT`, default 300 s); `login --device`: the code expired (`expired_token`) before it was approved |
//! | 10 | `edgeauth login`: the browser login did not succeed: denied in the browser (`access_denied`, also for `--device`), refused by the server (an account not allowed there), or the answer that reached the CLI was not valid for this login (wrong `state`, no code) |

use std::fmt;
use std::process::ExitCode;

/// The exit codes; see the module doc for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Failure = 1,
    Usage = 2,
    Unauthorized = 3,
    Forbidden = 4,
    NotFound = 5,
    Unreachable = 6,
    ServerError = 7,
    Config = 8,
    LoginTimedOut = 9,
    LoginRefused = 10,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A stable name for `--json` errors.
    pub fn name(self) -> &'static str {
        match self {
            ExitStatus::Failure => "failure",
            ExitStatus::Usage => "usage",
            ExitStatus::Unauthorized => "unauthorized",
            ExitStatus::Forbidden => "forbidden",
            ExitStatus::NotFound => "not_found",
            ExitStatus::Unreachable => "unreachable",
            ExitStatus::ServerError => "server_error",
            ExitStatus::Config => "config",
            ExitStatus::LoginTimedOut => "login_timed_out",
            ExitStatus::LoginRefused => "login_refused",
        }
    }
}

/// The exit-code table as it appears at the end of `edgeauth --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other failure (e.g. the server rejected the request as invalid)
  2  usage error (bad or missing flags or arguments)
  3  authentication required or invalid (HTTP 401); a device login that
     can no longer be refreshed (it is forgotten: log in again)
  4  forbidden (HTTP 403): the credential's scope does not cover the request,
     or `edgeauth token` was used without a person's credential
  5  not found (HTTP 404)
  6  server unreachable (connection refused, DNS, TLS, timeout)
  7  server error or unexpected response (5xx, not the JSON expected)
  8  local configuration error (no server, bad edgeauth.toml or credentials file)
  9  login: no answer from the browser in time (EDGEAUTH_LOGIN_TIMEOUT, 300 s);
     login --device: the code expired before it was approved
  10 login: denied in the browser (or, with --device, on the device page),
     refused by the server (an account not allowed there), or the browser's
     answer was not valid for this login (wrong state)";

/// A failure with its exit status and, where there is one, the next step for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub status: ExitStatus,
    pub message: String,
    pub hint: Option<String>,
    /// The server's error code (`error` of its error body), when the failure was an HTTP error
    /// with one: lets a caller tell `authorization_pending` from `invalid_grant`.
    pub code: Option<String>,
    /// Whoever read stdout went away (EPIPE, `| head -1`): nothing is said, and the exit status
    /// is 1, as for a program a closed pipe stops. Only [`CliError::closed_output`] sets it.
    pub(crate) closed_output: bool,
}

impl CliError {
    /// Whoever read the output stopped reading (`edgeauth token list | head -1`): nothing to
    /// report, but not a success either (the command may not have finished, or its output,
    /// a new token say, may be lost), so exit 1 without a word, as a closed pipe stops `yes`.
    pub fn closed_output() -> Self {
        CliError {
            closed_output: true,
            ..CliError::new(ExitStatus::Failure, "the output was closed")
        }
    }

    pub fn is_closed_output(&self) -> bool {
        self.closed_output
    }

    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        CliError {
            status,
            message: message.into(),
            hint: None,
            code: None,
            closed_output: false,
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        CliError::new(ExitStatus::Config, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ExitStatus::Usage, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Whether the server answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.status.code())
    }

    /// The error as `--json` prints it on stderr, under `"error"`:
    /// `{"code", "message", "hint", "exit_code", "server_code"}`. `code` names the exit status
    /// ([`ExitStatus::name`]); `server_code` is the server's `error`, when it sent one.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.status.name(),
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.status.code(),
            "server_code": self.code,
        })
    }
}

impl fmt::Display for CliError {
    /// The text printed to stderr: `error: …` and, on a second line, `hint: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        let table = [
            (ExitStatus::Failure, 1),
            (ExitStatus::Usage, 2),
            (ExitStatus::Unauthorized, 3),
            (ExitStatus::Forbidden, 4),
            (ExitStatus::NotFound, 5),
            (ExitStatus::Unreachable, 6),
            (ExitStatus::ServerError, 7),
            (ExitStatus::Config, 8),
            (ExitStatus::LoginTimedOut, 9),
            (ExitStatus::LoginRefused, 10),
        ];
        for (status, code) in table {
            assert_eq!(status.code(), code);
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n  {code:<2} ")),
                "{code}"
            );
        }
    }

    #[test]
    fn json_errors_carry_code_message_hint_and_exit_code() {
        let e = CliError::new(ExitStatus::Unauthorized, "not logged in")
            .with_hint("run edgeauth login")
            .with_code("unauthorized");
        assert_eq!(
            e.json(),
            serde_json::json!({"code": "unauthorized", "message": "not logged in",
                "hint": "run edgeauth login", "exit_code": 3, "server_code": "unauthorized"})
        );
        let e = CliError::config("no server given");
        assert_eq!(e.json()["hint"], serde_json::Value::Null);
        assert_eq!(e.json()["exit_code"], 8);
        assert_eq!(e.json()["code"], "config");
    }

    #[test]
    fn display_puts_the_hint_on_its_own_line() {
        let e = CliError::config("no server").with_hint("pass --server");
        assert_eq!(e.to_string(), "error: no server\nhint: pass --server");
    }
}
