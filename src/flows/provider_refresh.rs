//! A person's teams when their device login refreshes, as the identity provider says now.
//!
//! Teams are read at sign-in; a person removed from a team at the provider is still in it in
//! edgeauth until the provider is asked again. When the provider issues refresh tokens (most
//! do with the `offline_access` scope), sign-in keeps the latest with the person, sealed
//! (AES-256-GCM, `edgeauth_core::sealed`, Web Crypto here), and a device login's refresh asks
//! the provider again once the teams are older than `REVOCATION_BOUND_SECONDS`: a refresh at
//! its token endpoint, whose ID token is verified as at sign-in (without the nonce, the same
//! `sub`). The teams it gives are stored (so sessions and tokens follow within the bound) and
//! decide the role; a person no longer in `ALLOWED_TEAMS`, or whose refresh the provider
//! refuses, ends the device login.
//!
//! A provider that cannot be asked (down, slow) does not end anyone's login: the teams it last
//! gave stand, and the next refresh asks again. Neither does a provider that issued no refresh
//! token: the teams of the last sign-in stand, as before.

use edgeauth_core::crypto::DerivedKey;
use edgeauth_core::id_token;
use edgeauth_core::sealed::{id_token_context, provider_token_context, Sealed};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use worker::Env;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::flows::oidc::{self, ProviderRefresh};
use crate::store::{ProviderGrant, RefreshTokenRecord};
use crate::web_crypto;
use crate::{database, WebCrypto};

/// The teams a refresh decides the role with, or why the device login ends.
pub enum Teams {
    Current(Vec<String>),
    Ended(String),
}

/// The person's teams for this refresh of their device login (`record`): the stored ones,
/// or the provider's now when those are older than the revocation bound and no other refresh
/// of the person is asking.
pub async fn at_refresh(
    record: &RefreshTokenRecord,
    caller: &Caller,
    env: &Env,
    now_ms: i64,
) -> Result<Teams, ApiError> {
    let stored = || Ok(Teams::Current(record.user_teams.clone()));
    let bound_ms = i64::from(caller.config().revocation_bound_s) * 1000;
    let fresh = record
        .teams_checked_at
        .is_some_and(|at| now_ms - at < bound_ms);
    let Some(settings) = caller.config().oidc.as_ref() else {
        return stored();
    };
    if record.has_provider_refresh == 0 || fresh {
        return stored();
    }
    let db = database(env)?;
    // One refresh of the person at a time asks (the provider may rotate its refresh token,
    // and refuse, or revoke the whole grant, when a used one comes back).
    let Some(grant) = ProviderGrant::take_turn(&db, &record.user_id, bound_ms, now_ms).await?
    else {
        return stored();
    };
    let Some(sealed) = grant.provider_refresh.clone() else {
        return Ok(Teams::Current(grant.teams));
    };
    let key = caller.settings.provider_token_key()?;
    let context = provider_token_context(&grant.issuer, &grant.subject);
    // Sealed under SECRET, or under SECRET_PREVIOUS before a rotation (sealed anew below).
    let mut opened = None;
    for accepted in caller.settings.provider_token_keys() {
        opened = unseal(accepted, &context, &sealed).await?;
        if opened.is_some() {
            break;
        }
    }
    let refresh_token = match opened {
        Some(token) if grant.issuer == settings.issuer => token,
        _ => {
            // Sealed under another SECRET, or by another provider (OIDC_ISSUER changed): it
            // cannot be used; the teams of the last sign-in stand.
            worker::console_log!(
                "provider refresh: the refresh token kept for {} cannot be used here; keeping the teams of the last sign-in",
                record.user_id
            );
            return Ok(Teams::Current(grant.teams));
        }
    };
    let provider = match oidc::provider(settings).await {
        Ok(provider) => provider,
        Err(e) => return Ok(unavailable(grant.teams, &e)),
    };
    match oidc::refresh_at_provider(settings, &provider, &refresh_token).await {
        ProviderRefresh::Renewed(answer) => {
            // The person as the provider sees them now, if its ID token says; else the teams it
            // last gave stand.
            let checked = match &answer.id_token {
                None => {
                    worker::console_log!(
                        "provider refresh: the provider's answer has no ID token; keeping the teams it last gave"
                    );
                    Ok(grant.teams.clone())
                }
                Some(id_token) => match oidc::verify_refreshed_id_token(
                    settings,
                    &provider,
                    id_token,
                    &grant.subject,
                    now_ms.div_euclid(1000),
                )
                .await
                {
                    Ok(Ok(identity)) => Ok(identity.teams),
                    Ok(Err(why)) => Err(why),
                    Err(e) => {
                        worker::console_log!(
                            "provider refresh: the renewed ID token cannot be verified now ({}); keeping the teams the provider last gave",
                            why(&e)
                        );
                        Ok(grant.teams.clone())
                    }
                },
            };
            // Whatever the ID token says, the refresh token the provider rotated is kept (the
            // one used is spent there), sealed under the current SECRET. Of two refreshes
            // racing with one token, the first to get here stores its answer.
            let next = match &answer.refresh_token {
                Some(rotated) => seal(key, &context, rotated.expose()).await?,
                None => seal(key, &context, &refresh_token).await?,
            };
            let teams = checked.as_ref().unwrap_or(&grant.teams);
            ProviderGrant::renewed(&db, &record.user_id, &sealed, teams, &next, now_ms).await?;
            let teams = match checked {
                Ok(teams) => teams,
                Err(why) => {
                    return Ok(Teams::Ended(format!(
                        "the identity provider's renewed ID token refuses you: {why}"
                    )))
                }
            };
            if !id_token::admitted(&settings.allowed_teams, &teams) {
                return Ok(Teams::Ended(
                    "your account is no longer in any of the teams allowed to sign in here (your identity provider says so)".into(),
                ));
            }
            Ok(Teams::Current(teams))
        }
        ProviderRefresh::Refused => {
            // Another refresh may have rotated the token a moment ago: then its teams stand.
            match ProviderGrant::find(&db, &record.user_id).await? {
                Some(now) if now.provider_refresh.as_deref() != Some(sealed.as_str()) => {
                    Ok(Teams::Current(now.teams))
                }
                _ => Ok(Teams::Ended(
                    "your identity provider no longer renews your sign-in (`invalid_grant`: signed out, removed or expired there)".into(),
                )),
            }
        }
        ProviderRefresh::Unavailable(e) => Ok(unavailable(grant.teams, &e)),
    }
}

