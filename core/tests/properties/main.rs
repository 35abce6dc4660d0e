//! Property tests of every parser in edgeauth-core (issue 10, "Hardening", item 3): no panic on
//! arbitrary input, round trips, canonical forms and the security invariants each parser
//! exists for. One test binary, one module per core module; the generators they share are in
//! `strategies`. Case counts are modest so that `cargo test -p edgeauth-core` stays fast; run
//! with `PROPTEST_CASES=10000` for a deeper search.

mod strategies;

mod access_token;
mod bearer;
mod cli_login;
mod config;
mod crypto;
mod device;
mod encoding;
mod grant;
mod id_token;
mod loopback;
mod oidc;
mod pkce;
mod project;
mod refresh;
mod return_to;
mod secret_scanning;
mod session;
mod token;
mod token_request;
mod workspace;
