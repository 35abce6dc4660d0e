//! `edgeauth login --ci`: in a CI job, the job's ID token (GitHub Actions' token request, or a
//! variable GitLab's `id_tokens:` fills) traded for a short-lived access token of the project
//! at the token endpoint (RFC 8693), printed alone on stdout. Nothing is stored.

use super::{Context, Io};
use crate::args::LoginArgs;
use crate::client::{agent, TIMEOUT};
use crate::error::{CliError, ExitStatus};
use crate::output;
use edgeauth_core::api::ExchangeResponse;
use edgeauth_core::encoding::percent_encode;
use edgeauth_core::grant::TokenGrant;
use serde_json::{json, Value};

/// Where GitLab's `id_tokens:` puts the token, unless --id-token-env names another variable.
pub const DEFAULT_ID_TOKEN_ENV: &str = "EDGEAUTH_ID_TOKEN";
/// GitHub Actions' token request (a job with `permissions: id-token: write`).
const GITHUB_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
const GITHUB_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Where the ID token comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    /// A variable that holds it.
    Variable(String, String),
    /// GitHub Actions' request URL and bearer.
    GitHub { url: String, bearer: String },
}

/// The source in the order `login --ci --help` documents.
fn source(args: &LoginArgs, var: &dyn Fn(&str) -> Option<String>) -> Result<Source, CliError> {
    if let Some(name) = &args.id_token_env {
        return var(name)
            .map(|token| Source::Variable(name.clone(), token))
            .ok_or_else(|| {
                CliError::config(format!("{name} (--id-token-env) is not set in this job"))
            });
    }
    if let (Some(url), Some(bearer)) = (var(GITHUB_URL), var(GITHUB_TOKEN)) {
        return Ok(Source::GitHub { url, bearer });
    }
    var(DEFAULT_ID_TOKEN_ENV)
        .map(|token| Source::Variable(DEFAULT_ID_TOKEN_ENV.to_owned(), token))
        .ok_or_else(|| {
            CliError::config("this job has no CI ID token to exchange").with_hint(
                "on GitHub Actions give the job `permissions: id-token: write`; on GitLab add `id_tokens: EDGEAUTH_ID_TOKEN: aud: <the server's URL>` (or name the variable with --id-token-env)",
            )
        })
}

/// Runs `login --ci`.
pub fn run(
    ctx: &Context,
    io: &mut Io<'_>,
    args: &LoginArgs,
    project: &str,
) -> Result<(), CliError> {
    let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let id_token = match source(args, &read)? {
        Source::Variable(_, token) => token,
        Source::GitHub { url, bearer } => {
            let audience = match &args.audience {
                Some(audience) => audience.clone(),
                None => server_issuer(ctx)?,
            };
            github_id_token(&url, &bearer, &audience)?
        }
    };
    let grant = TokenGrant::TokenExchange {
        subject_token: id_token,
    };
    let response = ctx
        .client
        .with_token(None)
        .post_form("/api/auth/token", &grant.form_pairs())
        .map_err(|e| CliError {
            // A refused ID token is a refused credential, whatever the status says.
            status: if e.code.as_deref() == Some("invalid_grant") {
                ExitStatus::Unauthorized
            } else {
                e.status
            },
            message: format!("the server refused this CI job's ID token: {}", e.message),
            hint: Some(
                "check the project's trust policies (`edgeauth trust list`, an admin) against the job's repository, ref and audience".into(),
            ),
            ..e
        })?;
    let answer: ExchangeResponse = response.parse()?;
    let scope = answer.scope.clone().unwrap_or_default();
    if ctx.json {
        let value = json!({
            "access_token": answer.access_token.expose(),
            "expires_in": answer.expires_in,
            "scope": scope,
            "project": project,
        });
        write!(io.out, "{}", output::json(&value))?;
    } else {
        writeln!(io.out, "{}", answer.access_token.expose())?;
        writeln!(
            io.err,
            "Exchanged this CI job's ID token for an access token of project {} (workspaces {}; expires in {} s); nothing was stored",
            output::sanitize(project),
            output::sanitize(&scope.replace(' ', ", ")),
            answer.expires_in
        )?;
    }
    Ok(())
}

/// The server's issuer (RFC 8414 metadata), the audience trust policies expect by default.
fn server_issuer(ctx: &Context) -> Result<String, CliError> {
    let metadata: Value = ctx
        .client
        .with_token(None)
        .get("/.well-known/oauth-authorization-server")?
        .json()?;
    metadata["issuer"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::new(
                ExitStatus::ServerError,
                "the server's metadata names no issuer",
            )
        })
}

/// The URL GitHub's runner answers with an ID token for `audience`.
fn github_request_url(url: &str, audience: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}audience={}", percent_encode(audience))
}

/// Asks GitHub Actions' runner for the job's ID token.
fn github_id_token(url: &str, bearer: &str, audience: &str) -> Result<String, CliError> {
    let failed = |why: String| {
        CliError::new(
            ExitStatus::Unreachable,
            format!("GitHub Actions gave no ID token: {why}"),
        )
        .with_hint("the job needs `permissions: id-token: write`")
    };
    let mut response = agent(Some(TIMEOUT), Some("application/json"))
        .get(github_request_url(url, audience))
        .header("Authorization", &format!("bearer {bearer}"))
        .call()
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .map_err(|e| failed(e.to_string()))?;
    if status != 200 {
        return Err(failed(format!("its token request answered HTTP {status}")));
    }
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["value"].as_str().map(str::to_owned))
        .ok_or_else(|| failed("its answer has no `value`".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(id_token_env: Option<&str>) -> LoginArgs {
        LoginArgs {
            no_browser: false,
            device: false,
            ci: true,
            audience: None,
            id_token_env: id_token_env.map(str::to_owned),
            storage: None,
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_id_token_comes_from_the_named_variable_then_github_then_gitlabs() {
        let github = env(&[
            (GITHUB_URL, "https://runner/token?api-version=2.0"),
            (GITHUB_TOKEN, "t"),
            (DEFAULT_ID_TOKEN_ENV, "x"),
        ]);
        assert_eq!(
            source(&args(None), &github).unwrap(),
            Source::GitHub {
                url: "https://runner/token?api-version=2.0".into(),
                bearer: "t".into()
            }
        );
        let gitlab = env(&[(DEFAULT_ID_TOKEN_ENV, "eyJ")]);
        assert_eq!(
            source(&args(None), &gitlab).unwrap(),
            Source::Variable(DEFAULT_ID_TOKEN_ENV.into(), "eyJ".into())
        );
        let named = env(&[("MY_TOKEN", "eyJ2"), (GITHUB_URL, "u"), (GITHUB_TOKEN, "t")]);
        assert_eq!(
            source(&args(Some("MY_TOKEN")), &named).unwrap(),
            Source::Variable("MY_TOKEN".into(), "eyJ2".into())
        );
        let e = source(&args(Some("MISSING")), &named).unwrap_err();
        assert!(e.message.contains("MISSING"), "{}", e.message);
        let e = source(&args(None), &env(&[])).unwrap_err();
        assert!(e.hint.unwrap().contains("id-token: write"));
    }

    #[test]
    fn the_audience_is_added_to_githubs_url() {
        assert_eq!(
            github_request_url(
                "https://runner/t?api-version=2.0",
                "https://auth.example.com"
            ),
            "https://runner/t?api-version=2.0&audience=https%3A%2F%2Fauth.example.com"
        );
        assert_eq!(
            github_request_url("http://127.0.0.1:9/actions", "a b"),
            "http://127.0.0.1:9/actions?audience=a%20b"
        );
    }
}
