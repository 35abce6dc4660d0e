//! The token endpoint's request (`POST /api/auth/token`, RFC 6749 §3.2): which grant, with
//! which parameters, or the RFC 6749 §5.2 error that refuses it.
//!
//! Three grants are served: the device code (RFC 8628 §3.4), the refresh token (RFC 6749
//! §6) and the token exchange of a CI job's ID token (RFC 8693, see [`crate::trust`]). Parameters come as an `application/x-www-form-urlencoded` body, as RFC 6749 requires,
//! or as a JSON object of strings. A parameter sent with an empty value counts as omitted
//! (RFC 6749 §3.1), one sent twice is refused (§3.2), and unknown ones (`client_id`, `scope`)
//! are ignored.

use core::fmt;

use serde_json::Value;

/// `grant_type` of a device-code poll (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// `grant_type` of a refresh (RFC 6749 §6).
pub const REFRESH_TOKEN_GRANT_TYPE: &str = "refresh_token";
/// `grant_type` of a token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The `subject_token_type`s a token exchange takes (RFC 8693 §3): an OpenID Connect ID
/// token, or a JWT (what CI platforms call theirs).
pub const SUBJECT_TOKEN_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:jwt",
];
/// The `issued_token_type` of an exchange's answer (RFC 8693 §2.2.1).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token request, checked for shape only: the device code or refresh token it carries is
/// judged against storage by the Worker. Redacts itself in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenGrant {
    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=…`.
    DeviceCode { device_code: String },
    /// `grant_type=refresh_token&refresh_token=…`.
    RefreshToken { refresh_token: String },
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=…&
    /// subject_token_type=…:id_token` (or `…:jwt`): a CI job's ID token.
    TokenExchange { subject_token: String },
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenGrant::DeviceCode { .. } => f.write_str("DeviceCode(<redacted>)"),
            TokenGrant::RefreshToken { .. } => f.write_str("RefreshToken(<redacted>)"),
            TokenGrant::TokenExchange { .. } => f.write_str("TokenExchange(<redacted>)"),
        }
    }
}

/// An RFC 6749 §5.2 refusal of a token request: `error` and `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantError {
    /// `invalid_request` or `unsupported_grant_type`.
    pub error: &'static str,
    /// What is wrong and how to fix it; never a presented secret.
    pub description: String,
}

impl GrantError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_request",
            description: description.into(),
        }
    }
}

impl TokenGrant {
    /// The grant of a request whose parameters are `pairs` (form fields, in order).
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, GrantError> {
        let param = |name: &str| -> Result<Option<&str>, GrantError> {
            let mut values = pairs
                .iter()
                .filter(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_str());
            let first = values.next();
            if values.next().is_some() {
                return Err(GrantError::invalid_request(format!(
                    "`{name}` is given more than once; send each parameter once (RFC 6749 §3.2)"
                )));
            }
            Ok(first)
        };
        let required = |name: &str, grant_type: &str| -> Result<String, GrantError> {
            param(name)?.map(str::to_owned).ok_or_else(|| {
                GrantError::invalid_request(format!(
                    "`{name}` is required with grant_type `{grant_type}`"
                ))
            })
        };
        match param("grant_type")? {
            None => Err(GrantError::invalid_request(format!(
                "`grant_type` is required: `{DEVICE_CODE_GRANT_TYPE}`, `{REFRESH_TOKEN_GRANT_TYPE}` or `{TOKEN_EXCHANGE_GRANT_TYPE}`"
            ))),
            Some(DEVICE_CODE_GRANT_TYPE) => Ok(TokenGrant::DeviceCode {
                device_code: required("device_code", DEVICE_CODE_GRANT_TYPE)?,
            }),
            Some(REFRESH_TOKEN_GRANT_TYPE) => Ok(TokenGrant::RefreshToken {
                refresh_token: required("refresh_token", REFRESH_TOKEN_GRANT_TYPE)?,
            }),
            Some(TOKEN_EXCHANGE_GRANT_TYPE) => {
                let subject_token = required("subject_token", TOKEN_EXCHANGE_GRANT_TYPE)?;
                let token_type = required("subject_token_type", TOKEN_EXCHANGE_GRANT_TYPE)?;
                if !SUBJECT_TOKEN_TYPES.contains(&token_type.as_str()) {
                    return Err(GrantError::invalid_request(format!(
                        "`subject_token_type` must be `{}` or `{}`: the ID token your CI platform issued",
                        SUBJECT_TOKEN_TYPES[0], SUBJECT_TOKEN_TYPES[1]
                    )));
                }
                Ok(TokenGrant::TokenExchange { subject_token })
            }
            Some(other) => Err(GrantError {
                error: "unsupported_grant_type",
                description: format!(
                    "grant_type `{}` is not supported here; use `{DEVICE_CODE_GRANT_TYPE}`, `{REFRESH_TOKEN_GRANT_TYPE}` or `{TOKEN_EXCHANGE_GRANT_TYPE}`",
                    other.chars().take(100).collect::<String>().escape_default()
                ),
            }),
        }
    }

