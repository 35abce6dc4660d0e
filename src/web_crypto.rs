//! Web Crypto (`crypto.subtle`) through web-sys, for what Rust crates would do worse here: the
//! identity provider's RS256/ES256 signatures, AES-GCM sealing, GitHub's ECDSA signatures.
//! A Web Crypto call that fails is an internal error, logged with the JS exception's text.

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{SubtleCrypto, WorkerGlobalScope};

use crate::error::ApiError;

/// `crypto.subtle` of the Worker's global scope (workerd's global is not a `Window`).
pub fn subtle_crypto() -> Result<SubtleCrypto, ApiError> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let crypto = scope
        .crypto()
        .map_err(|e| failed("globalThis.crypto", &e))?;
    Ok(crypto.subtle())
}

/// A Web Crypto parameter object of string members (`{name: "ECDSA", hash: "SHA-256"}`).
pub fn js_object(members: &[(&str, &str)]) -> Result<Object, ApiError> {
    let object = Object::new();
    for (name, value) in members {
        Reflect::set(&object, &(*name).into(), &(*value).into())
            .map_err(|e| failed("building a Web Crypto parameter", &e))?;
    }
    Ok(object)
}

/// 500 for a Web Crypto `step` that threw or rejected; the cause is logged, never shown.
pub fn failed(step: &str, e: &JsValue) -> ApiError {
    ApiError::Internal(format!("Web Crypto {step} failed: {}", js_text(e)))
}

/// The text of a JS exception, for the log.
pub fn js_text(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}
