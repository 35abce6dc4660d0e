//! API tokens of both kinds, one set of handlers:
//! `POST/GET /api/service-tokens`, `DELETE /api/service-tokens/{id}`: workspace-scoped tokens
//! of one project, for CI and workers; and `POST/GET /api/tokens`, `DELETE /api/tokens/{id}`:
//! a person's own tokens; `POST …/{id}/roll` gives either a new secret. What differs between the kinds is who manages which tokens
//! ([`Manager`]) and a few words of the answers.

use edgeauth_core::api::{
    CreatedToken, ServiceTokenList, ServiceTokenView, TokenView, UserTokenList, UserTokenView,
};
use edgeauth_core::crypto::DerivedKey;
use edgeauth_core::ids::revocation_id;
use edgeauth_core::lifetime::{Governed, LifetimePolicy};
use edgeauth_core::policy::ServiceTokenReach;
use edgeauth_core::secret::Secret;
use edgeauth_core::time::{rfc3339, DAY_MS};
use edgeauth_core::token::{self, MintedToken, TokenKind};
use edgeauth_core::token_request::{capped_expiry, NewServiceToken, NewUserToken, RollRequest};
use edgeauth_core::{Credential, Login, Principal, ProjectName, TokenId, UserId};
use serde::Serialize;
use serde_json::json;
use worker::{D1Database, Env, Request, Response};

use crate::auth::{cache, lifetime, Caller};
use crate::error::ApiError;
use crate::store::{
    Actor, AuditEvent, FamilyRecord, NewToken, SessionRecord, TokenOwner, TokenRecord, TokensOf,
    Trace,
};
use crate::{database, http, now_ms, WebCrypto};

/// The kinds of token the API manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A project's service tokens: `/api/service-tokens`.
    Service,
    /// The caller's own API tokens: `/api/tokens`.
    User,
}

impl Kind {
    /// The kind of token a project's lifetime policy governs it as.
    fn governed(self) -> Governed {
        match self {
            Kind::Service => Governed::ServiceTokens,
            Kind::User => Governed::UserTokens,
        }
    }
}

/// When a token of `kind` that asked for `expires_in_days` (`None`: no expiry), created at
/// `now` in `project`, expires under the project's lifetime `policy`: 400 naming the max when
/// it asks for more (`edgeauth_core::lifetime`).
pub(crate) fn policy_expiry(
    policy: &LifetimePolicy,
    kind: Governed,
    expires_in_days: Option<i64>,
    project: &ProjectName,
    now: i64,
) -> Result<Option<i64>, ApiError> {
    let days = policy
        .limits(kind)
        .expiry_days(kind, expires_in_days, project.as_str())
        .map_err(ApiError::BadRequest)?;
    Ok(days.map(|days| now + days * DAY_MS))
}

/// The caller, as the manager of one kind of token.
enum Manager<'c> {
    /// Service tokens of the request's project, those its scope covers: every one for the
    /// super token and the project's admins, only its own for a service token
    /// (`ServiceTokenReach`); members manage none. Needs `SECRET` (the project's key signs them).
    Project {
        principal: &'c Principal,
        reach: ServiceTokenReach,
        key: DerivedKey,
    },
    /// A person, over their own tokens in every project.
    Person {
        principal: &'c Principal,
        user_id: &'c UserId,
    },
}

impl<'c> Manager<'c> {
    /// 401 without a credential; 403 for a person with no role in the project, for service
    /// tokens and a member (the admin role is needed), and for user tokens and a credential
    /// that is not a person's; 501 for service tokens without `SECRET`.
    fn of(kind: Kind, caller: &'c Caller) -> Result<Self, ApiError> {
        let principal = caller.require_principal()?;
        Ok(match kind {
            Kind::Service => Manager::Project {
                principal,
                reach: principal
                    .service_token_reach()
                    .map_err(ApiError::Forbidden)?,
                key: caller.settings.service_token_key(&caller.project)?,
            },
            Kind::User => {
                let (principal, user_id) = caller.person()?;
                Manager::Person { principal, user_id }
            }
        })
    }

