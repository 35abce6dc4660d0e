//! Finding the bearer credential in a request (RFC 6750 §2.1, and WebSocket upgrades).

use crate::encoding::base64url_decode;

/// Longest credential accepted, in bytes; anything longer is refused before it is hashed.
pub const MAX_CREDENTIAL_LEN: usize = 1024;

/// The WebSocket subprotocol prefix that carries a credential: `bearer.<base64url(token)>`,
/// since browsers cannot set headers on a WebSocket upgrade.
pub const WEBSOCKET_PROTOCOL_PREFIX: &str = "bearer.";

/// Why a presented credential could not even be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// `Authorization` with a scheme other than `Bearer`.
    NotBearer,
    /// `Bearer` with nothing after it, or whitespace inside.
    Malformed,
    /// Longer than [`MAX_CREDENTIAL_LEN`].
    TooLong,
    /// A `bearer.` subprotocol whose value is not base64url of a UTF-8 token.
    BadProtocolEncoding,
}

impl core::fmt::Display for BearerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BearerError::NotBearer => "the Authorization header must use the Bearer scheme: `Authorization: Bearer <token>`",
            BearerError::Malformed => "the Authorization header must be `Bearer <token>` with one token and no spaces in it",
            BearerError::TooLong => "the credential is too long to be a token",
            BearerError::BadProtocolEncoding => "the `bearer.` WebSocket subprotocol must carry the token as unpadded base64url",
        })
    }
}

/// The token in an `Authorization` header value. The scheme is case-insensitive (RFC 9110 §11.1).
pub fn from_authorization(value: &str) -> Result<&str, BearerError> {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(BearerError::Malformed);
    }
    if token.len() > MAX_CREDENTIAL_LEN {
        return Err(BearerError::TooLong);
    }
    Ok(token)
}

/// The token in a `Sec-WebSocket-Protocol` header value, if one of its comma-separated
/// protocols is `bearer.<base64url(token)>`.
pub fn from_websocket_protocols(value: &str) -> Option<Result<String, BearerError>> {
    let encoded = value
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(WEBSOCKET_PROTOCOL_PREFIX))?;
    // A cheap bound before decoding; the limit itself is on the decoded token, as for a header.
    if encoded.len() > MAX_CREDENTIAL_LEN * 4 / 3 + 4 {
        return Some(Err(BearerError::TooLong));
    }
    let token = base64url_decode(encoded)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|t| !t.is_empty() && !t.contains(|c: char| c.is_whitespace() || c.is_control()));
    Some(match token {
        None => Err(BearerError::BadProtocolEncoding),
        Some(t) if t.len() > MAX_CREDENTIAL_LEN => Err(BearerError::TooLong),
        Some(t) => Ok(t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens_case_insensitively() {
        assert_eq!(from_authorization("Bearer abc"), Ok("abc"));
        assert_eq!(from_authorization("bearer abc"), Ok("abc"));
        assert_eq!(from_authorization("BEARER  abc "), Ok("abc"));
    }

    #[test]
    fn refuses_other_schemes_and_malformed_values() {
        assert_eq!(
            from_authorization("Basic dXNlcjpwYXNz"),
            Err(BearerError::NotBearer)
        );
        assert_eq!(from_authorization("Token abc"), Err(BearerError::NotBearer));
        assert_eq!(from_authorization("abc"), Err(BearerError::NotBearer));
        assert_eq!(from_authorization("Bearer"), Err(BearerError::Malformed));
        assert_eq!(from_authorization("Bearer "), Err(BearerError::Malformed));
        assert_eq!(
            from_authorization("Bearer a b"),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            from_authorization("Bearer a\tb"),
            Err(BearerError::Malformed)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_CREDENTIAL_LEN + 1));
        assert_eq!(from_authorization(&long), Err(BearerError::TooLong));
    }

    #[test]
    fn reads_the_websocket_subprotocol_among_others() {
        // base64url("eas_x") = "ZWFzX3g"
        assert_eq!(
            from_websocket_protocols("chat, bearer.ZWFzX3g"),
            Some(Ok("eas_x".to_owned()))
        );
        assert_eq!(from_websocket_protocols("chat, superchat"), None);
        assert_eq!(
            from_websocket_protocols("bearer.***"),
            Some(Err(BearerError::BadProtocolEncoding))
        );
        assert_eq!(
            from_websocket_protocols("bearer."),
            Some(Err(BearerError::BadProtocolEncoding))
        );
    }

    #[test]
    fn the_length_limit_is_the_same_for_both_carriers() {
        // The bound on the encoded length alone let 1025- and 1026-byte tokens through.
        use crate::encoding::base64url_encode;
        for len in MAX_CREDENTIAL_LEN - 1..=MAX_CREDENTIAL_LEN + 2 {
            let token = "t".repeat(len);
            let unpadded = base64url_encode(token.as_bytes());
            let padded = format!("{unpadded}{}", "=".repeat((4 - unpadded.len() % 4) % 4));
            let expected = from_authorization(&format!("Bearer {token}")).map(str::to_owned);
            assert_eq!(expected.is_ok(), len <= MAX_CREDENTIAL_LEN);
            for encoded in [unpadded, padded] {
                assert_eq!(
                    from_websocket_protocols(&format!("chat, bearer.{encoded}")),
                    Some(expected.clone()),
                    "{len} bytes as {} characters",
                    encoded.len()
                );
            }
        }
    }
}
