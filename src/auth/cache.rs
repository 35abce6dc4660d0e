//! What this isolate remembers of verified credentials (docs/api.md, "Revocation"): a stored
//! token or a session, keyed by the SHA-256 of what was presented (never the plaintext), and
//! trusted without reading D1 again for at most `REVOCATION_BOUND_SECONDS` and never past its
//! own expiry (`edgeauth_core::cache::trusted_until`). Every check verification makes on a
//! stored record (revoked? expired? this project?) is made again on a remembered one, at
//! every request, so a token still expires at its expiry.
//!
//! A revocation or sign-out forgets the credential at once here, in the isolate that did it
//! ([`forget_token`], [`forget_login`]); other isolates stop accepting it when their memory of
//! it runs out, within the bound. At most [`CAPACITY`] tokens and as
//! many sessions are held (a few MB at most), the oldest first to go.
//!
//! A project's role teams (its override in D1, or the configuration's), its lifetime policy
//! (none too) and its live trust policies are remembered for the same bound: changing them
//! takes effect here at once and everywhere within it.
//!
//! Access tokens are remembered too, after their signature was verified once, until their own
//! expiry: nothing can revoke one, so remembering it changes no answer, and it saves an
//! Ed25519 verification per request.

use std::cell::RefCell;

use edgeauth_core::cache::{trusted_until, ExpiringCache};
use edgeauth_core::lifetime::LifetimePolicy;
use edgeauth_core::{Login, Principal, ProjectName, TeamRoles, TokenHash, TokenId};

use crate::store::{SessionRecord, TokenRecord, TokenTable, TrustPolicyRecord};

/// Most tokens, and most sessions, remembered at once.
pub const CAPACITY: usize = 10_000;

type TokenKey = (TokenTable, String);

thread_local! {
    static TOKENS: RefCell<ExpiringCache<TokenKey, TokenRecord>> =
        RefCell::new(ExpiringCache::new(CAPACITY));
    static SESSIONS: RefCell<ExpiringCache<String, SessionRecord>> =
        RefCell::new(ExpiringCache::new(CAPACITY));
    static ACCESS_TOKENS: RefCell<ExpiringCache<String, Principal>> =
        RefCell::new(ExpiringCache::new(CAPACITY));
    static PROJECT_ROLES: RefCell<ExpiringCache<String, TeamRoles>> =
        RefCell::new(ExpiringCache::new(PROJECTS_CAPACITY));
    static TRUST_POLICIES: RefCell<ExpiringCache<String, Vec<TrustPolicyRecord>>> =
        RefCell::new(ExpiringCache::new(PROJECTS_CAPACITY));
    static LIFETIME_POLICIES: RefCell<ExpiringCache<String, LifetimePolicy>> =
        RefCell::new(ExpiringCache::new(PROJECTS_CAPACITY));
}

/// The remembered lifetime policy of `project` (the default, limiting nothing, for a project
/// without one), if any.
pub fn lifetime_policy(project: &ProjectName, now_ms: i64) -> Option<LifetimePolicy> {
    LIFETIME_POLICIES.with(|c| {
        c.borrow_mut()
            .get(&project.as_str().to_owned(), now_ms)
            .copied()
    })
}

/// Remembers `project`'s lifetime policy, as read now, for at most `bound_s`.
pub fn remember_lifetime_policy(
    project: &ProjectName,
    policy: &LifetimePolicy,
    bound_s: u32,
    now_ms: i64,
) {
    if let Some(until) = trusted_until(now_ms, bound_s, None) {
        LIFETIME_POLICIES.with(|c| {
            c.borrow_mut()
                .insert(project.as_str().to_owned(), *policy, until, now_ms)
        });
    }
}

/// Forgets `project`'s lifetime policy (set or removed here).
pub fn forget_lifetime_policy(project: &ProjectName) {
    LIFETIME_POLICIES.with(|c| c.borrow_mut().remove(&project.as_str().to_owned()));
}

/// The remembered live trust policies of `project` (all of them, whatever issuer an ID token
/// names, so that a flood of exchanges costs one read per bound and no made-up issuer can push
/// a real entry out).
pub fn trust_policies(project: &ProjectName, now_ms: i64) -> Option<Vec<TrustPolicyRecord>> {
    TRUST_POLICIES.with(|c| {
        c.borrow_mut()
            .get(&project.as_str().to_owned(), now_ms)
            .cloned()
    })
}

/// Remembers `project`'s live policies, as read now, for at most `bound_s`.
pub fn remember_trust_policies(
    project: &ProjectName,
    policies: &[TrustPolicyRecord],
    bound_s: u32,
    now_ms: i64,
) {
    if let Some(until) = trusted_until(now_ms, bound_s, None) {
        TRUST_POLICIES.with(|c| {
            c.borrow_mut().insert(
                project.as_str().to_owned(),
                policies.to_vec(),
                until,
                now_ms,
            )
        });
    }
}

