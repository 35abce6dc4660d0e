//! `edgeauth api`: one request to the server with the resolved credential, as `gh api` does,
//! for the API that edgeauth protects as its gateway (or edgeauth's own endpoints).

use std::io::Read;
use std::path::PathBuf;

use super::{Context, Io};
use crate::args::ApiArgs;
use crate::client::{RawBody, RawRequest};
use crate::error::CliError;
use crate::server_url::ServerUrl;

/// How much of a response is read whole: for `--json`, and for an error (to report it).
const MAX_READ: u64 = 16 * 1024 * 1024;

pub fn run(ctx: &Context, io: &mut Io<'_>, args: &ApiArgs) -> Result<(), CliError> {
    let request = request_of(args, ctx.client.server())?;
    let response = ctx.client.send_raw(&request)?;
    let status = response.status();
    if args.include {
        writeln!(
            io.out,
            "{:?} {} {}",
            response.version(),
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )?;
        for (name, value) in response.headers() {
            writeln!(
                io.out,
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            )?;
        }
        writeln!(io.out)?;
    }
    let ok = (200..400).contains(&status.as_u16());
    let mut body = response.into_body().into_reader();
    if ok && !ctx.json {
        // As it arrives: a download or an event stream is never held whole.
        std::io::copy(&mut body, io.out)?;
        io.out.flush()?;
        return Ok(());
    }
    let mut bytes = Vec::new();
    body.take(MAX_READ).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(json) if ctx.json => writeln!(
            io.out,
            "{}",
            serde_json::to_string_pretty(&json).expect("a JSON value serialises")
        )?,
        _ => {
            io.out.write_all(&bytes)?;
            // An error's body, then the error on stderr: not on one line.
            if !ok && !bytes.is_empty() && !bytes.ends_with(b"\n") {
                writeln!(io.out)?;
            }
        }
    }
    io.out.flush()?;
    if ok {
        Ok(())
    } else {
        Err(ctx.client.error_for(status.as_u16(), &text))
    }
}

/// The request `args` describe, on `server`.
fn request_of(args: &ApiArgs, server: &ServerUrl) -> Result<RawRequest, CliError> {
    let path = path_of(&args.path, server)?;
    let mut headers = Vec::new();
    for header in &args.headers {
        headers.push(header_of(header)?);
    }
    let body = match args.data.as_deref() {
        None => RawBody::None,
        Some("@-") => RawBody::Stdin,
        Some(data) => match data.strip_prefix('@') {
            Some(file) if !file.is_empty() => RawBody::File(PathBuf::from(file)),
            _ => RawBody::Text(data.to_owned()),
        },
    };
    let names_type = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("Content-Type"));
    if !names_type {
        if let Some(content_type) = content_type_of(&body) {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
    }
    let method = match &args.method {
        Some(method) => {
            let valid = !method.is_empty()
                && method.len() <= 16
                && method.bytes().all(|b| b.is_ascii_alphabetic());
            if !valid {
                return Err(CliError::usage(format!(
                    "`{method}` is not an HTTP method; e.g. -X POST"
                )));
            }
            method.to_ascii_uppercase()
        }
        None if body == RawBody::None => "GET".to_owned(),
        None => "POST".to_owned(),
    };
    Ok(RawRequest {
        method,
        path,
        headers,
        body,
    })
}

/// `/path?query`, or a full URL on `server` reduced to that.
fn path_of(given: &str, server: &ServerUrl) -> Result<String, CliError> {
    let path = if given.starts_with('/') {
        given
    } else if let Some(rest) = given
        .strip_prefix(server.as_str())
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        if rest.is_empty() {
            "/"
        } else {
            rest
        }
    } else if given.contains("://") {
        return Err(CliError::usage(format!(
            "{given} is not on the server {server}: edgeauth sends its credential only there; give a path such as /v1/things"
        )));
    } else {
        return Err(CliError::usage(format!(
            "the path must start with `/`, e.g. /{given}"
        )));
    };
    if path.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#') {
        return Err(CliError::usage(
            "the path must be percent-encoded: no spaces, control characters or `#`",
        ));
    }
    Ok(path.to_owned())
}

