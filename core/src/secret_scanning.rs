//! GitHub secret scanning's partner program: when GitHub finds one of this server's tokens in
//! a public place, it POSTs `[{"token", "type", "url", "source"}, …]` to the partner endpoint,
//! signed with one of the keys it publishes at
//! <https://api.github.com/meta/public_keys/secret_scanning> (ECDSA P-256 with SHA-256 over the
//! raw body; `Github-Public-Key-Identifier` names the key, `Github-Public-Key-Signature` is
//! the base64 of an ASN.1 DER signature). The operator copies that document into
//! `SECRET_SCANNING_KEYS`; the Worker verifies with Web Crypto, which takes a key as DER
//! SubjectPublicKeyInfo and a signature as `r || s` (IEEE P1363). Here are the conversions, the
//! report's shape and the answer GitHub reads (`token_hash`, `token_type`, `label`).

use serde::Serialize;
use serde_json::Value;

use crate::encoding::base64_decode;

/// Where GitHub publishes its secret-scanning keys, for the operator and the messages.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// Longest key identifier accepted (GitHub's are 64 hex digits).
pub const MAX_KEY_IDENTIFIER_LEN: usize = 128;

/// The DER SubjectPublicKeyInfo of every P-256 public key, up to its point's coordinates:
/// `SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING { 0x04 (uncompressed) … } }`
/// (RFC 5480 §2). 64 bytes, X then Y, follow.
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];
const P256_SPKI_LEN: usize = P256_SPKI_PREFIX.len() + 64;

/// One of GitHub's signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanningKey {
    /// `key_identifier`, what `Github-Public-Key-Identifier` names.
    pub identifier: String,
    /// The DER SubjectPublicKeyInfo of a P-256 key (uncompressed point), for Web Crypto's
    /// `importKey("spki", …)`.
    pub spki_der: Vec<u8>,
    /// `is_current`: the key GitHub signs with now. Kept for the record only: a key GitHub
    /// has replaced still verifies until the operator takes it out, so that a report signed
    /// just before a rotation is not lost.
    pub is_current: bool,
}

/// `SECRET_SCANNING_KEYS`: the document GitHub publishes at [`GITHUB_KEYS_URL`],
/// `{"public_keys": [{"key_identifier": "…", "key": "-----BEGIN PUBLIC KEY-----…",
/// "is_current": true}, …]}`, as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanningKeys(Vec<ScanningKey>);

impl ScanningKeys {
    /// Reads the document; every problem found (never a key's text) when it is unusable: not
    /// that shape, no key, a key that is not a P-256 public key in PEM, an identifier twice.
    pub fn parse(json: &str) -> Result<Self, Vec<String>> {
        let shape = || {
            format!(
                "must be the JSON GitHub publishes at {GITHUB_KEYS_URL}, as it is: {{\"public_keys\": [{{\"key_identifier\": \"…\", \"key\": \"-----BEGIN PUBLIC KEY-----…\", \"is_current\": true}}]}}"
            )
        };
        let document: Value = serde_json::from_str(json).map_err(|_| vec![shape()])?;
        let listed = document
            .get("public_keys")
            .and_then(Value::as_array)
            .ok_or_else(|| vec![shape()])?;
        if listed.is_empty() {
            return Err(vec![format!(
                "lists no key in `public_keys`; copy the document GitHub publishes at {GITHUB_KEYS_URL}"
            )]);
        }
        let mut keys = Vec::new();
        let mut problems = Vec::new();
        for (n, entry) in listed.iter().enumerate() {
            let identifier = entry
                .get("key_identifier")
                .and_then(Value::as_str)
                .filter(|id| {
                    (1..=MAX_KEY_IDENTIFIER_LEN).contains(&id.len())
                        && id.bytes().all(|b| b.is_ascii_graphic())
                });
            let Some(identifier) = identifier else {
                problems.push(format!(
                    "key {} of `public_keys` needs a `key_identifier`: 1 to {MAX_KEY_IDENTIFIER_LEN} visible ASCII characters",
                    n + 1
                ));
                continue;
            };
            let is_current = match entry.get("is_current") {
                None => false,
                Some(Value::Bool(current)) => *current,
                Some(_) => {
                    problems.push(format!(
                        "key `{identifier}`: `is_current` must be true or false"
                    ));
                    continue;
                }
            };
            if keys
                .iter()
                .any(|k: &ScanningKey| k.identifier == identifier)
            {
                problems.push(format!("key `{identifier}` is listed twice"));
                continue;
            }
            let der = entry
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| "has no `key`".to_owned())
                .and_then(public_key_der);
            match der {
                Ok(spki_der) => keys.push(ScanningKey {
                    identifier: identifier.to_owned(),
                    spki_der,
                    is_current,
                }),
                Err(why) => problems.push(format!("key `{identifier}` {why}")),
            }
        }
        if problems.is_empty() {
            Ok(ScanningKeys(keys))
        } else {
            Err(problems)
        }
    }

    /// The key `Github-Public-Key-Identifier` names, if it is configured.
    pub fn find(&self, identifier: &str) -> Option<&ScanningKey> {
        self.0.iter().find(|k| k.identifier == identifier)
    }

    /// Every configured key.
    pub fn keys(&self) -> &[ScanningKey] {
        &self.0
    }
}

