//! The JSON bodies of the REST API that the Worker writes and the CLI reads or sends
//! (docs/api.md), each defined once, so that the two sides cannot drift apart.
//!
//! Every type serialises to exactly the fields the Worker sends, which the unit tests below pin
//! with one example per body. Reading is tolerant where a client can do without a field: a
//! field marked `#[serde(default)]` reads as empty (`""`, `[]`, `false`, the empty id) or
//! `None` when a server leaves it out, and a client treats empty as absent. What a client
//! cannot act without (an id it will revoke, a kind, an error code, a secret) is required.
//! Unknown fields are ignored, so a server may add one without breaking older clients.

use serde::{Deserialize, Serialize};

use crate::ids::{TokenId, UserId};
use crate::secret::Secret;

/// A text field of a body that was read, as an option: `None` when the server left it out (it
/// reads as empty), which is how a reader tells a field given from one absent.
pub fn given(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// Every error of the REST API: `{"error": "not_found", "message": "…"}`, the code from the
/// table in docs/api.md and a message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code: `bad_request`, `unauthorized`, `forbidden`, `not_found`, ….
    pub error: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

/// An error of the OAuth endpoints (`/api/auth/token`, `/api/auth/device/code`,
/// `/api/auth/cli-exchange`): `{"error": "invalid_grant", "error_description": "…"}`
/// (RFC 6749 §5.2). The description is optional in the RFC; the Worker always sends one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    /// The RFC's error code: `invalid_request`, `invalid_grant`, `authorization_pending`, ….
    pub error: String,
    /// What went wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The body of `POST /api/service-tokens` and of `POST /api/tokens`:
/// `{"name": "CI", "workspaces": ["production/*"], "expires_in_days": 90}`. A field left out
/// is not sent, and the server's default applies: every workspace (user tokens only; a service
/// token must name its workspaces) and no expiry. The Worker validates it as
/// [`NewServiceToken`](crate::token_request::NewServiceToken) or
/// [`NewUserToken`](crate::token_request::NewUserToken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTokenBody {
    /// The token's name, 1 to 100 characters.
    pub name: String,
    /// Workspace patterns the token may act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
    /// Lifetime in days, 1 to 3650.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
}

/// A token as listed, never with its secret: the fields a service token and a user token
/// share. Times are RFC 3339 UTC ([`crate::time::rfc3339`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    /// `st_…` or `ut_…`; the token is revoked at `{collection}/{id}`.
    pub id: TokenId,
    /// The name it was created with.
    #[serde(default)]
    pub name: String,
    /// The only project it is valid in.
    #[serde(default)]
    pub project: String,
    /// Its workspace patterns.
    #[serde(default)]
    pub workspaces: Vec<String>,
    /// Its display prefix: the first [`DISPLAY_PREFIX_CHARS`](crate::token::DISPLAY_PREFIX_CHARS)
    /// characters, e.g. `eas_AbCdEfGh`.
    #[serde(default)]
    pub prefix: String,
    /// When it was created.
    #[serde(default)]
    pub created_at: String,
    /// When it expires; `null` for never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When it was last used, approximately; `null` for never.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// Whether `expires_at` has passed.
    #[serde(default)]
    pub expired: bool,
}

/// A service token as `GET /api/service-tokens` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTokenView {
    /// What every token shows.
    #[serde(flatten)]
    pub token: TokenView,
    /// Who created it: `super`, `anonymous`, `service:st_…` for a service token, or
    /// `user:usr_…` for a person (whatever credential they used).
    #[serde(default)]
    pub created_by: String,
}

/// A user token as `GET /api/tokens` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTokenView {
    /// What every token shows.
    #[serde(flatten)]
    pub token: TokenView,
    /// How it was created: the creating credential's kind (`session`, `user`, `access`), or
    /// `cli-login` for the CLI's loopback login.
    #[serde(default)]
    pub created_via: String,
}

/// The 201 body of a token creation: the token as listed (`V`: [`ServiceTokenView`],
/// [`UserTokenView`], or [`TokenView`] for a reader of either) and, this once, its plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken<V> {
    /// The token as listed.
    #[serde(flatten)]
    pub view: V,
    /// The token itself, shown only here.
    pub token: Secret,
}

