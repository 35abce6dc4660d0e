//! The token exchange (RFC 8693) at `POST /api/auth/token`: a CI job trades the ID token its
//! platform signed for an access token of the request's project, as a trust policy of that
//! project allows (`edgeauth_core::trust`). No credential is presented and none is stored.
//!
//! In order: the token's `iss` is read (unverified) and must be one of the operator's
//! `TRUST_ISSUERS`, and the project must have a policy for it (the project's policies are
//! remembered for the revocation bound, so a flood costs no reads); otherwise nothing is
//! fetched. Then the issuer's keys (discovery on the issuer's own origin, JWKS, refetched on
//! an unknown `kid` at most every few seconds) verify the signature with the algorithms
//! sign-in allows (RS256, ES256), and each policy is tried, oldest first: its audience, times
//! (60 s skew) and claim conditions. The first that holds wins. The ID token's `jti` is then
//! spent (a replay is refused) and an access token minted for the policy's workspaces and
//! lifetime, naming the policy and the job.
//!
//! Every refusal is `invalid_grant` whose description says which check failed (the claim, and
//! the value the token has) without echoing the token, and without naming the project's
//! policies or their patterns: anyone holding a signed ID token from a listed platform may
//! ask. The Worker's log has the whole story (which policy refused what).

use edgeauth_core::access_token::{self, AccessGrant, Holder};
use edgeauth_core::api::ExchangeResponse;
use edgeauth_core::grant::ACCESS_TOKEN_TYPE;
use edgeauth_core::oidc::split_jws;
use edgeauth_core::secret::Secret;
use edgeauth_core::trust::{self, check_id_token_claims, untrusted_issuer, CiIdentity};
use serde_json::{json, Map, Value};
use worker::{Context, Env, Response};

use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::flows::oidc;
use crate::store::{self, Actor, AuditEvent, ExchangedIdToken, TrustPolicyRecord};
use crate::{database, http, now_ms, WebCrypto};

fn invalid_grant(description: impl Into<String>) -> ApiError {
    ApiError::OAuth {
        status: 400,
        error: "invalid_grant",
        description: description.into(),
    }
}

