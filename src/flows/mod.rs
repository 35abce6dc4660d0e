//! The sign-in flows: browser sign-in with the OIDC provider ([`sign_in`], its I/O in
//! [`oidc`]), the CLI loopback login ([`cli_login`]), the device login ([`device`]) and the
//! token endpoint that ends it and refreshes it ([`token_grant`]), where a CI job also trades
//! its platform's ID token for an access token ([`exchange`]). A refresh asks the provider
//! again for the person's teams ([`provider_refresh`]).

pub mod account;
pub mod cli_login;
pub mod device;
pub mod exchange;
pub mod oidc;
pub mod provider_refresh;
pub mod sign_in;
pub mod token_grant;