/// The body of `GET /api/service-tokens`: the project's live tokens the caller may manage,
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTokenList {
    /// The tokens.
    pub service_tokens: Vec<ServiceTokenView>,
}

impl ServiceTokenList {
    /// The name of the field that holds the list.
    pub const FIELD: &'static str = "service_tokens";
}

/// The body of `GET /api/tokens`: the caller's live tokens in every project, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTokenList {
    /// The tokens.
    pub tokens: Vec<UserTokenView>,
}

impl UserTokenList {
    /// The name of the field that holds the list.
    pub const FIELD: &'static str = "tokens";
}

/// The body of `GET /api/auth/whoami`: who the presented credential is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    /// `super`, `service`, `user`, `session`, `access` or `anonymous`
    /// ([`PrincipalKind::as_str`](crate::PrincipalKind::as_str)).
    pub kind: String,
    /// The token's name (`super`, `anonymous` for those), or the person's for a session or an
    /// access token.
    #[serde(default)]
    pub name: String,
    /// The project of the request.
    #[serde(default)]
    pub project: String,
    /// The workspace patterns the credential covers.
    #[serde(default)]
    pub workspaces: Vec<String>,
    /// The id of the token presented, for service and user tokens.
    #[serde(default)]
    pub token_id: Option<TokenId>,
    /// When the credential stops working; `null` for never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Whether the server runs with `AUTH_DISABLED=true`.
    #[serde(default)]
    pub auth_disabled: bool,
    /// The caller's standing in the project: `super`, `service`, or a person's `admin`,
    /// `member` or `none` ([`Principal::role_name`](crate::Principal::role_name)).
    #[serde(default)]
    pub role: String,
    /// For a CI job's token: who the job is (platform, subject, repository, ref, run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<crate::trust::CiIdentity>,
}

/// The body of `GET /api/auth/capabilities`: what the server offers and what the caller can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Whether the caller presented a credential of a person or token (not anonymous).
    #[serde(default)]
    pub signed_in: bool,
    /// The caller's kind, as in [`Whoami::kind`]; `null` without a credential.
    #[serde(default)]
    pub kind: Option<String>,
    /// Whether the server runs with `AUTH_DISABLED=true`.
    #[serde(default)]
    pub auth_disabled: bool,
    /// Whether read endpoints need no credential (`PUBLIC_READS`).
    #[serde(default)]
    pub public_reads: bool,
    /// The project of the request.
    #[serde(default)]
    pub project: String,
    /// The sign-in methods configured.
    #[serde(default)]
    pub login_methods: LoginMethods,
    /// Whether service tokens can be minted (`SECRET` is set).
    #[serde(default)]
    pub service_tokens: bool,
    /// Whether the caller may write at all (it has a credential).
    #[serde(default)]
    pub can_write: bool,
}

/// The sign-in methods of [`Capabilities`].
///
/// `cli_loopback` reads as offered when a server leaves it out: the CLI then tries the
/// loopback login, and a server that cannot serve it refuses `cli-start` with a message. The
/// device login must be announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginMethods {
    /// Browser sign-in through the OIDC provider.
    #[serde(default)]
    pub oidc: bool,
    /// The CLI's loopback login (`/api/auth/cli-start`, `/api/auth/cli-exchange`).
    #[serde(default = "offered")]
    pub cli_loopback: bool,
    /// The device login (`/api/auth/device/code`, RFC 8628).
    #[serde(default)]
    pub device: bool,
}

fn offered() -> bool {
    true
}

impl Default for LoginMethods {
    /// What a body without `login_methods` reads as: see [`LoginMethods`].
    fn default() -> Self {
        Self {
            oidc: false,
            cli_loopback: offered(),
            device: false,
        }
    }
}

