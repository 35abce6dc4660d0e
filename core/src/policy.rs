//! Who is asking, and what they may do.

use crate::project::ProjectName;
use crate::workspace::Scope;

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The operator's super token: everything, in every project.
    Super,
    /// A workspace-scoped service token of one project.
    Service,
    /// A user-owned API token.
    User,
    /// A person's browser session (the session cookie).
    Session,
    /// A short-lived access token from the device flow.
    Access,
    /// Nobody, with `AUTH_DISABLED=true` on loopback: everything.
    Anonymous,
}

impl PrincipalKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Super => "super",
            PrincipalKind::Service => "service",
            PrincipalKind::User => "user",
            PrincipalKind::Session => "session",
            PrincipalKind::Access => "access",
            PrincipalKind::Anonymous => "anonymous",
        }
    }
}

/// An authenticated caller, valid for one request in one project.
#[derive(Debug, Clone)]
pub struct Principal {
    /// How it authenticated.
    pub kind: PrincipalKind,
    /// A name for people: the token's name, `super`, `anonymous`, or the user's name.
    pub name: String,
    /// The project of the request.
    pub project: ProjectName,
    /// The workspaces it may act on.
    pub scope: Scope,
    /// The public id of the token used, if any.
    pub token_id: Option<String>,
    /// When the credential stops working (Unix ms), if ever.
    pub expires_at_ms: Option<i64>,
    /// The person behind it (`usr_…`), for sessions, user tokens and access tokens.
    pub user_id: Option<String>,
}

impl Principal {
    /// The operator, in `project`.
    pub fn super_token(project: ProjectName) -> Self {
        Self::unlimited(PrincipalKind::Super, "super", project)
    }

    /// Nobody, with authentication disabled, in `project`.
    pub fn anonymous(project: ProjectName) -> Self {
        Self::unlimited(PrincipalKind::Anonymous, "anonymous", project)
    }

    fn unlimited(kind: PrincipalKind, name: &str, project: ProjectName) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            project,
            scope: Scope::all(),
            token_id: None,
            expires_at_ms: None,
            user_id: None,
        }
    }

    /// The person behind the credential, when it is one (a session, a user API token or an
    /// access token); `None` for the super token, service tokens and anonymous.
    pub fn person(&self) -> Option<&str> {
        match self.kind {
            PrincipalKind::Session | PrincipalKind::User | PrincipalKind::Access => {
                self.user_id.as_deref()
            }
            _ => None,
        }
    }

    /// May this caller mint, see or revoke a service token with `scope`? Only when its own
    /// scope covers it, so no token is broader than its creator (the super token and the
    /// anonymous principal cover everything).
    pub fn may_manage(&self, scope: &Scope) -> bool {
        self.scope.covers(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectName {
        ProjectName::parse("p").unwrap()
    }

    #[test]
    fn super_and_anonymous_cover_every_scope() {
        let wide = Scope::parse(&["*"]).unwrap();
        assert!(Principal::super_token(project()).may_manage(&wide));
        assert!(Principal::anonymous(project()).may_manage(&wide));
    }

    #[test]
    fn a_service_token_manages_only_what_its_scope_covers() {
        let mut p = Principal::super_token(project());
        p.kind = PrincipalKind::Service;
        p.scope = Scope::parse(&["production/*"]).unwrap();
        assert!(p.may_manage(&Scope::parse(&["production/eu"]).unwrap()));
        assert!(p.may_manage(&Scope::parse(&["production/*"]).unwrap()));
        assert!(!p.may_manage(&Scope::parse(&["production"]).unwrap()));
        assert!(!p.may_manage(&Scope::parse(&["staging"]).unwrap()));
        assert!(!p.may_manage(&Scope::parse(&["*"]).unwrap()));
    }
}