    fn principal(&self) -> &'c Principal {
        match self {
            Manager::Project { principal, .. } | Manager::Person { principal, .. } => principal,
        }
    }

    /// May the caller see `record` at all? A person signed in in a browser sees all of their
    /// own tokens, in every project (the account page); a credential bound to one project (a
    /// user token, an access token, a service token) only tokens of that project; a service
    /// token only those it created.
    fn may_see(&self, record: &TokenRecord) -> bool {
        let principal = self.principal();
        let in_reach = match self {
            Manager::Project {
                reach: ServiceTokenReach::CreatedBy(id),
                ..
            } => {
                record.owner
                    == TokenOwner::Project {
                        created_by: Actor::Service(id.clone()),
                    }
            }
            _ => true,
        };
        in_reach && (principal.browser_session().is_some() || record.project == principal.project)
    }

    /// May the caller see and revoke `record`? Only a token it sees whose workspaces its own
    /// scope covers, so a narrowly scoped token cannot manage broader ones.
    fn may_manage(&self, record: &TokenRecord) -> bool {
        self.may_see(record) && self.principal().may_manage(&record.scope)
    }

    fn tokens<'a>(&'a self, caller: &'a Caller) -> TokensOf<'a> {
        match self {
            Manager::Project { .. } => TokensOf::Project(&caller.project),
            Manager::Person { user_id, .. } => TokensOf::User(user_id),
        }
    }
}

/// What a new token inherits from the credential that creates it: it never outlives it
/// (`ends_at`: a token's expiry, a session's end, an access token's device login's end), and
/// a token created with a login (a browser session, a device login's access token, or a token
/// created with either, through however many tokens) is revoked when that login ends
/// (`parent`). Revoking a *token* does not revoke the tokens it created: they are credentials
/// of their own, capped by its expiry. See docs/api.md, "Where a token comes from".
struct Creator {
    ends_at: Option<i64>,
    parent: Option<Login>,
}

impl Creator {
    async fn of(principal: &Principal, db: &D1Database, now: i64) -> Result<Self, ApiError> {
        let own_end = match principal.credential {
            // An access token lives minutes; what it stands for is its device login.
            Credential::Access { .. } | Credential::Super | Credential::Anonymous => None,
            Credential::Session(_)
            | Credential::Service { .. }
            | Credential::User { .. }
            | Credential::Ci { .. } => principal.expires_at_ms,
        };
        let Some(login) = &principal.login else {
            return Ok(Creator {
                ends_at: own_end,
                parent: None,
            });
        };
        // The login must still be live (it may have ended since the credential was issued);
        // it caps the new token, which ends with it.
        let login_end = match (login, &principal.credential) {
            // The session itself, verified live by this request.
            (Login::Session(_), Credential::Session(_)) => principal.expires_at_ms,
            (Login::Session(id), _) => SessionRecord::live_until(db, id, now).await?,
            (Login::Device(id), _) => FamilyRecord::find(db, id)
                .await?
                .filter(|family| family.is_live(now))
                .map(|family| family.expires_at),
        };
        let login_end = login_end.ok_or_else(|| login_ended(login))?;
        Ok(Creator {
            ends_at: capped_expiry(own_end, Some(login_end)),
            parent: Some(login.clone()),
        })
    }
}

/// The refusal of a credential whose login has ended.
fn login_ended(login: &Login) -> ApiError {
    ApiError::InvalidCredential(
        match login {
            Login::Device(_) => "the device login this credential comes from has ended; log in again",
            Login::Session(_) => {
                "the browser session this credential comes from has ended (signed out or expired); sign in again"
            }
        }
        .into(),
    )
}

/// A token as listed (never its secret), in the shape of its kind.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum View {
    Service(ServiceTokenView),
    User(UserTokenView),
}

/// The listing fields every token shows. `expired` is true past its expiry, and also when
/// its project's lifetime `policy` refuses it for going unused (it no longer works either way;
/// lifting the policy would make it work again).
fn token_view(record: &TokenRecord, policy: &LifetimePolicy, now: i64) -> TokenView {
    TokenView {
        id: record.id.clone(),
        name: record.name.clone(),
        project: record.project.to_string(),
        workspaces: record.scope.to_strings(),
        prefix: record.display_prefix.clone(),
        created_at: rfc3339(record.created_at),
        expires_at: record.expires_at.map(rfc3339),
        last_used_at: record.last_used_at.map(rfc3339),
        expired: record.is_expired(now) || record.is_unused_under(policy, now),
    }
}