/// The body of `GET`, `POST` and `DELETE /api/roles`: which teams hold which role in the
/// project, and where that comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRolesView {
    /// The project.
    pub project: String,
    /// Its admins' teams.
    pub admin_teams: Vec<String>,
    /// Its members' teams; empty: every signed-in person is a member.
    pub member_teams: Vec<String>,
    /// `project` (its own override) or `configuration` (`ADMIN_TEAMS`, `MEMBER_TEAMS`).
    pub source: String,
    /// When the override was last set; `null` without one.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Who set it (`super`, `user:usr_…`); `null` without one.
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// The limits of one kind of token in [`LifetimePolicyView`], in days; `null`: none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindLimitsView {
    /// The longest a token of the kind may live.
    #[serde(default)]
    pub max_days: Option<i64>,
    /// The lifetime of one asked for without an expiry.
    #[serde(default)]
    pub default_days: Option<i64>,
}

/// The body of `GET`, `PUT` and `DELETE /api/lifetime-policy`: the project's lifetime policy
/// ([`crate::lifetime`]), with `null` for every limit not set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimePolicyView {
    /// The project.
    pub project: String,
    #[serde(default)]
    pub service_tokens: KindLimitsView,
    #[serde(default)]
    pub user_tokens: KindLimitsView,
    /// Tokens unused for this many days are refused (and listed as expired).
    #[serde(default)]
    pub unused_days: Option<i64>,
    /// When the policy was last set; `null` without one.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Who set it (`super`, `user:usr_…`); `null` without one.
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// A trust policy, as `POST`, `GET /api/trust-policies` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustPolicyView {
    /// `tp_…`.
    pub id: String,
    pub name: String,
    pub project: String,
    /// The CI platform's issuer.
    pub issuer: String,
    /// The `aud` its ID tokens must carry.
    pub audience: String,
    /// Claim name to the patterns its value must match one of.
    pub conditions: std::collections::BTreeMap<String, Vec<String>>,
    /// The workspaces a matching job's token covers.
    pub workspaces: Vec<String>,
    /// How long those tokens live.
    pub token_lifetime_seconds: u32,
    #[serde(default)]
    pub created_at: String,
    /// `super` or `user:usr_…`.
    #[serde(default)]
    pub created_by: String,
}

/// The body of `GET /api/trust-policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustPolicyList {
    pub trust_policies: Vec<TrustPolicyView>,
}

/// One event of the audit trail, as `GET /api/audit` shows it. The fields after `detail` are
/// `None` (left out) when unknown, as for what the server does on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    /// RFC 3339 UTC: when it happened (for counted refusals, the first of its minute).
    pub at: String,
    /// `service_token.create`, `sign_in.refuse`, … (docs/api.md lists them).
    pub action: String,
    /// Who did it: `user:usr_…`, `service:st_…`, `trust_policy:tp_…`, `super`,
    /// `anonymous`, `leak_report`, `refresh_reuse`, `role_lost`.
    pub actor: String,
    /// The id acted on.
    pub subject: String,
    /// The project, or `None` for the deployment's own events (sign-ins, sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The person it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// What else there is to say, never a secret.
    #[serde(default)]
    pub detail: serde_json::Value,
    /// The SHA-256 (hex) of the credential the actor presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_hash: Option<String>,
    /// Its display prefix, when it is an API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The Cloudflare location that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How many times it happened: 1, or for a refusal the count of its kind in its minute.
    pub count: i64,
}

/// The body of `GET /api/audit`: a page of events, newest first, and the cursor of the next
/// (older) page, `None` at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

/// One of a person's logins, as `GET /api/sessions` lists it: a browser session or a device
/// login, live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginView {
    /// `ses_…` or `fam_…`: what `DELETE /api/sessions/{id}` takes.
    pub id: String,
    /// `browser` or `device`.
    pub kind: String,
    /// Whether the credential that asked comes from this login.
    #[serde(default)]
    pub current: bool,
    /// A device login's project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The name a device login's client gave (`edgeauth CLI on laptop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// Its last use, to within 5 minutes (a session), or its last refresh (a device login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    /// Where it was made from: the client's address, Cloudflare location and User-Agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The body of `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginList {
    pub sessions: Vec<LoginView>,
}

/// The body of `DELETE /api/sessions`: how many logins were ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginsEnded {
    pub ended: usize,
}

