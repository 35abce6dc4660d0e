//! The REST API: tokens of both kinds, the signed-in person, and what the server and the
//! caller can do; and the contract that describes it all (`/openapi.json`).

pub mod audit;
pub mod contract;
pub mod discovery;
pub mod introspect;
pub mod leak;
pub mod lifetime;
pub mod roles;
pub mod secret_scanning;
pub mod sessions;
pub mod status;
pub mod tokens;
pub mod trust;
pub mod users;
