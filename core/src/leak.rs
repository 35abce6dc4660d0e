//! Leak reports (`POST /api/credentials/revoke`): anyone who holds a leaked token (its owner, a
//! stranger who found it in a public repository, a secret scanner) may have it revoked without
//! any other credential, as GitHub's credential revocation API does. Here is what a report may
//! say; the Worker revokes each token this server issued and answers the same whatever it
//! found, so the endpoint tells nobody whether a token is real.

use serde_json::{json, Value};

use crate::token::{self, TokenKind};
use crate::token_request::reject_unknown_fields;

/// Most credentials in one report.
pub const MAX_CREDENTIALS: usize = 100;
/// Longest credential read: the tokens it revokes are 75 characters; 100 of the longest fit
/// in a request body (16 KiB) with room to spare.
pub const MAX_CREDENTIAL_LEN: usize = 128;

/// A report's credentials that could be tokens this server issues and stores (service and user
/// API tokens: well formed, checksum right), deduplicated; everything else is dropped without
/// a word, since nothing stored can match it. `{"credentials": ["eas_…", …]}`, 1 to
/// [`MAX_CREDENTIALS`] strings of 1 to [`MAX_CREDENTIAL_LEN`] token characters (letters,
/// digits, `_`, `.`, `-`): what a token, as found, is made of.
pub fn reported_tokens(body: &Value) -> Result<Vec<(TokenKind, String)>, String> {
    let object = body
        .as_object()
        .ok_or("the body must be a JSON object like {\"credentials\": [\"eas_…\"]}")?;
    reject_unknown_fields(object, &["credentials"])?;
    let list = object
        .get("credentials")
        .and_then(Value::as_array)
        .filter(|l| (1..=MAX_CREDENTIALS).contains(&l.len()))
        .ok_or(format!(
            "`credentials` must be a list of 1 to {MAX_CREDENTIALS} leaked tokens, as found"
        ))?;
    let mut tokens: Vec<(TokenKind, String)> = Vec::new();
    for item in list {
        let text = item
            .as_str()
            .filter(|t| {
                (1..=MAX_CREDENTIAL_LEN).contains(&t.len())
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            })
            .ok_or(format!(
                "every credential must be a token as found: 1 to {MAX_CREDENTIAL_LEN} letters, digits, `_`, `.` or `-`"
            ))?;
        if let Some(kind) = revocable_kind(text) {
            if !tokens.iter().any(|(_, t)| t == text) {
                tokens.push((kind, text.to_owned()));
            }
        }
    }
    Ok(tokens)
}

/// The kind of `text` when it could be a token this server issues and stores, so that a
/// report of it can revoke it: a well-formed service or user API token (prefix, length,
/// checksum). Anything else needs no storage read: nothing stored can match it.
pub fn revocable_kind(text: &str) -> Option<TokenKind> {
    match token::check_format(text) {
        Ok(kind @ (TokenKind::Service | TokenKind::User)) => Some(kind),
        _ => None,
    }
}

/// Who reported a token, for the audit event of its revocation (actor `leak_report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter<'a> {
    /// Whoever sent it to `POST /api/credentials/revoke`.
    Anyone,
    /// GitHub secret scanning (`POST /api/credentials/github-secret-scanning`, signed by
    /// GitHub): where it found the token, as GitHub says.
    GitHubSecretScanning { url: &'a str, source: &'a str },
}

impl Reporter<'_> {
    /// The audit event's detail for the revocation of `token`: its display prefix (never the
    /// token), why, and where GitHub found it.
    pub fn audit_detail(&self, token: &str) -> Value {
        let prefix = token.get(..token::DISPLAY_PREFIX_CHARS);
        match self {
            Reporter::Anyone => json!({"prefix": prefix, "reason": "reported as leaked"}),
            Reporter::GitHubSecretScanning { url, source } => json!({
                "prefix": prefix,
                "reason": "reported by GitHub secret scanning",
                "url": url,
                "source": source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPurpose;
    use crate::crypto::RootSecret;
    use crate::test_entropy::Counter;
    use serde_json::json;

    #[test]
    fn a_report_keeps_only_what_could_be_a_stored_token() {
        let key = RootSecret::new(&"s".repeat(32))
            .unwrap()
            .derive(KeyPurpose::UserTokens);
        let user = token::mint(TokenKind::User, &key, &mut Counter(1));
        let service = token::mint(TokenKind::Service, &key, &mut Counter(2));
        let (u, s) = (user.plaintext().to_owned(), service.plaintext().to_owned());
        let mut typo = u.clone();
        typo.pop();
        typo.push(if u.ends_with('a') { 'b' } else { 'a' });
        let found = reported_tokens(&json!({"credentials": [
            u, s, u, typo, "eaa_x.y.z", "hello", "ear_notatoken"
        ]}))
        .unwrap();
        assert_eq!(
            found,
            [
                (TokenKind::User, u.clone()),
                (TokenKind::Service, s.clone())
            ]
        );
        assert_eq!(revocable_kind(&s), Some(TokenKind::Service));
        assert_eq!(revocable_kind(&typo), None);
        for bad in [
            json!([]),
            json!({"credentials": []}),
            json!({"credentials": "eas_x"}),
            json!({"credentials": [5]}),
            json!({"credentials": ["x".repeat(129)]}),
            json!({"credentials": [""]}),
            json!({"credentials": [format!(" {s}")]}),
            json!({"credentials": ["eas_x\n"]}),
            json!({"credentials": vec!["x"; 101]}),
            json!({"credentials": ["x"], "more": 1}),
        ] {
            assert!(reported_tokens(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_audit_detail_says_who_reported_and_never_holds_the_token() {
        let key = RootSecret::new(&"s".repeat(32))
            .unwrap()
            .derive(KeyPurpose::UserTokens);
        let user = token::mint(TokenKind::User, &key, &mut Counter(3));
        let token = user.plaintext();
        let prefix = &token[..token::DISPLAY_PREFIX_CHARS];
        assert_eq!(
            Reporter::Anyone.audit_detail(token),
            json!({"prefix": prefix, "reason": "reported as leaked"})
        );
        let github = Reporter::GitHubSecretScanning {
            url: "https://github.com/o/r/blob/abc/ci.yml",
            source: "content",
        }
        .audit_detail(token);
        assert_eq!(
            github,
            json!({
                "prefix": prefix,
                "reason": "reported by GitHub secret scanning",
                "url": "https://github.com/o/r/blob/abc/ci.yml",
                "source": "content",
            })
        );
        for detail in [Reporter::Anyone.audit_detail(token), github] {
            assert!(!detail.to_string().contains(token), "{detail}");
        }
    }
}
