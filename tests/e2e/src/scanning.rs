//! GitHub secret scanning's side of the partner endpoint
//! (`POST /api/credentials/github-secret-scanning`): reports signed as GitHub signs them
//! (ECDSA P-256 with SHA-256 over the raw body; `Github-Public-Key-Signature` the base64 of the
//! ASN.1 DER signature, `Github-Public-Key-Identifier` the key's identifier), with the key whose
//! public half is in MAIN's `SECRET_SCANNING_KEYS`. scripts/test makes that key pair for each
//! run: the private key (PKCS#8 PEM) in the file `EDGEAUTH_E2E_SCANNING_KEY`, its identifier in
//! `EDGEAUTH_E2E_SCANNING_KEY_ID`.

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{require_env, Instance, Request};

/// The partner endpoint.
pub const ENDPOINT: &str = "/api/credentials/github-secret-scanning";

/// The pattern names a partner gives GitHub, reported back as each match's `type`.
pub const SERVICE_TOKEN_TYPE: &str = "edgeauth_service_token";
pub const USER_TOKEN_TYPE: &str = "edgeauth_user_token";

/// A signer of reports: GitHub with the key MAIN trusts, or an impostor.
pub struct GitHub {
    key: SigningKey,
    /// What `Github-Public-Key-Identifier` says.
    pub key_identifier: String,
}

impl GitHub {
    /// GitHub, signing with the key of MAIN's `SECRET_SCANNING_KEYS`.
    pub fn trusted() -> GitHub {
        let path = require_env("EDGEAUTH_E2E_SCANNING_KEY");
        let pem = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("EDGEAUTH_E2E_SCANNING_KEY={path} is unreadable: {e}"));
        GitHub {
            key: SigningKey::from_pkcs8_pem(&pem)
                .unwrap_or_else(|e| panic!("{path} is not a P-256 private key in PKCS#8 PEM: {e}")),
            key_identifier: require_env("EDGEAUTH_E2E_SCANNING_KEY_ID"),
        }
    }

    /// Someone with a P-256 key of their own, claiming to sign with GitHub's key
    /// `key_identifier`.
    pub fn impostor(key_identifier: &str) -> GitHub {
        GitHub {
            key: SigningKey::from_slice(&[0x42; 32]).expect("a valid P-256 scalar"),
            key_identifier: key_identifier.to_owned(),
        }
    }

    /// `Github-Public-Key-Signature` for `body`: base64 of the DER signature.
    pub fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    /// `body` posted as GitHub posts a report, signed.
    pub fn report<'a>(&self, instance: &'a Instance, body: &str) -> Request<'a> {
        signed(
            instance,
            &self.key_identifier,
            &self.sign(body.as_bytes()),
            body,
        )
    }
}

/// `body` posted to the partner endpoint with the given headers, as they are.
pub fn signed<'a>(
    instance: &'a Instance,
    key_identifier: &str,
    signature: &str,
    body: &str,
) -> Request<'a> {
    instance
        .post(ENDPOINT)
        .header("Github-Public-Key-Identifier", key_identifier)
        .header("Github-Public-Key-Signature", signature)
        .body(Some("application/json"), body)
}

/// A report's body as GitHub writes it: `[{"token", "type", "url", "source"}, …]`.
pub fn report_body(matches: &[(&str, &str)]) -> String {
    Value::Array(
        matches
            .iter()
            .map(|(token, token_type)| {
                json!({
                    "token": token,
                    "type": token_type,
                    "url": "https://github.com/octo-org/octo-repo/blob/0123abc/ci/deploy.yml",
                    "source": "content",
                })
            })
            .collect(),
    )
    .to_string()
}

/// The `token_hash` the answer gives for `token`: its SHA-256, lower-case hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