/// The body of `GET /api/users/me`: the person behind a person's credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// The person (`usr_…`).
    #[serde(default)]
    pub id: UserId,
    /// Their email, from the identity provider.
    #[serde(default)]
    pub email: Option<String>,
    /// Their name, from the identity provider.
    #[serde(default)]
    pub name: Option<String>,
    /// Their teams at their last sign-in (`OIDC_TEAMS_CLAIM`).
    #[serde(default)]
    pub teams: Vec<String>,
    /// The identity provider that vouched for them.
    #[serde(default)]
    pub issuer: String,
    /// `session`, `user_token` or `access_token`.
    #[serde(default)]
    pub authenticated_by: String,
    /// The token presented; `null` for a session.
    #[serde(default)]
    pub token_id: Option<TokenId>,
    /// Their role in the project of the request: `admin`, `member`, or `none`.
    #[serde(default)]
    pub role: String,
    /// The project of the request.
    #[serde(default)]
    pub project: String,
}

/// A person as the CLI login's exchange names them: `{"id", "email", "name"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The person (`usr_…`).
    #[serde(default)]
    pub id: UserId,
    /// Their email.
    #[serde(default)]
    pub email: Option<String>,
    /// Their name.
    #[serde(default)]
    pub name: Option<String>,
}

/// The body of `POST /api/auth/cli-exchange`: `{"code", "code_verifier", "redirect_uri"}`;
/// the Worker validates it as [`ExchangeRequest`](crate::cli_login::ExchangeRequest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliExchangeRequest {
    /// The loopback code the browser brought back.
    pub code: Secret,
    /// The PKCE verifier whose challenge opened the login (RFC 7636 §4.5).
    pub code_verifier: Secret,
    /// The redirect the code was sent to, exactly as in `cli-start`.
    pub redirect_uri: String,
}

/// The 201 body of `POST /api/auth/cli-exchange`: the new user token, as `POST /api/tokens`
/// answers, and the person it acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliExchangeResponse {
    /// The new token and its plaintext.
    #[serde(flatten)]
    pub created: CreatedToken<UserTokenView>,
    /// Whom the token acts for.
    #[serde(default)]
    pub user: Option<UserSummary>,
}

/// The body of `POST /api/auth/device/code` as the CLI sends it: `{"client_name": "…"}`,
/// the name the person sees at `/device` (default `edgeauth CLI`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCodeRequest {
    /// 1 to 100 characters describing the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// The 200 body of `POST /api/auth/device/code` (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    /// The device code the CLI polls with; a secret.
    pub device_code: Secret,
    /// The code the person types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the person enters the code.
    pub verification_uri: String,
    /// The same page with the code filled in (optional in the RFC; the Worker sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls (optional in the RFC, which then means 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
}

