//! Columns that hold more than their SQL type says: a project name, a JSON array of workspace
//! patterns or of team names. Decoded when a row is read (`#[serde(deserialize_with)]`), so a
//! bad stored value is a [`StoreError`](super::StoreError) there, never a surprise later.

use edgeauth_core::{ProjectName, Scope};
use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};

/// A project name, as stored.
pub fn project<'de, D: Deserializer<'de>>(d: D) -> Result<ProjectName, D::Error> {
    let stored = String::deserialize(d)?;
    ProjectName::parse(&stored).map_err(D::Error::custom)
}

/// A scope, stored as a JSON array of patterns.
pub fn scope<'de, D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
    let patterns: Vec<String> = json_text(d)?;
    Scope::parse(&patterns).map_err(D::Error::custom)
}

/// A value stored as JSON text.
pub fn json_text<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    let stored = String::deserialize(d)?;
    serde_json::from_str(&stored).map_err(D::Error::custom)
}

/// How a scope is stored: a JSON array of its patterns.
pub fn scope_text(scope: &Scope) -> String {
    serde_json::Value::from(scope.to_strings()).to_string()
}