/// The provider could not be asked: the teams it last gave stand.
fn unavailable(teams: Vec<String>, e: &ApiError) -> Teams {
    worker::console_log!(
        "provider refresh: the identity provider could not be asked ({}); keeping the teams it last gave",
        why(e)
    );
    Teams::Current(teams)
}

/// What `e` says.
fn why(e: &ApiError) -> String {
    match e {
        ApiError::RetryAfter(inner, _) => why(inner),
        ApiError::Refused { message, .. } => message.clone(),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Sealing (AES-256-GCM, Web Crypto)

/// The provider's refresh token of the person `(issuer, subject)`, sealed for storage.
pub async fn seal_for(
    key: &DerivedKey,
    issuer: &str,
    subject: &str,
    refresh_token: &str,
) -> Result<String, ApiError> {
    seal(key, &provider_token_context(issuer, subject), refresh_token).await
}

/// A session's ID token, sealed for its cookie, bound to the session (by the hex SHA-256 of
/// its cookie) under the same key as the provider's refresh tokens: another context.
pub async fn seal_id_token(
    key: &DerivedKey,
    session_hash_hex: &str,
    id_token: &str,
) -> Result<String, ApiError> {
    seal(key, &id_token_context(session_hash_hex), id_token).await
}

/// The ID token a session's cookie seals, if it opens for that session.
pub async fn open_id_token(
    key: &DerivedKey,
    session_hash_hex: &str,
    sealed: &str,
) -> Result<Option<String>, ApiError> {
    unseal(key, &id_token_context(session_hash_hex), sealed).await
}

/// `plaintext` sealed under `key`, bound to `context`, in its stored form.
async fn seal(key: &DerivedKey, context: &[u8], plaintext: &str) -> Result<String, ApiError> {
    let iv = Sealed::fresh_iv(&mut WebCrypto);
    let subtle = web_crypto::subtle_crypto()?;
    let promise = subtle
        .encrypt_with_object_and_u8_array(
            &gcm(&iv, context)?,
            &aes_key(key).await?,
            plaintext.as_bytes(),
        )
        .map_err(|e| web_crypto::failed("encrypt", &e))?;
    let buffer = JsFuture::from(promise)
        .await
        .map_err(|e| web_crypto::failed("encrypt", &e))?;
    Ok(Sealed {
        iv,
        ciphertext: Uint8Array::new(&buffer).to_vec(),
    }
    .encode())
}

/// What `text` seals under `key` for `context`; `None` when it does not open (another key,
/// another context, altered).
async fn unseal(key: &DerivedKey, context: &[u8], text: &str) -> Result<Option<String>, ApiError> {
    let Some(sealed) = Sealed::decode(text) else {
        return Ok(None);
    };
    let subtle = web_crypto::subtle_crypto()?;
    let promise = subtle
        .decrypt_with_object_and_u8_array(
            &gcm(&sealed.iv, context)?,
            &aes_key(key).await?,
            &sealed.ciphertext,
        )
        .map_err(|e| web_crypto::failed("decrypt", &e))?;
    match JsFuture::from(promise).await {
        Ok(buffer) => Ok(String::from_utf8(Uint8Array::new(&buffer).to_vec()).ok()),
        Err(_) => Ok(None),
    }
}

async fn aes_key(key: &DerivedKey) -> Result<CryptoKey, ApiError> {
    let subtle = web_crypto::subtle_crypto()?;
    let algorithm = Object::new();
    set(&algorithm, "name", &"AES-GCM".into())?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let promise = subtle
        .import_key_with_object(
            "raw",
            &Uint8Array::from(&key.as_bytes()[..]),
            &algorithm,
            false,
            &usages,
        )
        .map_err(|e| web_crypto::failed("importKey (AES-GCM)", &e))?;
    let key = JsFuture::from(promise)
        .await
        .map_err(|e| web_crypto::failed("importKey (AES-GCM)", &e))?;
    Ok(key.unchecked_into())
}

fn gcm(iv: &[u8], context: &[u8]) -> Result<Object, ApiError> {
    let params = Object::new();
    set(&params, "name", &"AES-GCM".into())?;
    set(&params, "iv", &Uint8Array::from(iv).into())?;
    set(&params, "additionalData", &Uint8Array::from(context).into())?;
    Ok(params)
}

fn set(object: &Object, name: &str, value: &JsValue) -> Result<(), ApiError> {
    Reflect::set(object, &name.into(), value)
        .map(|_| ())
        .map_err(|e| web_crypto::failed("building a Web Crypto parameter", &e))
}
