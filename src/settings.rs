//! The deployment's settings, read, validated and turned into keys once per isolate: vars and
//! secrets are fixed for a deployment version (changing one deploys a new version, in new
//! isolates), so no request re-reads the environment or re-derives a key.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use edgeauth_core::config::OidcSettings;
use edgeauth_core::crypto::{DerivedKey, KeyPurpose};
use edgeauth_core::signing::KeyRing;
use edgeauth_core::{Config, ConfigProblem, ProjectName, RootSecret};
use worker::Env;

use crate::error::ApiError;

/// Validated settings and the keys derived from `SECRET` (and `SECRET_PREVIOUS`).
pub struct Settings {
    pub config: Config,
    /// `None` without `SECRET`.
    keys: Option<Keys>,
    /// From `SECRET_PREVIOUS`: keys that still verify, never sign or tag anything new.
    previous: Option<Keys>,
}

struct Keys {
    root: RootSecret,
    cookies: DerivedKey,
    /// The published Ed25519 keys: access tokens and gateway assertions.
    signing_keys: KeyRing,
    user_tokens: DerivedKey,
    refresh_tokens: DerivedKey,
    refresh_successors: DerivedKey,
    sessions: DerivedKey,
    /// Seals the identity provider's refresh tokens kept with people.
    provider_tokens: DerivedKey,
    /// Per-project service-token keys, derived at a project's first request and kept (at most
    /// [`PROJECT_KEYS`]: projects are named by requests, so the map is emptied when full
    /// rather than let grow without end).
    projects: RefCell<HashMap<String, DerivedKey>>,
}

impl Keys {
    fn derive(root: &RootSecret, signing_key_period_s: u32) -> Self {
        Keys {
            root: root.clone(),
            cookies: root.derive(KeyPurpose::Cookies),
            signing_keys: KeyRing::new(root.derive(KeyPurpose::SigningKeys), signing_key_period_s),
            user_tokens: root.derive(KeyPurpose::UserTokens),
            refresh_tokens: root.derive(KeyPurpose::RefreshTokens),
            refresh_successors: root.derive(KeyPurpose::RefreshSuccessors),
            sessions: root.derive(KeyPurpose::Sessions),
            provider_tokens: root.derive(KeyPurpose::ProviderTokens),
            projects: RefCell::new(HashMap::new()),
        }
    }

    /// The key that tags `project`'s service tokens, derived once per project per isolate.
    fn project(&self, project: &ProjectName) -> DerivedKey {
        let mut projects = self.projects.borrow_mut();
        if let Some(key) = projects.get(project.as_str()) {
            return key.clone();
        }
        if projects.len() >= PROJECT_KEYS {
            projects.clear();
        }
        let key = self.root.derive(KeyPurpose::ServiceTokens {
            project: project.as_str(),
        });
        projects.insert(project.as_str().to_owned(), key.clone());
        key
    }
}

/// Most per-project keys kept at once.
const PROJECT_KEYS: usize = 1024;

thread_local! {
    static SETTINGS: std::cell::OnceCell<Result<Rc<Settings>, Vec<ConfigProblem>>> =
        const { std::cell::OnceCell::new() };
}

impl Settings {
    /// The isolate's settings, read from `env` the first time.
    pub fn of(env: &Env) -> Result<Rc<Settings>, Vec<ConfigProblem>> {
        SETTINGS.with(|cell| {
            cell.get_or_init(|| {
                Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
                    .map(|config| Rc::new(Settings::new(config)))
            })
            .clone()
        })
    }

    fn new(config: Config) -> Self {
        let period = config.signing_key_period_s;
        let keys = config
            .secret
            .as_ref()
            .map(|root| Keys::derive(root, period));
        let previous = config
            .secret_previous
            .as_ref()
            .filter(|_| keys.is_some())
            .map(|root| Keys::derive(root, period));
        Self {
            config,
            keys,
            previous,
        }
    }

    /// The keys that verify, `SECRET`'s first, then `SECRET_PREVIOUS`'s: what a credential
    /// made under either is checked against. Empty without `SECRET`.
    fn accepted(&self) -> impl Iterator<Item = &Keys> {
        self.keys.iter().chain(self.previous.iter())
    }

    /// The keys that may have signed sign-in cookies and CSRF tokens.
    pub fn cookie_keys(&self) -> Vec<&DerivedKey> {
        self.accepted().map(|k| &k.cookies).collect()
    }