/// A token's listing fields, as its kind shows them, under its project's lifetime `policy`.
pub(crate) fn view(record: &TokenRecord, policy: &LifetimePolicy, now: i64) -> View {
    let token = token_view(record, policy, now);
    match &record.owner {
        TokenOwner::Project { created_by } => View::Service(ServiceTokenView {
            token,
            created_by: created_by.to_string(),
        }),
        TokenOwner::User { created_via, .. } => View::User(UserTokenView {
            token,
            created_via: created_via.clone(),
        }),
    }
}

/// A new user token, not yet stored: the secret (shown once) and the record D1 keeps. Every
/// way of creating a user token (`POST /api/tokens`, the CLI login) mints through here.
pub(crate) fn mint_user_token(
    key: &DerivedKey,
    new: NewToken,
    now: i64,
) -> (MintedToken, TokenRecord) {
    let minted = token::mint(TokenKind::User, key, &mut WebCrypto);
    let id = TokenId::generate_user(&mut WebCrypto);
    let record = TokenRecord::new(id, new, minted.display_prefix(), now);
    (minted, record)
}

/// The audit event of a token `actor` just minted.
pub(crate) fn creation_event<'a>(
    record: &'a TokenRecord,
    actor: Actor,
    trace: &'a Trace,
) -> AuditEvent<'a> {
    let (action, detail) = match &record.owner {
        TokenOwner::Project { .. } => (
            "service_token.create",
            json!({"name": record.name, "workspaces": record.scope.to_strings(),
                   "prefix": record.display_prefix}),
        ),
        TokenOwner::User { created_via, .. } => (
            "user_token.create",
            json!({"name": record.name, "workspaces": record.scope.to_strings(),
                   "prefix": record.display_prefix, "via": created_via}),
        ),
    };
    AuditEvent {
        at: record.created_at,
        project: Some(record.project.as_str()),
        actor,
        action,
        subject: record.id.as_str(),
        detail: detail.to_string(),
        person: record.owner.person(),
        trace,
    }
}

/// The creation response: the token's listing fields (`view`) and, this once, its plaintext.
pub(crate) fn creation_body<V>(view: V, minted: &MintedToken) -> CreatedToken<V> {
    CreatedToken {
        view,
        token: Secret::new(minted.plaintext()),
    }
}

/// `POST`: mints a token no broader than its creator, in the request's project.
pub async fn create(
    kind: Kind,
    mut req: Request,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    let manager = Manager::of(kind, caller)?;
    let principal = manager.principal();
    let body = http::body::json(&mut req).await?;
    let now = now_ms();
    let (name, scope, expires_in_days) = match kind {
        Kind::Service => {
            let new = NewServiceToken::from_json(&body).map_err(ApiError::BadRequest)?;
            (new.name, new.scope, new.expires_in_days)
        }
        Kind::User => {
            let new = NewUserToken::from_json(&body).map_err(ApiError::BadRequest)?;
            (new.name, new.scope, new.expires_in_days)
        }
    };
    if !principal.may_manage(&scope) {
        return Err(ApiError::Forbidden(format!(
            "your credential covers {}, which does not include all of {}; a new token cannot be broader than its creator",
            principal.scope.to_strings().join(", "),
            scope.to_strings().join(", ")
        )));
    }
    // The project's lifetime policy: beyond its max is refused; no expiry asked for gets its
    // default, else its max.
    let policy = lifetime::of_project(&caller.settings, &caller.project, env).await?;
    let expires_at = policy_expiry(
        &policy,
        kind.governed(),
        expires_in_days,
        &caller.project,
        now,
    )?;
    let db = database(env)?;
    let creator = Creator::of(principal, &db, now).await?;
    let new = |owner| NewToken {
        owner,
        project: caller.project.clone(),
        name,
        scope,
        expires_at: capped_expiry(expires_at, creator.ends_at),
        parent: creator.parent.clone(),
    };
    let (minted, record) = match &manager {
        Manager::Project { key, .. } => {
            let minted = token::mint(TokenKind::Service, key, &mut WebCrypto);
            let id = TokenId::generate_service(&mut WebCrypto);
            let owner = TokenOwner::Project {
                created_by: Actor::of(principal),
            };
            let record = TokenRecord::new(id, new(owner), minted.display_prefix(), now);
            (minted, record)
        }
        Manager::Person { user_id, .. } => mint_user_token(
            caller.settings.user_token_key()?,
            new(TokenOwner::User {
                user_id: (*user_id).clone(),
                created_via: principal.kind().as_str().to_owned(),
            }),
            now,
        ),
    };
    let stored = record
        .insert_created(
            &db,
            minted.hash(),
            creation_event(&record, Actor::of(principal), &caller.trace),
            now,
        )
        .await?;
    if let (false, Some(login)) = (stored, &creator.parent) {
        return Err(login_ended(login));
    }
    Ok(http::json(
        201,
        &creation_body(view(&record, &policy, now), &minted),
    ))
}