/// The DER SubjectPublicKeyInfo inside a PEM `PUBLIC KEY` (RFC 7468 §13), which must be a
/// P-256 key with an uncompressed point (RFC 5480), as GitHub publishes them. The error says
/// what is wrong, never what was given.
pub fn public_key_der(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let body = pem
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .ok_or_else(|| {
            format!("is not a PEM public key: it must read `{BEGIN}`, base64, `{END}`")
        })?;
    let base64: String = body.split_ascii_whitespace().collect();
    let der = base64_decode(&base64)
        .ok_or("is not a PEM public key: its body is not base64 (RFC 4648, padded)")?;
    if der.len() != P256_SPKI_LEN || !der.starts_with(&P256_SPKI_PREFIX) {
        return Err(
            "is not an ECDSA P-256 public key (SubjectPublicKeyInfo, uncompressed point), which is what GitHub signs with".into(),
        );
    }
    Ok(der)
}

/// Why a `Github-Public-Key-Signature` is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureProblem {
    /// Not padded standard base64.
    NotBase64,
    /// Not a DER `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279 §2.2.3), with what is wrong.
    NotDer(&'static str),
}

impl core::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SignatureProblem::NotBase64 => {
                f.write_str("Github-Public-Key-Signature is not base64 (RFC 4648, padded)")
            }
            SignatureProblem::NotDer(why) => write!(
                f,
                "Github-Public-Key-Signature is not an ECDSA signature in ASN.1 DER: {why}"
            ),
        }
    }
}

/// A `Github-Public-Key-Signature` header as Web Crypto verifies it: base64 of a DER ECDSA
/// signature, turned into the 64 bytes `r || s`.
pub fn signature_from_header(header: &str) -> Result<[u8; 64], SignatureProblem> {
    let der = base64_decode(header.trim()).ok_or(SignatureProblem::NotBase64)?;
    p1363_signature(&der).map_err(SignatureProblem::NotDer)
}

/// Converts a DER ECDSA P-256 signature, `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279
/// §2.2.3), into `r || s`, each a 32-byte big-endian number (IEEE P1363, what Web Crypto's
/// ECDSA verifies, RFC 7518 §3.4). DER only (X.690 §10): short-form lengths (a P-256
/// signature is at most 72 bytes), minimal positive integers (one leading zero only before a
/// byte with its high bit set), nothing after `s`. `r` and `s` must be 1 to 32 bytes and not
/// zero; whether they are below the curve order is the verification's business.
pub fn p1363_signature(der: &[u8]) -> Result<[u8; 64], &'static str> {
    let content = match der {
        [0x30, len, content @ ..] if *len < 0x80 => {
            if content.len() != *len as usize {
                return Err("the SEQUENCE's length is not the signature's");
            }
            content
        }
        [0x30, len, ..] if *len >= 0x80 => {
            return Err("a long-form length, which DER never uses for a P-256 signature")
        }
        _ => return Err("it does not start with a SEQUENCE"),
    };
    let (r, rest) = der_integer(content)?;
    let (s, rest) = der_integer(rest)?;
    if !rest.is_empty() {
        return Err("bytes follow the two integers");
    }
    let mut raw = [0u8; 64];
    raw[32 - r.len()..32].copy_from_slice(r);
    raw[64 - s.len()..].copy_from_slice(s);
    Ok(raw)
}