    /// The key rings whose keys may have signed an access token or assertion (all published).
    pub fn signing_rings(&self) -> Vec<&KeyRing> {
        self.accepted().map(|k| &k.signing_keys).collect()
    }

    /// The keys that may have tagged a user API token.
    pub fn user_token_keys(&self) -> Vec<&DerivedKey> {
        self.accepted().map(|k| &k.user_tokens).collect()
    }

    /// The (tag, successor) key pairs that may have made a refresh token and its successor.
    pub fn refresh_key_pairs(&self) -> Vec<(&DerivedKey, &DerivedKey)> {
        self.accepted()
            .map(|k| (&k.refresh_tokens, &k.refresh_successors))
            .collect()
    }

    /// The keys that may have sealed a provider refresh token.
    pub fn provider_token_keys(&self) -> Vec<&DerivedKey> {
        self.accepted().map(|k| &k.provider_tokens).collect()
    }

    /// The keys that may have tagged a session cookie value.
    pub fn session_keys(&self) -> Vec<&DerivedKey> {
        self.accepted().map(|k| &k.sessions).collect()
    }

    /// The keys that may have tagged one of `project`'s service tokens.
    pub fn service_token_keys(&self, project: &ProjectName) -> Vec<DerivedKey> {
        self.accepted().map(|k| k.project(project)).collect()
    }

    /// Whether `SECRET` is set (service tokens, sign-in and device login need it).
    pub fn has_secret(&self) -> bool {
        self.keys.is_some()
    }

    /// The key that signs sign-in cookies and derives CSRF tokens.
    pub fn cookie_key(&self) -> Result<&DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| &k.cookies)
            .ok_or_else(|| secret_missing("sign-in (its cookies are signed)"))
    }

    /// The published keys that sign access tokens and gateway assertions (and verify them).
    pub fn signing_keys(&self) -> Result<&KeyRing, ApiError> {
        self.keys.as_ref().map(|k| &k.signing_keys).ok_or_else(|| {
            secret_missing("signed tokens (access tokens, the gateway's assertions)")
        })
    }

    /// The key that tags user API tokens.
    pub fn user_token_key(&self) -> Result<&DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| &k.user_tokens)
            .ok_or_else(|| secret_missing("user API tokens"))
    }

    /// The key that tags refresh tokens.
    pub fn refresh_token_key(&self) -> Result<&DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| &k.refresh_tokens)
            .ok_or_else(|| secret_missing("device login"))
    }

    /// The key that derives a spent refresh token's successor (`core::refresh::successor`).
    pub fn refresh_successor_key(&self) -> Result<&DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| &k.refresh_successors)
            .ok_or_else(|| secret_missing("device login"))
    }

    /// The key that seals the identity provider's refresh tokens (`edgeauth_core::sealed`).
    pub fn provider_token_key(&self) -> Result<&DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| &k.provider_tokens)
            .ok_or_else(|| secret_missing("sign-in (the provider's refresh tokens are sealed)"))
    }

    /// The key that tags session cookie values.
    pub fn session_key(&self) -> Result<&DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| &k.sessions)
            .ok_or_else(|| secret_missing("sign-in (its sessions are tagged)"))
    }

    /// The key that tags `project`'s new service tokens, derived once per project per isolate.
    pub fn service_token_key(&self, project: &ProjectName) -> Result<DerivedKey, ApiError> {
        self.keys
            .as_ref()
            .map(|k| k.project(project))
            .ok_or_else(|| secret_missing("service tokens"))
    }

    /// The identity provider, for sign-in.
    pub fn oidc(&self) -> Result<&OidcSettings, ApiError> {
        self.config.oidc.as_ref().ok_or_else(|| {
            ApiError::NotConfigured(
                "sign-in is not configured on this server: the operator must set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET".into(),
            )
        })
    }

    /// Whether people can sign in here: authentication on, OIDC and `SECRET` set.
    pub fn sign_in_problem(&self) -> Option<String> {
        if self.config.auth_disabled {
            Some("authentication is disabled on this server (AUTH_DISABLED=true), so there is nothing to sign in to; use the API and the CLI without a credential".into())
        } else if self.config.oidc.is_none() || !self.has_secret() {
            Some("sign-in is not configured on this server: the operator must set OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and SECRET".into())
        } else {
            None
        }
    }
}

/// 501 for a feature that needs `SECRET`, naming it.
fn secret_missing(feature: &str) -> ApiError {
    ApiError::NotConfigured(format!(
        "{feature}: this needs the SECRET setting (at least 32 bytes, e.g. `openssl rand -hex 32`), which the operator has not set"
    ))
}
