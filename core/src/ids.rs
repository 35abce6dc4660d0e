//! The public ids of stored things. Each is a newtype over the text D1 keeps, so a user id
//! cannot be passed where a token id is expected; each kind has its own prefix (`usr_`,
//! `st_`/`ut_`, `ses_`, `fam_`) followed by random base62, which is not a secret.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{base62, Entropy};

/// Base62 characters after an id's prefix (about 119 bits).
pub const ID_CHARS: usize = 20;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Its `Default` is the empty id, which names nothing: what a reader makes of an API
        /// body that left the id out.
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// An id as stored or as a client sent it; its shape is checked where it is used
            /// (an unknown id simply finds nothing).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A person (`usr_…`), created at their first sign-in and keyed by (issuer, subject).
    UserId
);
id_type!(
    /// A stored API token: a service token (`st_…`) or a user token (`ut_…`).
    TokenId
);
id_type!(
    /// A browser session (`ses_…`); the cookie's value is a different, secret thing.
    SessionId
);
id_type!(
    /// A refresh-token family (`fam_…`): one device login and all its rotations.
    FamilyId
);

fn generate(prefix: &str, entropy: &mut dyn Entropy) -> String {
    format!("{prefix}{}", base62::random(ID_CHARS, entropy))
}

impl UserId {
    /// How every user id starts.
    pub const PREFIX: &'static str = "usr_";

    /// A new random user id.
    pub fn generate(entropy: &mut dyn Entropy) -> Self {
        Self(generate(Self::PREFIX, entropy))
    }
}

impl SessionId {
    /// How every session id starts.
    pub const PREFIX: &'static str = "ses_";

    /// A new random session id.
    pub fn generate(entropy: &mut dyn Entropy) -> Self {
        Self(generate(Self::PREFIX, entropy))
    }
}

impl TokenId {
    /// How a service token's id starts.
    pub const SERVICE_PREFIX: &'static str = "st_";
    /// How a user token's id starts.
    pub const USER_PREFIX: &'static str = "ut_";

    /// A new random service-token id (`st_…`).
    pub fn generate_service(entropy: &mut dyn Entropy) -> Self {
        Self(generate(Self::SERVICE_PREFIX, entropy))
    }

    /// A new random user-token id (`ut_…`).
    pub fn generate_user(entropy: &mut dyn Entropy) -> Self {
        Self(generate(Self::USER_PREFIX, entropy))
    }
}

/// A new trust policy's id (`tp_…`).
pub fn trust_policy_id(entropy: &mut dyn Entropy) -> String {
    generate("tp_", entropy)
}

/// A random id for one revoking request, stored with the revocation so that the audit event in
/// the same batch is recorded only by the request whose revocation took effect (two requests
/// may revoke one row in the same millisecond). Not a secret.
pub fn revocation_id(entropy: &mut dyn Entropy) -> String {
    generate("rev_", entropy)
}

/// An id for a request that came with none (no Cloudflare edge in front, as under `wrangler
/// dev`), for the audit trail: `req_…`. Not a secret.
pub fn request_id(entropy: &mut dyn Entropy) -> String {
    generate("req_", entropy)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_entropy::Counter;

    #[test]
    fn generated_ids_carry_their_kind_prefix() {
        let mut e = Counter(0);
        assert!(UserId::generate(&mut e).as_str().starts_with("usr_"));
        assert!(SessionId::generate(&mut e).as_str().starts_with("ses_"));
        assert!(TokenId::generate_service(&mut e)
            .as_str()
            .starts_with("st_"));
        let user_token = TokenId::generate_user(&mut e);
        assert!(user_token.as_str().starts_with("ut_"));
        assert_eq!(user_token.as_str().len(), 3 + ID_CHARS);
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = UserId::new("usr_abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"usr_abc\"");
        let back: UserId = serde_json::from_str("\"usr_abc\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(format!("{id}"), "usr_abc");
        assert_eq!(format!("{id:?}"), "UserId(\"usr_abc\")");
    }
}