/// One DER INTEGER at the start of `input`: its magnitude (without the sign byte) and what
/// follows.
fn der_integer(input: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let (len, rest) = match input {
        [0x02, len, rest @ ..] if *len < 0x80 => (*len as usize, rest),
        [0x02, ..] => return Err("an INTEGER with a long-form length or none"),
        _ => return Err("r and s must be two INTEGERs"),
    };
    if rest.len() < len {
        return Err("an INTEGER runs past the end");
    }
    let (value, rest) = rest.split_at(len);
    let magnitude = match value {
        [] => return Err("an empty INTEGER"),
        [first, ..] if first & 0x80 != 0 => return Err("a negative INTEGER"),
        [0, next, ..] if next & 0x80 == 0 => {
            return Err("an INTEGER with a leading zero it does not need")
        }
        [0, magnitude @ ..] if !magnitude.is_empty() => magnitude,
        magnitude => magnitude,
    };
    if magnitude.len() > 32 {
        return Err("an INTEGER longer than 32 bytes, too large for P-256");
    }
    if magnitude.iter().all(|b| *b == 0) {
        return Err("r or s is zero");
    }
    Ok((magnitude, rest))
}

/// One match GitHub reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedMatch {
    /// `token`: what GitHub's pattern matched.
    pub token: String,
    /// `type`: the name of the pattern, given back in the answer.
    pub token_type: String,
    /// `url`: where it was found (may be empty).
    pub url: String,
    /// `source`: what kind of place (`content`, `commit`, `npm`, …; may be absent).
    pub source: String,
}

/// A verified report's matches: a JSON array of objects with string `token` and `type`, and
/// optional string `url` and `source`. Fields GitHub may add later are ignored.
pub fn parse_report(body: &[u8]) -> Result<Vec<ReportedMatch>, String> {
    let shape = "the body must be a JSON array of matches like [{\"token\": \"eas_…\", \"type\": \"edgeauth_service_token\", \"url\": \"https://…\", \"source\": \"content\"}]";
    let report: Value = serde_json::from_slice(body).map_err(|_| shape.to_owned())?;
    let matches = report.as_array().ok_or(shape)?;
    matches
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let text = |field: &str, required: bool| match item.get(field) {
                Some(Value::String(s)) => Ok(s.clone()),
                None if !required => Ok(String::new()),
                _ => Err(format!(
                    "match {}: `{field}` must be a string{}; {shape}",
                    n + 1,
                    if required { "" } else { " when present" }
                )),
            };
            if !item.is_object() {
                return Err(format!("match {} is not an object; {shape}", n + 1));
            }
            Ok(ReportedMatch {
                token: text("token", true)?,
                token_type: text("type", true)?,
                url: text("url", false)?,
                source: text("source", false)?,
            })
        })
        .collect()
}

/// GitHub's label for a match: whether it is a real credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A token this server issued (revoked now, or already revoked or ended before).
    TruePositive,
    /// Anything else: not a token of this server.
    FalsePositive,
}

/// One element of the answer GitHub reads: the token by its SHA-256 (lower-case hex, as the
/// partner program allows, so that no secret travels back), the `type` it was reported with,
/// and the label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub token_hash: String,
    pub token_type: String,
    pub label: Label,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::base64_encode;
    use serde_json::json;

    /// A P-256 public key made with `openssl ecparam -name prime256v1 -genkey | openssl ec -pubout`.
    const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC2T5pHcXZ+1ZRpqkbA+jsQ29bF+u
