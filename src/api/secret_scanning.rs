//! `POST /api/credentials/github-secret-scanning`: GitHub secret scanning's partner endpoint.
//! GitHub sends the tokens of this server it found in public places, signed with one of the
//! keys of `SECRET_SCANNING_KEYS` (`edgeauth_core::secret_scanning`); each live one is revoked
//! as a leak report is ([`leak::revoke_reported`], actor `leak_report`, with where GitHub
//! found it), and the answer labels each match for GitHub: `true_positive` for a token this
//! server issued (revoked now or before), `false_positive` for anything else. Only GitHub can
//! sign a report, so the labels tell a stranger nothing: an unsigned or badly signed request
//! is refused (401) before anything is looked up.

use edgeauth_core::leak::{revocable_kind, Reporter};
use edgeauth_core::secret_scanning::{
    parse_report, signature_from_header, Label, ScanningKey, ScanningKeys, Verdict, GITHUB_KEYS_URL,
};
use edgeauth_core::TokenHash;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use worker::{Env, Request, Response};

use crate::api::leak::{self, Reported};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::web_crypto;
use crate::{database, http, now_ms};

const KEY_IDENTIFIER: &str = "Github-Public-Key-Identifier";
const SIGNATURE: &str = "Github-Public-Key-Signature";

/// `POST`: verifies GitHub's signature over the raw body, then revokes and labels each match;
/// 200 with GitHub's feedback array.
pub async fn report(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let keys = configured_keys(caller)?;
    let (Some(identifier), Some(signature)) = (
        http::header(&req, KEY_IDENTIFIER),
        http::header(&req, SIGNATURE),
    ) else {
        return Err(ApiError::BadRequest(format!(
            "a secret-scanning report must carry the {KEY_IDENTIFIER} and {SIGNATURE} headers GitHub signs it with"
        )));
    };
    let signature =
        signature_from_header(&signature).map_err(|p| ApiError::BadRequest(p.to_string()))?;
    let key = keys.find(&identifier).ok_or_else(|| {
        refused(format!(
            "{KEY_IDENTIFIER} names a key that SECRET_SCANNING_KEYS does not hold; if GitHub rotated its keys, the operator copies {GITHUB_KEYS_URL} into SECRET_SCANNING_KEYS again"
        ))
    })?;
    // The signature covers the body's exact bytes: read once, verified, then parsed.
    let body = http::body::json_bytes(&mut req).await?;
    if !signature_verifies(key, &signature, &body).await? {
        return Err(refused(format!(
            "{SIGNATURE} does not verify over the body with key `{identifier}`"
        )));
    }
    let matches = parse_report(&body).map_err(ApiError::BadRequest)?;
    let db = database(env)?;
    let now = now_ms();
    // A token reported twice in one report is looked up once.
    let mut labelled: Vec<(&str, Label)> = Vec::new();
    let mut verdicts = Vec::with_capacity(matches.len());
    for found in &matches {
        let label = match labelled.iter().find(|(token, _)| *token == found.token) {
            Some((_, label)) => *label,
            None => {
                let reported = match revocable_kind(&found.token) {
                    None => Reported::Unknown,
                    Some(kind) => {
                        let reporter = Reporter::GitHubSecretScanning {
                            url: &found.url,
                            source: &found.source,
                        };
                        leak::revoke_reported(&db, kind, &found.token, reporter, &caller.trace, now)
                            .await?
                    }
                };
                let label = match reported {
                    Reported::Revoked | Reported::AlreadyRevoked => Label::TruePositive,
                    Reported::Unknown => Label::FalsePositive,
                };
                labelled.push((&found.token, label));
                label
            }
        };
        verdicts.push(Verdict {
            token_hash: TokenHash::of(&found.token).as_hex().to_owned(),
            token_type: found.token_type.clone(),
            label,
        });
    }
    Ok(http::json(200, &verdicts))
}

/// `SECRET_SCANNING_KEYS`, or 501 saying how to turn the endpoint on.
fn configured_keys(caller: &Caller) -> Result<&ScanningKeys, ApiError> {
    caller.config().secret_scanning_keys.as_ref().ok_or_else(|| {
        ApiError::NotConfigured(format!(
            "GitHub secret scanning is not configured on this server: the operator must set SECRET_SCANNING_KEYS to the JSON GitHub publishes at {GITHUB_KEYS_URL}"
        ))
    })
}

/// 401 `invalid_signature`: the report is not GitHub's, as far as this server can tell.
fn refused(message: String) -> ApiError {
    ApiError::Refused {
        status: 401,
        code: "invalid_signature",
        message,
    }
}

/// Whether `signature` (`r || s`) is `key`'s ECDSA P-256 / SHA-256 signature of `body`, by
/// Web Crypto. A configured key that Web Crypto cannot import (a point off the curve, which
/// the settings' check does not see) is the operator's to fix: 503 naming the setting.
async fn signature_verifies(
    key: &ScanningKey,
    signature: &[u8; 64],
    body: &[u8],
) -> Result<bool, ApiError> {
    let subtle = web_crypto::subtle_crypto()?;
    let import_params = web_crypto::js_object(&[("name", "ECDSA"), ("namedCurve", "P-256")])?;
    let verify_params = web_crypto::js_object(&[("name", "ECDSA"), ("hash", "SHA-256")])?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let import = subtle
        .import_key_with_object(
            "spki",
            &Uint8Array::from(&key.spki_der[..]),
            &import_params,
            false,
            &usages,
        )
        .map_err(|e| web_crypto::failed("importKey (ECDSA P-256)", &e))?;
    let crypto_key: CryptoKey = JsFuture::from(import)
        .await
        .map_err(|e| {
            worker::console_error!(
                "secret scanning: importKey refused key `{}`: {}",
                key.identifier,
                web_crypto::js_text(&e)
            );
            ApiError::Misconfigured(vec![format!(
                "SECRET_SCANNING_KEYS: key `{}` is not a P-256 public key Web Crypto can import; copy {GITHUB_KEYS_URL} again",
                key.identifier
            )])
        })?
        .unchecked_into();
    let verified = subtle
        .verify_with_object_and_buffer_source_and_buffer_source(
            &verify_params,
            &crypto_key,
            &Uint8Array::from(&signature[..]),
            &Uint8Array::from(body),
        )
        .map_err(|e| web_crypto::failed("verify (ECDSA P-256)", &e))?;
    let verified = JsFuture::from(verified)
        .await
        .map_err(|e| web_crypto::failed("verify (ECDSA P-256)", &e))?;
    Ok(verified.as_bool() == Some(true))
}
