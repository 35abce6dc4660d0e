//! edgeauth-core: the rules of edgeauth, with no I/O.
//!
//! Everything here compiles for the host and for wasm32 and is pinned down by unit tests:
//! token formats and checksums, signed access tokens and refresh-token rotation, hashing and
//! constant-time comparison, key derivation from the root secret, workspace patterns, project
//! names, configuration parsing, credential extraction, sign-in state, ID-token checks, the
//! authorization policy and projects' lifetime policies ([`lifetime`]); and the JSON bodies of
//! the REST API ([`api`]), which the Worker writes and the CLI reads. The Worker translates
//! HTTP to calls on this crate.

pub mod access_token;
pub mod api;
pub mod assertion;
pub mod audit;
pub mod base62;
pub mod bearer;
pub mod cache;
pub mod cli_login;
pub mod config;
pub mod crypto;
pub mod device;
pub mod encoding;
pub mod gateway;
pub mod grant;
pub mod id_token;
pub mod ids;
pub mod leak;
pub mod lifetime;
pub mod loopback;
pub mod oidc;
pub mod pkce;
pub mod policy;
pub mod project;
pub mod rate_limit;
pub mod refresh;
pub mod return_to;
pub mod role;
pub mod sealed;
pub mod secret;
pub mod secret_scanning;
pub mod session;
pub mod signing;
pub mod time;
pub mod token;
pub mod token_request;
pub mod trust;
pub mod uri;
pub mod workspace;

pub use config::{Config, ConfigProblem};
pub use crypto::{constant_time_eq, sha256_hex, RootSecret, TokenHash};
pub use ids::{FamilyId, SessionId, TokenId, UserId};
pub use policy::{BrowserSession, Credential, Login, Principal, PrincipalKind};
pub use project::ProjectName;
pub use role::{Role, TeamRoles};
pub use token::{TokenError, TokenKind};
pub use workspace::{Scope, WorkspaceName, WorkspacePattern};

/// A source of cryptographically secure random bytes, supplied by the runtime.
///
/// `core` does no I/O, so the Worker passes its CSPRNG (Web Crypto through `getrandom`) in.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// A predictable [`Entropy`] for unit tests: bytes counting up from the seed.
#[cfg(test)]
pub(crate) mod test_entropy {
    use super::Entropy;

    pub struct Counter(pub u8);

    impl Entropy for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
    }
}