    /// The form parameters of this grant, as a client sends them: `grant_type` and the
    /// device code, refresh token or subject token (with its type). [`TokenGrant::from_pairs`]
    /// reads them back.
    pub fn form_pairs(&self) -> Vec<(&'static str, &str)> {
        match self {
            TokenGrant::DeviceCode { device_code } => vec![
                ("grant_type", DEVICE_CODE_GRANT_TYPE),
                ("device_code", device_code),
            ],
            TokenGrant::RefreshToken { refresh_token } => vec![
                ("grant_type", REFRESH_TOKEN_GRANT_TYPE),
                ("refresh_token", refresh_token),
            ],
            TokenGrant::TokenExchange { subject_token } => vec![
                ("grant_type", TOKEN_EXCHANGE_GRANT_TYPE),
                ("subject_token", subject_token),
                ("subject_token_type", SUBJECT_TOKEN_TYPES[0]),
            ],
        }
    }

    /// The grant of a JSON body: an object whose parameters are strings (others, such as
    /// numbers or arrays, are refused; `null` counts as omitted).
    pub fn from_json(body: &Value) -> Result<Self, GrantError> {
        let object = body.as_object().ok_or_else(|| {
            GrantError::invalid_request(
                "the body must be a form (`application/x-www-form-urlencoded`) or a JSON object like {\"grant_type\": \"refresh_token\", \"refresh_token\": \"ear_…\"}",
            )
        })?;
        let mut pairs = Vec::with_capacity(object.len());
        for (key, value) in object {
            match value {
                Value::String(s) => pairs.push((key.clone(), s.clone())),
                Value::Null => {}
                _ if [
                    "grant_type",
                    "device_code",
                    "refresh_token",
                    "subject_token",
                    "subject_token_type",
                ]
                .contains(&key.as_str()) =>
                {
                    return Err(GrantError::invalid_request(format!(
                        "`{key}` must be a string"
                    )))
                }
                _ => {}
            }
        }
        Self::from_pairs(&pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn grant(list: &[(&str, &str)]) -> Result<TokenGrant, GrantError> {
        TokenGrant::from_pairs(&pairs(list))
    }

    #[test]
    fn the_two_grants_are_recognised() {
        assert_eq!(
            grant(&[
                ("grant_type", DEVICE_CODE_GRANT_TYPE),
                ("device_code", "abc"),
                ("client_id", "ignored")
            ]),
            Ok(TokenGrant::DeviceCode {
                device_code: "abc".into()
            })
        );
        assert_eq!(
            grant(&[("refresh_token", "ear_x"), ("grant_type", "refresh_token")]),
            Ok(TokenGrant::RefreshToken {
                refresh_token: "ear_x".into()
            })
        );
    }

    #[test]
    fn a_token_exchange_needs_an_id_token_type() {
        let exchange = |t: &str| {
            grant(&[
                ("grant_type", TOKEN_EXCHANGE_GRANT_TYPE),
                ("subject_token", "eyJ.x.y"),
                ("subject_token_type", t),
            ])
        };
        for t in SUBJECT_TOKEN_TYPES {
            assert_eq!(
                exchange(t),
                Ok(TokenGrant::TokenExchange {
                    subject_token: "eyJ.x.y".into()
                })
            );
        }
        let e = exchange("urn:ietf:params:oauth:token-type:access_token").unwrap_err();
        assert_eq!(e.error, "invalid_request");
        assert!(e.description.contains("subject_token_type"), "{e:?}");
        let e = grant(&[
            ("grant_type", TOKEN_EXCHANGE_GRANT_TYPE),
            ("subject_token", "x"),
        ])
        .unwrap_err();
        assert!(
            e.description.contains("`subject_token_type` is required"),
            "{e:?}"
        );
        assert!(!format!("{:?}", exchange(SUBJECT_TOKEN_TYPES[0])).contains("eyJ"));
    }

    #[test]
    fn a_grant_reads_back_from_its_own_form() {
        for grant in [
            TokenGrant::DeviceCode {
                device_code: "dc".into(),
            },
            TokenGrant::RefreshToken {
                refresh_token: "ear_x".into(),
            },
            TokenGrant::TokenExchange {
                subject_token: "eyJ.x.y".into(),
            },
        ] {
            let form: Vec<(String, String)> = grant
                .form_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(TokenGrant::from_pairs(&form), Ok(grant));
        }
        assert_eq!(
            TokenGrant::DeviceCode {
                device_code: "dc".into()
            }
            .form_pairs(),
            [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", "dc")
            ]
        );
    }

    #[test]
    fn missing_parameters_are_invalid_request() {
        for list in [
            &[][..],
            &[("grant_type", "")][..],
            &[("grant_type", DEVICE_CODE_GRANT_TYPE)][..],
            &[("grant_type", DEVICE_CODE_GRANT_TYPE), ("device_code", "")][..],
            &[("grant_type", "refresh_token"), ("device_code", "x")][..],
        ] {
            let e = grant(list).unwrap_err();
            assert_eq!(e.error, "invalid_request", "{list:?}");
            assert!(e.description.contains("required"), "{e:?}");
        }
    }

    #[test]
    fn a_repeated_parameter_is_invalid_request() {
        let e = grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "a"),
            ("refresh_token", "b"),
        ])
        .unwrap_err();
        assert_eq!(e.error, "invalid_request");
        assert!(e.description.contains("more than once"));
        // An empty repeat counts as omitted.
        assert!(grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "a"),
            ("refresh_token", "")
        ])
        .is_ok());
    }

    #[test]
    fn an_unknown_grant_type_is_unsupported() {
        for other in [
            "authorization_code",
            "password",
            "client_credentials",
            "REFRESH_TOKEN",
        ] {
            let e = grant(&[("grant_type", other), ("refresh_token", "x")]).unwrap_err();
            assert_eq!(e.error, "unsupported_grant_type", "{other}");
        }
        let e = grant(&[("grant_type", &"\u{202E}x".repeat(200))]).unwrap_err();
        assert!(!e.description.contains('\u{202E}'));
        assert!(e.description.len() < 1200);
    }

    #[test]
    fn json_bodies_carry_the_same_parameters() {
        assert_eq!(
            TokenGrant::from_json(
                &json!({"grant_type": "refresh_token", "refresh_token": "ear_x", "n": 5})
            ),
            Ok(TokenGrant::RefreshToken {
                refresh_token: "ear_x".into()
            })
        );
        let e = TokenGrant::from_json(&json!({"grant_type": "refresh_token", "refresh_token": 5}))
            .unwrap_err();
        assert_eq!(e.error, "invalid_request");
        let e =
            TokenGrant::from_json(&json!({"grant_type": "refresh_token", "refresh_token": null}))
                .unwrap_err();
        assert!(e.description.contains("required"));
        assert_eq!(
            TokenGrant::from_json(&json!(["x"])).unwrap_err().error,
            "invalid_request"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let g = TokenGrant::RefreshToken {
            refresh_token: "ear_secret".into(),
        };
        assert!(!format!("{g:?}").contains("secret"));
        let g = TokenGrant::DeviceCode {
            device_code: "s3cret".into(),
        };
        assert!(!format!("{g:?}").contains("s3cret"));
    }
}