/// Forgets the remembered trust policies of `project` (one was created or deleted here).
pub fn forget_trust_policies(project: &ProjectName) {
    TRUST_POLICIES.with(|c| c.borrow_mut().remove(&project.as_str().to_owned()));
}

/// Most projects whose role teams (and, apart, trust and lifetime policies) are remembered at
/// once.
pub const PROJECTS_CAPACITY: usize = 1_000;

/// The remembered role teams of `project`, if any.
pub fn project_roles(project: &ProjectName, now_ms: i64) -> Option<TeamRoles> {
    PROJECT_ROLES.with(|c| {
        c.borrow_mut()
            .get(&project.as_str().to_owned(), now_ms)
            .cloned()
    })
}

/// Remembers `project`'s role teams, as read now, for at most `bound_s`.
pub fn remember_project_roles(project: &ProjectName, roles: &TeamRoles, bound_s: u32, now_ms: i64) {
    if let Some(until) = trusted_until(now_ms, bound_s, None) {
        PROJECT_ROLES.with(|c| {
            c.borrow_mut()
                .insert(project.as_str().to_owned(), roles.clone(), until, now_ms)
        });
    }
}

/// Forgets `project`'s role teams (changed here).
pub fn forget_project_roles(project: &ProjectName) {
    PROJECT_ROLES.with(|c| c.borrow_mut().remove(&project.as_str().to_owned()));
}

/// The principal of the access token whose SHA-256 is `hash`, verified before and not yet
/// expired.
pub fn access_token(hash: &TokenHash, now_ms: i64) -> Option<Principal> {
    ACCESS_TOKENS.with(|c| {
        c.borrow_mut()
            .get(&hash.as_hex().to_owned(), now_ms)
            .cloned()
    })
}

/// Remembers a verified access token's principal until the token expires.
pub fn remember_access_token(hash: &TokenHash, principal: &Principal, now_ms: i64) {
    if let Some(until) = principal.expires_at_ms.filter(|until| *until > now_ms) {
        ACCESS_TOKENS.with(|c| {
            c.borrow_mut()
                .insert(hash.as_hex().to_owned(), principal.clone(), until, now_ms)
        });
    }
}

fn token_key(table: TokenTable, hash: &TokenHash) -> TokenKey {
    (table, hash.as_hex().to_owned())
}

/// The remembered record of the token whose SHA-256 is `hash`, if any.
pub fn token(table: TokenTable, hash: &TokenHash, now_ms: i64) -> Option<TokenRecord> {
    TOKENS.with(|c| c.borrow_mut().get(&token_key(table, hash), now_ms).cloned())
}

/// Remembers a token read from D1 (live, of the request's project), for at most `bound_s`.
pub fn remember_token(
    table: TokenTable,
    hash: &TokenHash,
    record: &TokenRecord,
    bound_s: u32,
    now_ms: i64,
) {
    if let Some(until) = trusted_until(now_ms, bound_s, record.expires_at) {
        TOKENS.with(|c| {
            c.borrow_mut()
                .insert(token_key(table, hash), record.clone(), until, now_ms)
        });
    }
}

/// Notes that a use of the remembered token was recorded at `now_ms`, so the next
/// "at most every 5 minutes" decision needs no read.
pub fn note_use(table: TokenTable, hash: &TokenHash, now_ms: i64) {
    TOKENS.with(|c| {
        if let Some(record) = c.borrow_mut().get_mut(&token_key(table, hash), now_ms) {
            record.last_used_at = Some(now_ms);
        }
    });
}

/// The remembered session whose cookie hashes to `hash`, if any.
pub fn session(hash: &TokenHash, now_ms: i64) -> Option<SessionRecord> {
    SESSIONS.with(|c| {
        c.borrow_mut()
            .get(&hash.as_hex().to_owned(), now_ms)
            .cloned()
    })
}

/// Remembers a live session read from D1, for at most `bound_s`.
pub fn remember_session(hash: &TokenHash, record: &SessionRecord, bound_s: u32, now_ms: i64) {
    if let Some(until) = trusted_until(now_ms, bound_s, Some(record.expires_at)) {
        SESSIONS.with(|c| {
            c.borrow_mut()
                .insert(hash.as_hex().to_owned(), record.clone(), until, now_ms)
        });
    }
}

/// Forgets the token `id` (revoked here).
pub fn forget_token(id: &TokenId) {
    TOKENS.with(|c| c.borrow_mut().remove_where(|record| record.id == *id));
}

/// Forgets every token created with `login`, and the session itself if it is one (ended
/// here: signed out, or a device login revoked).
pub fn forget_login(login: &Login) {
    TOKENS.with(|c| {
        c.borrow_mut()
            .remove_where(|record| record.parent.as_ref() == Some(login))
    });
    if let Login::Session(id) = login {
        SESSIONS.with(|c| c.borrow_mut().remove_where(|record| record.id == *id));
    }
}

/// How many tokens and sessions are remembered now (expired ones not yet dropped included).
pub fn sizes() -> (usize, usize) {
    (
        TOKENS.with(|c| c.borrow().len()),
        SESSIONS.with(|c| c.borrow().len()),
    )
}