/// A `Name: value` header; `Authorization` is refused, so that the resolved credential is never
/// replaced without the configuration saying so.
fn header_of(header: &str) -> Result<(String, String), CliError> {
    let (name, value) = header.split_once(':').ok_or_else(|| {
        CliError::usage(format!("`{header}` is not a header: use -H 'Name: value'"))
    })?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(CliError::usage(format!("`{name}` is not a header name")));
    }
    if name.eq_ignore_ascii_case("Authorization") {
        return Err(CliError::usage(
            "the credential is not set with -H: use --token, EDGEAUTH_TOKEN, edgeauth.toml or `edgeauth login`",
        ));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// The default `Content-Type` of a body.
fn content_type_of(body: &RawBody) -> Option<&'static str> {
    match body {
        RawBody::None => None,
        RawBody::Text(text) if serde_json::from_str::<serde_json::Value>(text).is_ok() => {
            Some("application/json")
        }
        RawBody::Text(_) => Some("text/plain; charset=utf-8"),
        RawBody::File(path) if path.extension().is_some_and(|e| e == "json") => {
            Some("application/json")
        }
        RawBody::File(_) | RawBody::Stdin => Some("application/octet-stream"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitStatus;

    fn server() -> ServerUrl {
        ServerUrl::parse("https://api.example.com").unwrap()
    }

    fn args(path: &str) -> ApiArgs {
        ApiArgs {
            path: path.into(),
            method: None,
            data: None,
            headers: Vec::new(),
            include: false,
        }
    }

    fn header<'a>(request: &'a RawRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn get_by_default_and_post_with_a_body() {
        let r = request_of(&args("/v1/runs?limit=5"), &server()).unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/v1/runs?limit=5")
        );
        assert_eq!(r.body, RawBody::None);
        assert_eq!(header(&r, "Content-Type"), None);
        let r = request_of(
            &ApiArgs {
                data: Some(r#"{"a": 1}"#.into()),
                ..args("/v1/runs")
            },
            &server(),
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(header(&r, "Content-Type"), Some("application/json"));
        let r = request_of(
            &ApiArgs {
                method: Some("delete".into()),
                ..args("/v1/runs/1")
            },
            &server(),
        )
        .unwrap();
        assert_eq!(r.method, "DELETE");
    }

    #[test]
    fn bodies_from_text_files_and_stdin_with_their_content_types() {
        let with = |data: &str| {
            request_of(
                &ApiArgs {
                    data: Some(data.into()),
                    ..args("/x")
                },
                &server(),
            )
            .unwrap()
        };
        let r = with("plain words");
        assert_eq!(r.body, RawBody::Text("plain words".into()));
        assert_eq!(
            header(&r, "Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        let r = with("@build.tar.gz");
        assert_eq!(r.body, RawBody::File("build.tar.gz".into()));
        assert_eq!(header(&r, "Content-Type"), Some("application/octet-stream"));
        assert_eq!(
            header(&with("@run.json"), "Content-Type"),
            Some("application/json")
        );
        let r = with("@-");
        assert_eq!(r.body, RawBody::Stdin);
        assert_eq!(header(&r, "Content-Type"), Some("application/octet-stream"));
        // A lone `@` is text; -H's Content-Type wins.
        assert_eq!(with("@").body, RawBody::Text("@".into()));
        let r = request_of(
            &ApiArgs {
                data: Some("{}".into()),
                headers: vec!["content-type: application/merge-patch+json".into()],
                ..args("/x")
            },
            &server(),
        )
        .unwrap();
        assert_eq!(
            r.headers,
            [(
                "content-type".to_owned(),
                "application/merge-patch+json".to_owned()
            )]
        );
    }

    #[test]
    fn headers_are_name_and_value_and_never_the_credential() {
        assert_eq!(
            header_of("X-Workspace:  production/eu ").unwrap(),
            ("X-Workspace".to_owned(), "production/eu".to_owned())
        );
        for bad in [
            "no colon",
            ": value",
            "Bad Name: v",
            "Authorization: Bearer x",
        ] {
            let e = header_of(bad).unwrap_err();
            assert_eq!(e.status, ExitStatus::Usage, "{bad}");
        }
        assert!(header_of("authorization: x")
            .unwrap_err()
            .to_string()
            .contains("--token"));
    }

    #[test]
    fn paths_are_on_the_server_only() {
        assert_eq!(
            path_of("/v1/a%2Fb?x=1", &server()).unwrap(),
            "/v1/a%2Fb?x=1"
        );
        assert_eq!(
            path_of("https://api.example.com/v1/things", &server()).unwrap(),
            "/v1/things"
        );
        assert_eq!(path_of("https://api.example.com", &server()).unwrap(), "/");
        for bad in [
            "https://evil.example.com/v1",
            "https://api.example.com.evil.example/v1",
            "v1/things",
            "/with space",
            "/frag#x",
        ] {
            assert_eq!(
                path_of(bad, &server()).unwrap_err().status,
                ExitStatus::Usage,
                "{bad}"
            );
        }
        let bad_method = ApiArgs {
            method: Some("GET /".into()),
            ..args("/x")
        };
        assert!(request_of(&bad_method, &server()).is_err());
    }
}
