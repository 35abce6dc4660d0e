//! A credential of every kind a client can hold, obtained the way clients obtain them (no
//! browser: the sign-in walks the local provider with [`crate::oidc`]), for tests and tools
//! that exercise every endpoint with each kind: the contract test and the fuzzer's
//! credentials (`src/bin/fuzz-credentials.rs`).

use serde_json::json;

use crate::http::{Instance, Response};
use crate::oidc::{self, Session, UserToken, DEMO};
use crate::{mint_service_token, super_token, unique, ServiceToken};

/// RFC 8628's grant type, for polling `POST /api/auth/token`.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device login approved in a browser session, step by step: every answer, and the tokens.
#[derive(Debug)]
pub struct DeviceLogin {
    /// `POST /api/auth/device/code`.
    pub authorization: Response,
    /// `GET /device?user_code=…` with the session: the confirmation page.
    pub confirmation: Response,
    /// `POST /device` approving it.
    pub approval: Response,
    /// The first poll of `POST /api/auth/token`, after the approval.
    pub tokens: Response,
    pub access_token: String,
    pub refresh_token: String,
}

/// Runs a device login in `project` that `session`'s person approves, asserting each step's
/// documented success.
pub fn device_login(session: &Session, project: &str) -> DeviceLogin {
    let instance = &session.instance;
    let authorization = instance
        .post("/api/auth/device/code")
        .project(project)
        .json(&json!({"client_name": "edgeauth e2e"}))
        .send();
    let grant = authorization.expect_json(200);
    let text = |key: &str| {
        grant[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {grant}"))
            .to_owned()
    };
    let (device_code, user_code) = (text("device_code"), text("user_code"));
    let confirmation = session
        .get(&format!("/device?user_code={user_code}"))
        .accept_html()
        .send();
    confirmation.expect_status(200);
    let approval = session
        .write("POST", "/device")
        .accept_html()
        .form(&[
            ("user_code", &user_code),
            ("decision", "approve"),
            ("csrf_token", &session.csrf_token),
        ])
        .send();
    approval.expect_status(200);
    let tokens = instance
        .post("/api/auth/token")
        .form(&[
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", &device_code),
        ])
        .send();
    let body = tokens.expect_json(200);
    let token = |key: &str| {
        body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {body}"))
            .to_owned()
    };
    DeviceLogin {
        access_token: token("access_token"),
        refresh_token: token("refresh_token"),
        authorization,
        confirmation,
        approval,
        tokens,
    }
}

/// Signs in a person of their own: `demo` at the provider, with the ID token's `sub`, `email`
/// and name rewritten by the provider's test hook to `subject`, so that what they do (failed
/// user-code lookups, say) touches nobody else.
pub fn sign_in_as(instance: &Instance, subject: &str) -> Session {
    sign_in_with_teams(instance, subject, DEMO.teams)
}

/// [`sign_in_as`], with the person in `teams` (the ID token's `groups`), which decide their
/// role in each project.
pub fn sign_in_with_teams(instance: &Instance, subject: &str, teams: &[&str]) -> Session {
    let callback = oidc::authorize_as(instance, DEMO, None);
    let code = callback.code.clone().expect("the provider sent a code");
    oidc::tamper(
        &code,
        json!({"claims": {
            "sub": subject,
            "email": format!("{subject}@example.test"),
            "name": format!("Person {subject}"),
            "preferred_username": subject,
            "groups": teams,
        }}),
    );
    let response = callback.finish();
    oidc::session_from(instance, DEMO, &response)
}

/// One credential of every kind on an instance, in one project.
#[derive(Debug)]
pub struct EveryKind {
    pub project: String,
    pub super_token: String,
    /// Minted by the super token, covering only `workspaces`.
    pub service: ServiceToken,
    /// A person of their own ([`sign_in_as`]), signed in through the provider.
    pub session: Session,
    /// A user API token of that person, made with the session.
    pub user: UserToken,
    /// That person's device login.
    pub device: DeviceLogin,
}

/// Signs a new person in on `instance` and makes a credential of every kind in `project`;
/// the service token covers `service_workspaces`. Hold [`oidc::shared`] around it in a test
/// binary that also has an [`oidc::exclusive`] test.
pub fn every_kind(instance: &Instance, project: &str, service_workspaces: &[&str]) -> EveryKind {
    let super_token = super_token();
    let service = mint_service_token(
        instance,
        &super_token,
        project,
        "every kind",
        service_workspaces,
    );
    let session = sign_in_as(instance, &unique("every-kind"));
    let user = session.create_token(project, &json!({"name": "every kind"}));
    let device = device_login(&session, project);
    EveryKind {
        project: project.to_owned(),
        super_token,
        service,
        session,
        user,
        device,
    }
}