W4Xn/16c2nMVLGsP95sJllhkjcSMp7mxKk/0rAqmB5zKjVwdP/eZZOqLAg==
-----END PUBLIC KEY-----
";

    fn spki() -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend((1..=64).map(|b| b as u8));
        der
    }

    fn pem_of(der: &[u8]) -> String {
        let base64 = base64_encode(der);
        let lines: Vec<&str> = base64
            .as_bytes()
            .chunks(64)
            .map(|c| core::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn a_pem_public_key_becomes_its_der() {
        let der = public_key_der(PEM).unwrap();
        assert_eq!(der.len(), 91);
        assert!(der.starts_with(&P256_SPKI_PREFIX));
        assert_eq!(public_key_der(&pem_of(&spki())).unwrap(), spki());
        // Line endings and indentation do not matter; the base64 must be whole.
        let crlf = pem_of(&spki()).replace('\n', "\r\n");
        assert_eq!(public_key_der(&format!("  {crlf}  ")).unwrap(), spki());
        let one_line = format!(
            "-----BEGIN PUBLIC KEY-----{}-----END PUBLIC KEY-----",
            base64_encode(&spki())
        );
        assert_eq!(public_key_der(&one_line).unwrap(), spki());
    }

    #[test]
    fn anything_but_a_p256_public_key_in_pem_is_refused() {
        let mut other_curve = spki();
        other_curve[22] = 0x22; // secp384r1's last OID byte
        let mut compressed = P256_SPKI_PREFIX[..26].to_vec();
        compressed.push(0x02);
        compressed.extend([7u8; 32]);
        let mut longer = spki();
        longer.push(0);
        for (bad, why) in [
            (String::new(), "PEM"),
            (base64_encode(&spki()), "PEM"),
            (PEM.replace("PUBLIC KEY", "PRIVATE KEY"), "PEM"),
            (PEM.replace("PUBLIC KEY", "EC PUBLIC KEY"), "PEM"),
            (PEM.replace("-----END PUBLIC KEY-----", ""), "PEM"),
            (PEM.replace("MFkw", "MFk*"), "base64"),
            (PEM.replace("Ag==", "Ag="), "base64"),
            (pem_of(&spki()[..90]), "P-256"),
            (pem_of(&longer), "P-256"),
            (pem_of(&other_curve), "P-256"),
            (pem_of(&compressed), "P-256"),
            (pem_of(b"not a key"), "P-256"),
        ] {
            let error = public_key_der(&bad).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }

    fn keys_json(keys: Value) -> String {
        json!({ "public_keys": keys }).to_string()
    }

    #[test]
    fn githubs_key_document_is_read_as_published() {
        let keys = ScanningKeys::parse(&keys_json(json!([
            {"key_identifier": "90a4", "key": PEM, "is_current": false},
            {"key_identifier": "bcb5", "key": pem_of(&spki()), "is_current": true},
        ])))
        .unwrap();
        assert_eq!(keys.keys().len(), 2);
        let current = keys.find("bcb5").unwrap();
        assert_eq!(current.spki_der, spki());
        assert!(current.is_current);
        // A replaced key still verifies (reports in flight at a rotation).
        assert!(!keys.find("90a4").unwrap().is_current);
        assert!(keys.find("90a").is_none() && keys.find("").is_none());
        // `is_current` may be absent; other fields are ignored.
        let minimal = ScanningKeys::parse(&keys_json(
            json!([{"key_identifier": "k", "key": PEM, "note": 1}]),
        ))
        .unwrap();
        assert!(!minimal.find("k").unwrap().is_current);
    }

    #[test]
    fn an_unusable_key_document_names_each_problem_without_the_keys() {
        for (bad, expected) in [
            ("".to_owned(), "must be the JSON GitHub publishes"),
            ("[]".to_owned(), "must be the JSON GitHub publishes"),
            ("{\"public_keys\": {}}".to_owned(), "must be the JSON"),
            (keys_json(json!([])), "lists no key"),
            (keys_json(json!([{"key": PEM}])), "needs a `key_identifier`"),
            (
                keys_json(json!([{"key_identifier": "", "key": PEM}])),
                "needs a `key_identifier`",
            ),
            (
                keys_json(json!([{"key_identifier": "a b", "key": PEM}])),
                "needs a `key_identifier`",
            ),
            (
                keys_json(json!([{"key_identifier": "x".repeat(129), "key": PEM}])),
                "needs a `key_identifier`",
            ),
            (keys_json(json!([{"key_identifier": "k"}])), "has no `key`"),
            (
                keys_json(json!([{"key_identifier": "k", "key": "MFkw"}])),
                "is not a PEM public key",
            ),
            (
                keys_json(json!([{"key_identifier": "k", "key": PEM, "is_current": "yes"}])),
                "`is_current`",
            ),
            (
                keys_json(json!([
                    {"key_identifier": "k", "key": PEM},
                    {"key_identifier": "k", "key": PEM},
                ])),
                "listed twice",
            ),
        ] {
            let problems = ScanningKeys::parse(&bad).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].contains(expected), "{bad}: {problems:?}");
            assert!(!problems[0].contains("MFkw"), "{problems:?}");
        }
        // Every problem at once.
        let problems = ScanningKeys::parse(&keys_json(json!([
            {"key_identifier": "a", "key": "x"},
            {"key_identifier": "b", "key": PEM},
            {"key_identifier": "c", "key": pem_of(b"short")},
        ])))
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("key `a`") && problems[1].starts_with("key `c`"));
    }

    /// `SEQUENCE { INTEGER r, INTEGER s }` from the integers' content bytes as given.
    fn der(r: &[u8], s: &[u8]) -> Vec<u8> {
        let mut content = vec![0x02, r.len() as u8];
        content.extend(r);
        content.extend([0x02, s.len() as u8]);
        content.extend(s);
        let mut out = vec![0x30, content.len() as u8];
        out.extend(content);
        out
    }

    #[test]
    fn a_der_signature_becomes_r_then_s_in_32_bytes_each() {
        let r: Vec<u8> = (1..=32).collect();
        let s: Vec<u8> = (101..=132).collect();
        let raw = p1363_signature(&der(&r, &s)).unwrap();
        assert_eq!(&raw[..32], &r[..]);
        assert_eq!(&raw[32..], &s[..]);
        // A high bit set: DER puts a zero byte before it (33 bytes), which goes.
        let mut high = vec![0xff; 32];
        high[31] = 0x01;
        let raw = p1363_signature(&der(&[&[0][..], &high].concat(), &s)).unwrap();
        assert_eq!(&raw[..32], &high[..]);
        // Shorter integers (leading zero bytes of the number dropped by DER) are left-padded.
        let raw = p1363_signature(&der(&[0x01], &[0x7f, 0x02])).unwrap();
        assert_eq!(raw[..31], [0; 31]);
        assert_eq!(raw[31], 0x01);
        assert_eq!(raw[32..62], [0; 30]);
        assert_eq!(raw[62..], [0x7f, 0x02]);
        let raw = p1363_signature(&der(&[0x00, 0x80], &[0x05])).unwrap();
        assert_eq!(raw[30..32], [0x00, 0x80]);
        // GitHub's documented example header: a 33-byte r (leading zero) and a 31-byte s.
        let example = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
        let raw = signature_from_header(example).unwrap();
        assert_eq!(raw[0], 0xda);
        assert_eq!(raw[32], 0x00);
        assert_eq!(raw[33], 0x5e);
    }

    #[test]
    fn malformed_der_signatures_are_refused_with_the_reason() {
        let ok: Vec<u8> = (1..=32).collect();
        let mut long_form = der(&ok, &ok);
        long_form.splice(1..2, [0x81, 0x44]);
        let mut trailing = der(&ok, &ok);
        trailing[1] += 1;
        trailing.push(0);
        let mut three = der(&ok, &ok);
        three[1] += 3;
        three.extend([0x02, 0x01, 0x01]);
        let mut short_sequence = der(&ok, &ok);
        short_sequence[1] -= 1;
        let mut not_integer = der(&ok, &ok);
        not_integer[2] = 0x04;
        let mut integer_long_form = vec![0x30, 0x26, 0x02, 0x81, 0x20];
        integer_long_form.extend(&ok);
        integer_long_form.extend([0x02, 0x01, 0x01]);
        for (bad, why) in [
            (vec![], "SEQUENCE"),
            (vec![0x31, 0x00], "SEQUENCE"),
            (vec![0x30], "SEQUENCE"),
            (vec![0x30, 0x00], "INTEGER"),
            (long_form, "long-form"),
            (short_sequence, "length"),
            (trailing, "follow"),
            (three, "follow"),
            (not_integer, "INTEGER"),
            (integer_long_form, "long-form"),
            (der(&ok, &[]), "empty"),
            (der(&[0x80], &ok), "negative"),
            (der(&[0xff; 32], &ok), "negative"),
            (der(&ok, &[0x00, 0x01]), "leading zero"),
            (der(&[0x00, 0x00, 0x80], &ok), "leading zero"),
            (der(&[0x00], &ok), "zero"),
            (der(&ok, &[0x00]), "zero"),
            (
                der(&[&[0x00, 0x80][..], &[0; 32]].concat(), &ok),
                "32 bytes",
            ),
            (der(&[0x01; 33], &ok), "32 bytes"),
            (der(&[0x01; 40], &ok), "32 bytes"),
        ] {
            let error = p1363_signature(&bad).unwrap_err();
            assert!(error.contains(why), "{bad:02x?}: {error}");
        }
        // An INTEGER whose length runs past the end.
        assert!(p1363_signature(&[0x30, 0x04, 0x02, 0x05, 0x01, 0x02])
            .unwrap_err()
            .contains("past the end"));
        // A raw 64-byte signature is not DER.
        assert!(p1363_signature(&[0x11; 64]).is_err());
    }

    /// Against an independent implementation: for signatures of many messages, the `r || s`
    /// made from the DER form is the signature p256 verifies with the key read from PEM, as
    /// Web Crypto does; among them, integers DER writes in 33 bytes and in fewer than 32.
    #[test]
    fn converted_signatures_verify_with_an_independent_p256() {
        use p256::ecdsa::signature::{Signer, Verifier};
        use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
        use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};

        let signing = SigningKey::from_slice(&[0x17; 32]).unwrap();
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let verifying = VerifyingKey::from_public_key_der(&public_key_der(&pem).unwrap()).unwrap();
        let (mut padded, mut short) = (0, 0);
        for n in 0..300u32 {
            let message = format!("[{{\"token\": \"eas_{n}\"}}]");
            let signature: Signature = signing.sign(message.as_bytes());
            let der = signature.to_der();
            let header = base64_encode(der.as_bytes());
            let raw = signature_from_header(&header).unwrap();
            assert_eq!(raw[..], signature.to_bytes()[..], "{header}");
            let from_raw = Signature::from_slice(&raw).unwrap();
            assert!(verifying.verify(message.as_bytes(), &from_raw).is_ok());
            assert!(verifying.verify(b"another body", &from_raw).is_err());
            let integers = [
                der.as_bytes()[3],
                der.as_bytes()[5 + der.as_bytes()[3] as usize],
            ];
            padded += integers.iter().filter(|len| **len == 33).count();
            short += integers.iter().filter(|len| **len < 32).count();
        }
        assert!(padded > 0 && short > 0, "{padded} padded, {short} short");
    }

    #[test]
    fn the_signature_header_must_be_base64_of_der() {
        let good = base64_encode(&der(&[0x01], &[0x02]));
        assert!(signature_from_header(&good).is_ok());
        assert!(signature_from_header(&format!(" {good} ")).is_ok());
        assert_eq!(
            signature_from_header("not base64!"),
            Err(SignatureProblem::NotBase64)
        );
        assert_eq!(
            signature_from_header(&good.replace('=', "")),
            Err(SignatureProblem::NotBase64)
        );
        assert!(matches!(
            signature_from_header(&base64_encode(b"hello")),
            Err(SignatureProblem::NotDer(_))
        ));
        let message = SignatureProblem::NotDer("r or s is zero").to_string();
        assert!(message.contains("Github-Public-Key-Signature") && message.contains("zero"));
    }

    #[test]
    fn a_report_is_githubs_array_of_matches() {
        let body = json!([
            {"token": "eas_x", "type": "edgeauth_service_token", "url": "https://github.com/o/r/blob/x", "source": "content"},
            {"token": "eau_y", "type": "edgeauth_user_token", "url": ""},
            {"token": "z", "type": "t", "new_field": [1]},
        ])
        .to_string();
        let matches = parse_report(body.as_bytes()).unwrap();
        assert_eq!(
            matches[0],
            ReportedMatch {
                token: "eas_x".into(),
                token_type: "edgeauth_service_token".into(),
                url: "https://github.com/o/r/blob/x".into(),
                source: "content".into(),
            }
        );
        assert_eq!(matches[1].url, "");
        assert_eq!(
            (matches[2].url.as_str(), matches[2].source.as_str()),
            ("", "")
        );
        assert!(parse_report(b"[]").unwrap().is_empty());
        for bad in [
            &b"not json"[..],
            b"{}",
            b"{\"token\": \"x\", \"type\": \"t\"}",
            b"[1]",
            b"[{\"type\": \"t\"}]",
            b"[{\"token\": \"x\"}]",
            b"[{\"token\": 5, \"type\": \"t\"}]",
            b"[{\"token\": \"x\", \"type\": \"t\", \"url\": null}]",
            b"[{\"token\": \"x\", \"type\": \"t\", \"source\": 1}]",
        ] {
            let error = parse_report(bad).unwrap_err();
            assert!(error.contains("JSON array"), "{error}");
        }
    }

    #[test]
    fn the_answer_has_githubs_field_names_and_labels() {
        let verdict = Verdict {
            token_hash: "ab".into(),
            token_type: "edgeauth_user_token".into(),
            label: Label::TruePositive,
        };
        assert_eq!(
            serde_json::to_value([
                verdict.clone(),
                Verdict {
                    label: Label::FalsePositive,
                    ..verdict
                }
            ])
            .unwrap(),
            json!([
                {"token_hash": "ab", "token_type": "edgeauth_user_token", "label": "true_positive"},
                {"token_hash": "ab", "token_type": "edgeauth_user_token", "label": "false_positive"},
            ])
        );
    }
}