/// The exchange of `subject_token` (a JWT from a CI platform).
pub async fn exchange(
    subject_token: &str,
    caller: &Caller,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let unverified = split_jws(subject_token).map_err(|e| {
        invalid_grant(format!(
            "the subject_token is not an ID token ({e}); send the JWT your CI platform issued"
        ))
    })?;
    let issuer = unverified
        .claims()
        .get("iss")
        .and_then(Value::as_str)
        .filter(|iss| !iss.is_empty() && iss.len() <= trust::MAX_TEXT_LEN)
        .ok_or_else(|| invalid_grant("the ID token has no `iss`"))?
        .to_owned();
    if untrusted_issuer(&issuer, &caller.config().trust_issuers).is_some() {
        return Err(invalid_grant(format!(
            "this server does not accept ID tokens from the issuer `{}`; the operator lists the CI platforms it trusts in TRUST_ISSUERS",
            issuer.escape_default()
        )));
    }
    let policies: Vec<TrustPolicyRecord> = policies_of(caller, env)
        .await?
        .into_iter()
        .filter(|p| p.issuer == issuer)
        .collect();
    if policies.is_empty() {
        return Err(invalid_grant(format!(
            "project `{}` has no trust policy for the issuer `{}`; an admin creates one with `edgeauth trust create`",
            caller.project,
            issuer.escape_default()
        )));
    }
    let jwks_uri = oidc::key_location(&issuer).await.map_err(as_oauth)?;
    let jws = oidc::verified_jws(&jwks_uri, subject_token)
        .await
        .map_err(as_oauth)?;
    let claims: &Map<String, Value> = jws
        .claims()
        .as_object()
        .ok_or_else(|| invalid_grant("the ID token's claims are not a JSON object"))?;
    let now = now_ms();
    let now_s = now.div_euclid(1000);
    let mut refusals = Vec::new();
    let mut matched = None;
    for policy in &policies {
        let verdict = check_id_token_claims(claims, &policy.issuer, &policy.audience, now_s)
            .and_then(|()| policy.conditions.check(claims));
        match verdict {
            Ok(()) => {
                matched = Some(policy);
                break;
            }
            Err(why) => {
                worker::console_log!(
                    "exchange refused by trust policy {} of project {}: {why} (conditions {})",
                    policy.id,
                    caller.project,
                    serde_json::to_string(&policy.conditions).unwrap_or_default()
                );
                if !refusals.contains(&why) {
                    refusals.push(why);
                }
            }
        }
    }
    let Some(policy) = matched else {
        return Err(invalid_grant(format!(
            "no trust policy of project `{}` accepts this ID token: {}",
            caller.project,
            refusals.join("; or ")
        )));
    };
    // Checked present by `check_id_token_claims`.
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // `exp` as `check_id_token_claims` read it (a float included), so that the ledger keeps
    // the `jti` as long as the ID token is valid.
    let exp_s = claims
        .get("exp")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .unwrap_or(now_s);
    let db = database(env)?;
    let spent_until = exp_s
        .saturating_add(trust::CLOCK_SKEW_S)
        .saturating_mul(1000);
    // Minted first: a job whose token cannot be minted keeps its ID token unspent.
    let identity = CiIdentity::from_claims(claims);
    let minted = access_token::mint(
        caller.settings.signing_keys()?,
        &AccessGrant {
            issuer: caller.own_origin(),
            holder: Holder::Ci {
                policy_id: policy.id.clone(),
                identity: identity.clone(),
            },
            project: caller.project.clone(),
            scope: policy.workspaces.clone(),
            now_s,
            lifetime_s: policy.lifetime_s,
        },
        &mut WebCrypto,
    )
    .map_err(|e| {
        invalid_grant(format!(
            "no access token can carry this job's identity: {e}"
        ))
    })?;
    if !ExchangedIdToken::first_use(&db, &issuer, jti, spent_until, now).await? {
        return Err(invalid_grant(
            "this ID token was exchanged already (its `jti` was seen); request a new one from your CI platform",
        ));
    }
    let exchanged = AuditEvent {
        at: now,
        project: Some(caller.project.as_str()),
        actor: Actor::TrustPolicy(policy.id.clone()),
        action: "ci.exchange",
        subject: &minted.claims().token_id,
        detail: json!({"ci": identity, "id_token_jti": jti,
                       "expires_at": edgeauth_core::time::rfc3339(minted.claims().expires_at_ms())})
        .to_string(),
        person: None,
        trace: &caller.trace,
    };
    // Written after the response: the job's token never waits for its audit event.
    store::record_later(ctx, &db, &exchanged)?;
    let mut response = http::json(
        200,
        &ExchangeResponse {
            access_token: Secret::new(minted.plaintext()),
            issued_token_type: ACCESS_TOKEN_TYPE.to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: minted.expires_in_s(),
            scope: Some(policy.workspaces.to_strings().join(" ")),
        },
    );
    http::set_header(&mut response, "Cache-Control", "no-store");
    http::set_header(&mut response, "Pragma", "no-cache");
    Ok(response)
}

/// The project's live policies: remembered, or read and remembered.
async fn policies_of(caller: &Caller, env: &Env) -> Result<Vec<TrustPolicyRecord>, ApiError> {
    let now = now_ms();
    if let Some(policies) = cache::trust_policies(&caller.project, now) {
        return Ok(policies);
    }
    let policies = TrustPolicyRecord::live(&database(env)?, &caller.project).await?;
    cache::remember_trust_policies(
        &caller.project,
        &policies,
        caller.config().revocation_bound_s,
        now,
    );
    Ok(policies)
}

/// A refusal of the ID-token verification, as this OAuth endpoint words it: a bad token is
/// `invalid_grant`; an issuer that cannot be reached is 502 `temporarily_unavailable` with
/// `Retry-After`.
fn as_oauth(e: ApiError) -> ApiError {
    match e {
        ApiError::RetryAfter(inner, seconds) => {
            ApiError::RetryAfter(Box::new(as_oauth(*inner)), seconds)
        }
        ApiError::Refused {
            status: 502,
            message,
            ..
        } => ApiError::OAuth {
            status: 502,
            error: "temporarily_unavailable",
            description: message.replace("identity provider", "CI platform"),
        },
        ApiError::Refused { message, .. } => invalid_grant(format!(
            "the ID token was refused: {}",
            message
                .replace("identity provider", "CI platform")
                .replace("; sign in again, and report it if it persists", "")
                .replace("; sign in again", "")
        )),
        other => other,
    }
}
