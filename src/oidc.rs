//! Placeholder until the OIDC client lands (discovery, JWKS, Web Crypto verification).

use edgeauth_core::config::OidcSettings;
use edgeauth_core::id_token::{Expectations, Identity};

use crate::error::ApiError;

pub struct ProviderMetadata;

fn unavailable() -> ApiError {
    ApiError::Refused {
        status: 502,
        code: "provider_unavailable",
        message: "the OIDC client is not built yet".into(),
    }
}

pub async fn provider(_: &OidcSettings) -> Result<ProviderMetadata, ApiError> {
    Err(unavailable())
}

pub fn authorization_url(
    _: &ProviderMetadata,
    _: &OidcSettings,
    _: &str,
    _: &str,
    _: &str,
    _: &str,
) -> String {
    String::new()
}

pub async fn exchange_code(
    _: &OidcSettings,
    _: &ProviderMetadata,
    _: &str,
    _: &str,
    _: &str,
) -> Result<String, ApiError> {
    Err(unavailable())
}

pub async fn verify_id_token(
    _: &OidcSettings,
    _: &ProviderMetadata,
    _: &str,
    _: &Expectations,
) -> Result<Identity, ApiError> {
    Err(unavailable())
}