/// The 200 body of `POST /api/auth/token` for both grants (RFC 6749 §5.1): an access token
/// and the refresh token that replaces the one presented, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (`eaa_…`).
    pub access_token: Secret,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The next refresh token (`ear_…`).
    pub refresh_token: Secret,
    /// The granted workspace patterns, space-separated (RFC 6749 §3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The 200 body of a token exchange (RFC 8693 §2.2.1): a CI job's access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeResponse {
    /// The access token (`eaa_…`).
    pub access_token: Secret,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted workspace patterns, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    /// Reads `example` as `T` and writes it back: the same JSON, field for field.
    fn round_trips<T: Serialize + DeserializeOwned>(example: Value) -> T {
        let read: T = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), example);
        read
    }

    // The examples are what the Worker sends today: src/error.rs, src/service_tokens.rs `view`
    // and `create`, src/user_tokens.rs `view`, `creation_body` and `me`, src/status.rs,
    // src/cli_login.rs `exchange`, src/device.rs `code` and src/grants.rs `token_response`.

    #[test]
    fn error_body() {
        let e: ErrorBody = round_trips(json!({
            "error": "not_found",
            "message": "no live service token `st_x` in project `default`"
        }));
        assert_eq!(e.error, "not_found");
    }

    #[test]
    fn oauth_error_body() {
        let e: OAuthErrorBody = round_trips(json!({
            "error": "invalid_grant",
            "error_description": "the code was already redeemed"
        }));
        assert_eq!(
            e.error_description.as_deref(),
            Some("the code was already redeemed")
        );
        // RFC 6749 §5.2: the description is optional.
        let bare: OAuthErrorBody = round_trips(json!({"error": "invalid_request"}));
        assert_eq!(bare.error_description, None);
    }

    #[test]
    fn new_token_body_leaves_out_what_was_not_given() {
        let all: NewTokenBody = round_trips(
            json!({"name": "CI", "workspaces": ["production/*"], "expires_in_days": 90}),
        );
        assert_eq!(all.expires_in_days, Some(90));
        let bare: NewTokenBody = round_trips(json!({"name": "laptop"}));
        assert_eq!(bare.workspaces, None);
    }

    #[test]
    fn new_token_body_is_what_the_worker_validates() {
        use crate::token_request::{NewServiceToken, NewUserToken};
        let body = serde_json::to_value(NewTokenBody {
            name: "CI".into(),
            workspaces: Some(vec!["production/*".into()]),
            expires_in_days: Some(90),
        })
        .unwrap();
        let service = NewServiceToken::from_json(&body).unwrap();
        assert_eq!(service.scope.to_strings(), ["production/*"]);
        assert_eq!(service.expires_in_days, Some(90));
        let bare = serde_json::to_value(NewTokenBody {
            name: "laptop".into(),
            workspaces: None,
            expires_in_days: None,
        })
        .unwrap();
        assert_eq!(
            NewUserToken::from_json(&bare).unwrap().scope.to_strings(),
            ["*"]
        );
    }

    fn service_token_json() -> Value {
        json!({
            "id": "st_0123456789abcdefABCD",
            "name": "CI",
            "project": "default",
            "workspaces": ["production/*", "staging"],
            "prefix": "eas_AbCdEfGh",
            "created_at": "2026-11-24T10:00:00Z",
            "created_by": "super",
            "expires_at": null,
            "last_used_at": "2026-11-24T11:05:09Z",
            "expired": false
        })
    }

    fn user_token_json() -> Value {
        json!({
            "id": "ut_0123456789abcdefABCD",
            "name": "laptop",
            "project": "demo",
            "workspaces": ["*"],
            "prefix": "eau_AbCdEfGh",
            "created_at": "2026-11-24T10:00:00Z",
            "created_via": "session",
            "expires_at": "2026-12-24T10:00:00Z",
            "last_used_at": null,
            "expired": true
        })
    }

    fn with_secret(mut view: Value, secret: &str) -> Value {
        view["token"] = secret.into();
        view
    }

    #[test]
    fn service_token_view_and_list() {
        let t: ServiceTokenView = round_trips(service_token_json());
        assert_eq!(t.token.id, TokenId::new("st_0123456789abcdefABCD"));
        assert_eq!(t.token.workspaces, ["production/*", "staging"]);
        assert_eq!(t.created_by, "super");
        assert_eq!(t.token.expires_at, None);
        let list: ServiceTokenList =
            round_trips(json!({ ServiceTokenList::FIELD: [service_token_json()] }));
        assert_eq!(list.service_tokens, [t]);
    }

    #[test]
    fn user_token_view_and_list() {
        let t: UserTokenView = round_trips(user_token_json());
        assert_eq!(t.created_via, "session");
        assert!(t.token.expired);
        let list: UserTokenList = round_trips(json!({ UserTokenList::FIELD: [user_token_json()] }));
        assert_eq!(list.tokens, [t]);
    }

    #[test]
    fn created_tokens_carry_the_secret_once_and_hide_it_from_debug() {
        let secret = format!("eas_{}", "s".repeat(71));
        let created: CreatedToken<ServiceTokenView> =
            round_trips(with_secret(service_token_json(), &secret));
        assert_eq!(created.token.expose(), secret);
        assert_eq!(created.view.created_by, "super");
        assert!(!format!("{created:?}").contains(&secret));
        let created: CreatedToken<UserTokenView> =
            round_trips(with_secret(user_token_json(), "eau_plaintext"));
        assert_eq!(created.view.token.name, "laptop");
        // A reader of either kind reads the shared fields.
        let either: CreatedToken<TokenView> =
            serde_json::from_value(with_secret(service_token_json(), "eas_x")).unwrap();
        assert_eq!(either.view.prefix, "eas_AbCdEfGh");
    }

    #[test]
    fn a_listed_token_missing_optional_fields_reads_as_empty() {
        let t: TokenView = serde_json::from_value(json!({"id": "ut_1"})).unwrap();
        assert_eq!((given(&t.name), given(&t.prefix)), (None, None));
        assert!(t.workspaces.is_empty() && !t.expired && t.expires_at.is_none());
        assert!(serde_json::from_value::<TokenView>(json!({"name": "x"})).is_err());
    }

    #[test]
    fn whoami() {
        let w: Whoami = round_trips(json!({
            "kind": "service",
            "name": "CI",
            "project": "default",
            "workspaces": ["production/*"],
            "token_id": "st_0123456789abcdefABCD",
            "expires_at": null,
            "auth_disabled": false,
            "role": "service"
        }));
        assert_eq!(w.token_id, Some(TokenId::new("st_0123456789abcdefABCD")));
        let s: Whoami = round_trips(json!({
            "kind": "super",
            "name": "super",
            "project": "demo",
            "workspaces": ["*"],
            "token_id": null,
            "expires_at": "2026-12-01T08:30:00Z",
            "auth_disabled": true,
            "role": "super"
        }));
        assert_eq!(s.token_id, None);
    }

    #[test]
    fn capabilities() {
        let c: Capabilities = round_trips(json!({
            "signed_in": false,
            "kind": null,
            "auth_disabled": false,
            "public_reads": true,
            "project": "default",
            "login_methods": {"oidc": true, "cli_loopback": true, "device": false},
            "service_tokens": true,
            "can_write": false
        }));
        assert!(c.login_methods.cli_loopback && !c.login_methods.device);
        let signed_in: Capabilities = round_trips(json!({
            "signed_in": true,
            "kind": "session",
            "auth_disabled": false,
            "public_reads": false,
            "project": "demo",
            "login_methods": {"oidc": true, "cli_loopback": true, "device": true},
            "service_tokens": false,
            "can_write": true
        }));
        assert_eq!(signed_in.kind.as_deref(), Some("session"));
    }

    #[test]
    fn loopback_login_reads_as_offered_unless_refused_and_device_login_must_be_announced() {
        let read = |v: Value| {
            serde_json::from_value::<Capabilities>(v)
                .unwrap()
                .login_methods
        };
        let m = read(json!({}));
        assert!(m.cli_loopback && !m.device && !m.oidc);
        let m = read(json!({"login_methods": {"oidc": true}}));
        assert!(m.cli_loopback && !m.device);
        assert!(!read(json!({"login_methods": {"cli_loopback": false}})).cli_loopback);
    }

    #[test]
    fn trust_policy() {
        let p: TrustPolicyView = round_trips(json!({
            "id": "tp_0123456789abcdefABCD",
            "name": "deploy from main",
            "project": "default",
            "issuer": "https://token.actions.githubusercontent.com",
            "audience": "https://auth.example.com",
            "conditions": {"ref": ["refs/heads/main"], "repository": ["octo-org/octo-repo"]},
            "workspaces": ["production/*"],
            "token_lifetime_seconds": 900,
            "created_at": "2026-12-05T08:00:00Z",
            "created_by": "super"
        }));
        assert_eq!(p.conditions["ref"], ["refs/heads/main"]);
        let list: TrustPolicyList = round_trips(json!({"trust_policies": []}));
        assert!(list.trust_policies.is_empty());
    }

    #[test]
    fn project_roles() {
        let own: ProjectRolesView = round_trips(json!({
            "project": "default",
            "admin_teams": ["ops"],
            "member_teams": [],
            "source": "project",
            "updated_at": "2026-12-05T08:00:00Z",
            "updated_by": "super"
        }));
        assert_eq!(own.source, "project");
        let configured: ProjectRolesView = round_trips(json!({
            "project": "default",
            "admin_teams": [],
            "member_teams": [],
            "source": "configuration",
            "updated_at": null,
            "updated_by": null
        }));
        assert_eq!(configured.updated_by, None);
    }

    #[test]
    fn lifetime_policy_view() {
        let set: LifetimePolicyView = round_trips(json!({
            "project": "default",
            "service_tokens": {"max_days": 90, "default_days": 30},
            "user_tokens": {"max_days": 365, "default_days": null},
            "unused_days": 90,
            "updated_at": "2026-12-05T08:00:00Z",
            "updated_by": "super"
        }));
        assert_eq!(set.service_tokens.default_days, Some(30));
        let none: LifetimePolicyView = round_trips(json!({
            "project": "default",
            "service_tokens": {"max_days": null, "default_days": null},
            "user_tokens": {"max_days": null, "default_days": null},
            "unused_days": null,
            "updated_at": null,
            "updated_by": null
        }));
        assert_eq!(none.unused_days, None);
    }

    #[test]
    fn me() {
        let me: Me = round_trips(json!({
            "id": "usr_0123456789abcdefABCD",
            "email": "demo@example.test",
            "name": "Demo User",
            "teams": ["edgeauth-team"],
            "issuer": "http://127.0.0.1:8788",
            "authenticated_by": "user_token",
            "token_id": "ut_0123456789abcdefABCD",
            "role": "admin",
            "project": "default"
        }));
        assert_eq!(me.id, UserId::new("usr_0123456789abcdefABCD"));
        let session: Me = round_trips(json!({
            "id": "usr_0123456789abcdefABCD",
            "email": null,
            "name": null,
            "teams": [],
            "issuer": "http://127.0.0.1:8788",
            "authenticated_by": "session",
            "token_id": null,
            "role": "none",
            "project": "default"
        }));
        assert_eq!((session.email, session.token_id), (None, None));
        let bare: Me = serde_json::from_value(json!({"email": "d@e.test"})).unwrap();
        assert_eq!(bare.id.as_str(), "");
    }

    #[test]
    fn cli_exchange_request_is_what_the_worker_validates() {
        let request: CliExchangeRequest = round_trips(json!({
            "code": "c".repeat(43),
            "code_verifier": "v".repeat(43),
            "redirect_uri": "http://127.0.0.1:5000/callback"
        }));
        assert!(!format!("{request:?}").contains("ccc"));
        let body = serde_json::to_value(&request).unwrap();
        assert!(crate::cli_login::ExchangeRequest::from_json(&body).is_ok());
    }

    #[test]
    fn cli_exchange_response() {
        let mut body = with_secret(user_token_json(), "eau_plaintext");
        body["created_via"] = "cli-login".into();
        body["user"] = json!({"id": "usr_1", "email": "demo@example.test", "name": null});
        let r: CliExchangeResponse = round_trips(body);
        assert_eq!(r.created.view.created_via, "cli-login");
        assert_eq!(r.created.token.expose(), "eau_plaintext");
        let user = r.user.unwrap();
        assert_eq!(
            (user.id.as_str(), user.email.as_deref(), user.name),
            ("usr_1", Some("demo@example.test"), None)
        );
    }

    #[test]
    fn device_code_request_and_response() {
        round_trips::<DeviceCodeRequest>(json!({"client_name": "edgeauth CLI on laptop"}));
        round_trips::<DeviceCodeRequest>(json!({}));
        let grant: DeviceAuthorization = round_trips(json!({
            "device_code": "d".repeat(43),
            "user_code": "BCDF-GHJK",
            "verification_uri": "http://127.0.0.1:8787/device",
            "verification_uri_complete": "http://127.0.0.1:8787/device?user_code=BCDF-GHJK",
            "expires_in": 900,
            "interval": 5
        }));
        assert_eq!(grant.interval, Some(5));
        assert!(!format!("{grant:?}").contains("ddd"));
        // RFC 8628 §3.2: `verification_uri_complete` and `interval` are optional.
        let bare: DeviceAuthorization = round_trips(json!({
            "device_code": "dc",
            "user_code": "BCDF-GHJK",
            "verification_uri": "https://a/device",
            "expires_in": 900
        }));
        assert_eq!(
            (bare.interval, bare.verification_uri_complete),
            (None, None)
        );
    }

    #[test]
    fn token_response() {
        let tokens: TokenResponse = round_trips(json!({
            "access_token": "eaa_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "token_type": "Bearer",
            "expires_in": 900,
            "refresh_token": format!("ear_{}", "r".repeat(49)),
            "scope": "*"
        }));
        assert_eq!(tokens.expires_in, 900);
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("eaa_") && !shown.contains("rrr"), "{shown}");
    }
}