/// `GET`: the live tokens the caller manages: the project's that its scope covers, or the
/// person's own in every project.
pub async fn list(kind: Kind, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let manager = Manager::of(kind, caller)?;
    let now = now_ms();
    let records: Vec<TokenRecord> =
        TokenRecord::list_active(&database(env)?, manager.tokens(caller))
            .await?
            .into_iter()
            .filter(|record| manager.may_manage(record))
            .collect();
    // The lifetime policy of each project listed (a person's tokens may be in several).
    let mut policies: Vec<(ProjectName, LifetimePolicy)> = Vec::new();
    for record in &records {
        if !policies
            .iter()
            .any(|(project, _)| *project == record.project)
        {
            let policy = lifetime::of_project(&caller.settings, &record.project, env).await?;
            policies.push((record.project.clone(), policy));
        }
    }
    let tokens: Vec<View> = records
        .iter()
        .map(|record| {
            let policy = policies
                .iter()
                .find(|(project, _)| *project == record.project)
                .map(|(_, policy)| *policy)
                .unwrap_or_default();
            view(record, &policy, now)
        })
        .collect();
    let key = match kind {
        Kind::Service => ServiceTokenList::FIELD,
        Kind::User => UserTokenList::FIELD,
    };
    Ok(http::json(200, &json!({ key: tokens })))
}

/// The token `id` that the caller manages, live: 404 (as if it did not exist) for another
/// user's token, one in another project than a project-bound credential's, or one a service
/// token did not create; 403 for one the credential's scope does not cover.
async fn managed(
    kind: Kind,
    manager: &Manager<'_>,
    id: &str,
    caller: &Caller,
    db: &D1Database,
) -> Result<TokenRecord, ApiError> {
    let record = TokenRecord::find(db, manager.tokens(caller), id)
        .await?
        .filter(|r| r.revoked_at.is_none() && manager.may_see(r))
        .ok_or_else(|| not_found(kind, manager, id, caller))?;
    if !manager.may_manage(&record) {
        return Err(ApiError::Forbidden(format!(
            "your credential does not cover the workspaces of `{}` ({})",
            record.id,
            record.scope.to_strings().join(", ")
        )));
    }
    Ok(record)
}

fn not_found(kind: Kind, manager: &Manager<'_>, id: &str, caller: &Caller) -> ApiError {
    ApiError::NotFound(match kind {
        Kind::Service => format!(
            "no live service token `{}` in project `{}`{}",
            id.escape_default(),
            caller.project,
            match manager {
                Manager::Project {
                    reach: ServiceTokenReach::CreatedBy(_),
                    ..
                } => " that this service token created (a service token manages only the tokens it created; an admin or the super token manages the rest)",
                _ => "",
            }
        ),
        Kind::User => format!(
            "you have no live API token `{}` that this credential may see (unknown, already revoked, not yours, or in another project than the credential's)",
            id.escape_default()
        ),
    })
}

/// `DELETE …/{id}`: revokes at once; the next verification anywhere fails. Another user's
/// token, or one in another project than a project-bound credential's, is 404, as if it did
/// not exist; one the credential's scope does not cover is 403.
pub async fn revoke(
    kind: Kind,
    id: &str,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    let manager = Manager::of(kind, caller)?;
    let principal = manager.principal();
    let db = database(env)?;
    let record = managed(kind, &manager, id, caller, &db).await?;
    let now = now_ms();
    let action = match kind {
        Kind::Service => "service_token.revoke",
        Kind::User => "user_token.revoke",
    };
    let revoked = record
        .revoke(
            &db,
            now,
            &revocation_id(&mut WebCrypto),
            AuditEvent {
                at: now,
                project: Some(record.project.as_str()),
                actor: Actor::of(principal),
                action,
                subject: record.id.as_str(),
                detail: json!({"prefix": record.display_prefix}).to_string(),
                person: record.owner.person(),
                trace: &caller.trace,
            },
        )
        .await?;
    // At once in this isolate; elsewhere within REVOCATION_BOUND_SECONDS.
    cache::forget_token(&record.id);
    if revoked {
        Ok(http::no_content())
    } else {
        Err(not_found(kind, &manager, id, caller))
    }
}

/// `POST …/{id}/roll`: a new secret for the token, as a new token with the same name, owner,
/// project, workspaces, expiry and login; the old secret keeps working for the grace asked
/// (`{"grace_seconds": N}`, default 0: revoked at once), never past its own expiry. Who may
/// roll a token is who may revoke it. 201 with the new token (its secret, this once) and what
/// became of the old one.
pub async fn roll(
    kind: Kind,
    id: &str,
    mut req: Request,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    let manager = Manager::of(kind, caller)?;
    let principal = manager.principal();
    let request =
        RollRequest::from_json(&http::body::json(&mut req).await?).map_err(ApiError::BadRequest)?;
    let db = database(env)?;
    let record = managed(kind, &manager, id, caller, &db).await?;
    let now = now_ms();
    // A token that no longer works (expired, or unused longer than its project's lifetime
    // policy allows) is not brought back by a new secret.
    let policy = lifetime::of_project(&caller.settings, &record.project, env).await?;
    if record.is_expired(now) || record.is_unused_under(&policy, now) {
        return Err(not_found(kind, &manager, id, caller));
    }
    // The new secret is made by the caller, so it is held to what the caller may make, as a
    // created token is: never outliving the caller's credential, and ending with the caller's
    // login (a stolen session or a device login's access token cannot turn a token into one
    // that outlives them). It keeps its own login too, when it has one.
    let creator = Creator::of(principal, &db, now).await?;
    let new = NewToken {
        owner: record.owner.clone(),
        project: record.project.clone(),
        name: record.name.clone(),
        scope: record.scope.clone(),
        expires_at: capped_expiry(record.expires_at, creator.ends_at),
        parent: record.parent.clone().or(creator.parent.clone()),
    };
    let (minted, successor) = match &manager {
        Manager::Project { key, .. } => {
            let minted = token::mint(TokenKind::Service, key, &mut WebCrypto);
            let id = TokenId::generate_service(&mut WebCrypto);
            let successor = TokenRecord::new(id, new, minted.display_prefix(), now);
            (minted, successor)
        }
        Manager::Person { .. } => mint_user_token(caller.settings.user_token_key()?, new, now),
    };
    let until = request.old_until(now, record.expires_at);
    let action = match kind {
        Kind::Service => "service_token.roll",
        Kind::User => "user_token.roll",
    };
    let rolled = record
        .roll(
            &db,
            &successor,
            minted.hash(),
            until,
            &revocation_id(&mut WebCrypto),
            AuditEvent {
                at: now,
                project: Some(record.project.as_str()),
                actor: Actor::of(principal),
                action,
                subject: record.id.as_str(),
                detail: json!({
                    "prefix": record.display_prefix,
                    "successor": successor.id,
                    "successor_prefix": successor.display_prefix,
                    "grace_seconds": request.grace_s,
                    "old_until": until.map(rfc3339),
                })
                .to_string(),
                person: record.owner.person(),
                trace: &caller.trace,
            },
            now,
        )
        .await?;
    cache::forget_token(&record.id);
    if !rolled {
        return Err(match &record.parent {
            Some(login) => login_ended(login),
            None => not_found(kind, &manager, id, caller),
        });
    }
    let mut body = serde_json::to_value(creation_body(view(&successor, &policy, now), &minted))
        .map_err(|e| ApiError::Internal(format!("serialising a rolled token: {e}")))?;
    body["rolled"] = json!({
        "id": record.id,
        "expires_at": until.map(rfc3339),
        "revoked": until.is_none(),
    });
    Ok(http::json(201, &body))
}
