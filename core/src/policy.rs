//! Who is asking, and what they may do.

use crate::crypto::TokenHash;
use crate::ids::{FamilyId, SessionId, TokenId, UserId};
use crate::project::ProjectName;
use crate::role::Role;
use crate::trust::CiIdentity;
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
    /// A short-lived access token a CI job got for its ID token (a trust policy).
    Ci,
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
            PrincipalKind::Ci => "ci",
            PrincipalKind::Anonymous => "anonymous",
        }
    }
}

/// The credential a request authenticated with, and what only that kind carries.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The operator's super token.
    Super,
    /// Nobody, with authentication disabled.
    Anonymous,
    /// A service token of the request's project.
    Service { token_id: TokenId, name: String },
    /// A person's API token.
    User {
        token_id: TokenId,
        name: String,
        user_id: UserId,
    },
    /// A device login's access token (`jti` is its id; no storage row), from the refresh
    /// family `family_id` (the device login).
    Access {
        token_id: String,
        user_id: UserId,
        family_id: FamilyId,
    },
    /// A browser session, with the SHA-256 of its cookie (which keys its CSRF token).
    Session(BrowserSession),
    /// A CI job's access token (`jti` is its id), from the trust policy `policy_id`.
    Ci {
        token_id: String,
        policy_id: String,
        identity: CiIdentity,
    },
}

/// A person's browser session that authenticated a request.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session_id: SessionId,
    pub user_id: UserId,
    /// The person's name (or email, or id) for display.
    pub name: String,
    /// The SHA-256 of the session cookie: the key of its row and of its CSRF token.
    pub cookie_hash: TokenHash,
}

/// An authenticated caller, valid for one request in one project.
#[derive(Debug, Clone)]
pub struct Principal {
    /// What it authenticated with.
    pub credential: Credential,
    /// The project of the request.
    pub project: ProjectName,
    /// The workspaces it may act on.
    pub scope: Scope,
    /// When the credential stops working (Unix ms), if ever.
    pub expires_at_ms: Option<i64>,
    /// The login the credential comes from, if any: a session's own, an access token's
    /// device login, or the login a stored token was created with (through however many
    /// tokens). What such a credential creates never outlives that login and is revoked with it.
    pub login: Option<Login>,
    /// A person's role in the project (`None`: they have none there, and may not act in it).
    /// Always `None` for credentials that are not a person's.
    pub role: Option<Role>,
}

/// Which of a project's service tokens a caller may manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceTokenReach {
    /// Every one its scope covers: the super token, an admin.
    Project,
    /// Only those this service token created (and its scope covers).
    CreatedBy(TokenId),
}

/// A person's login that credentials can come from, and die with: a device login (its
/// refresh-token family) or a browser session. (A CLI loopback login is a token of its own,
/// which a session approves but does not make.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Device(FamilyId),
    Session(SessionId),
}

impl Principal {
    /// The operator, in `project`.
    pub fn super_token(project: ProjectName) -> Self {
        Self::unlimited(Credential::Super, project)
    }

    /// Nobody, with authentication disabled, in `project`.
    pub fn anonymous(project: ProjectName) -> Self {
        Self::unlimited(Credential::Anonymous, project)
    }

    fn unlimited(credential: Credential, project: ProjectName) -> Self {
        Self {
            credential,
            project,
            scope: Scope::all(),
            expires_at_ms: None,
            login: None,
            role: None,
        }
    }

    /// How it authenticated.
    pub fn kind(&self) -> PrincipalKind {
        match self.credential {
            Credential::Super => PrincipalKind::Super,
            Credential::Anonymous => PrincipalKind::Anonymous,
            Credential::Service { .. } => PrincipalKind::Service,
            Credential::User { .. } => PrincipalKind::User,
            Credential::Access { .. } => PrincipalKind::Access,
            Credential::Session(_) => PrincipalKind::Session,
            Credential::Ci { .. } => PrincipalKind::Ci,
        }
    }

    /// A name for people: the token's name, `super`, `anonymous`, the person's name for a
    /// session, and the person's id for an access token.
    pub fn name(&self) -> &str {
        match &self.credential {
            Credential::Super => "super",
            Credential::Anonymous => "anonymous",
            Credential::Service { name, .. } | Credential::User { name, .. } => name,
            Credential::Access { user_id, .. } => user_id.as_str(),
            Credential::Session(session) => &session.name,
            Credential::Ci { identity, .. } => identity.name(),
        }
    }

    /// The public id of the token or session used, if any.
    pub fn token_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Super | Credential::Anonymous => None,
            Credential::Service { token_id, .. } | Credential::User { token_id, .. } => {
                Some(token_id.as_str())
            }
            Credential::Access { token_id, .. } | Credential::Ci { token_id, .. } => Some(token_id),
            Credential::Session(session) => Some(session.session_id.as_str()),
        }
    }

    /// The person behind the credential, when it is one (a session, a user API token or an
    /// access token); `None` for the super token, service tokens and anonymous.
    pub fn person(&self) -> Option<&UserId> {
        match &self.credential {
            Credential::User { user_id, .. } | Credential::Access { user_id, .. } => Some(user_id),
            Credential::Session(session) => Some(&session.user_id),
            Credential::Super
            | Credential::Anonymous
            | Credential::Service { .. }
            | Credential::Ci { .. } => None,
        }
    }

    /// The browser session, when that is what authenticated the request.
    pub fn browser_session(&self) -> Option<&BrowserSession> {
        match &self.credential {
            Credential::Session(session) => Some(session),
            _ => None,
        }
    }

    /// The caller's standing in its project, as whoami, `/api/users/me` and 403s name it:
    /// `super` (also nobody, with authentication disabled), `service`, `ci`, or a person's
    /// `admin`, `member` or `none`.
    pub fn role_name(&self) -> &'static str {
        match (&self.credential, self.person(), self.role) {
            (Credential::Super | Credential::Anonymous, _, _) => "super",
            (Credential::Ci { .. }, _, _) => "ci",
            (_, Some(_), Some(role)) => role.as_str(),
            (_, Some(_), None) => "none",
            _ => "service",
        }
    }

    /// Does the caller administer its project: the super token (or nobody, with
    /// authentication disabled), or a person with the admin role there?
    pub fn administers(&self) -> bool {
        matches!(self.credential, Credential::Super | Credential::Anonymous)
            || (self.person().is_some() && self.role == Some(Role::Admin))
    }

    /// Why the caller may not act in its project at all: a person with no role there.
    pub fn outsider_problem(&self) -> Option<String> {
        (self.person().is_some() && self.role.is_none()).then(|| {
            format!(
                "your account is in none of the teams that use project `{}`, so it has no role there; ask an admin of the project (or the operator) to add one of your teams",
                self.project
            )
        })
    }

    /// Why the caller may not do `doing` (e.g. "managing service tokens"), which needs the
    /// admin role in its project; `None` when it may.
    pub fn admin_problem(&self, doing: &str) -> Option<String> {
        if self.administers() {
            return None;
        }
        let you = match self.person() {
            Some(_) => format!("you are {}", article(self.role_name())),
            None => format!("a {} credential is not a person", self.kind().as_str()),
        };
        Some(format!(
            "{doing} needs the admin role in project `{}` ({you}); admins are the people in the project's admin teams (ADMIN_TEAMS, or the project's own, see GET /api/roles), and the super token",
            self.project
        ))
    }

    /// Why the caller may not do `doing` (e.g. "signing out your other logins"), which
    /// concerns the person as a whole, across projects: it needs a person's credential that
    /// covers every workspace (a session, a device login, an unnarrowed user token); a
    /// narrowed token stands for part of what the person may do, not for the person.
    pub fn whole_person_problem(&self, doing: &str) -> Option<String> {
        match self.person() {
            None => Some(format!(
                "{doing} needs a person's credential, not a {} one",
                self.kind().as_str()
            )),
            Some(_) if !self.scope.covers(&Scope::all()) => Some(format!(
                "{doing} needs a credential of yours that covers every workspace (a browser session, `edgeauth login`, or a token without narrowed workspaces); this one covers only {}",
                self.scope.to_strings().join(", ")
            )),
            Some(_) => None,
        }
    }

    /// Which of the project's service tokens the caller may create, see and revoke (always
    /// within its own scope too): every one for the super token and admins, those it created
    /// for a service token, none for members (403, saying the admin role is needed).
    pub fn service_token_reach(&self) -> Result<ServiceTokenReach, String> {
        match &self.credential {
            Credential::Service { token_id, .. } => {
                return Ok(ServiceTokenReach::CreatedBy(token_id.clone()))
            }
            Credential::Ci { .. } => {
                return Err(
                    "a CI job's token manages no service tokens: it lives minutes, and what it made would outlive it; use a service token or an admin's credential".into(),
                )
            }
            _ => {}
        }
        match self.admin_problem("managing the service tokens of a project") {
            None => Ok(ServiceTokenReach::Project),
            Some(problem) => Err(problem),
        }
    }

    /// May this caller mint, see or revoke a service token with `scope`? Only when its own
    /// scope covers it, so no token is broader than its creator (the super token and the
    /// anonymous principal cover everything).
    pub fn may_manage(&self, scope: &Scope) -> bool {
        self.scope.covers(scope)
    }
}

/// `a member`, `an admin`, `no role` (for `none`).
fn article(role: &str) -> String {
    match role {
        "none" => "without a role there".to_owned(),
        "admin" => "an admin".to_owned(),
        other => format!("a {other}"),
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

    fn service(scope: &[&str]) -> Principal {
        Principal {
            credential: Credential::Service {
                token_id: TokenId::new("st_1"),
                name: "CI".into(),
            },
            project: project(),
            scope: Scope::parse(scope).unwrap(),
            expires_at_ms: None,
            login: None,
            role: None,
        }
    }

    fn person(role: Option<Role>) -> Principal {
        Principal {
            credential: Credential::User {
                token_id: TokenId::new("ut_1"),
                name: "laptop".into(),
                user_id: UserId::new("usr_1"),
            },
            role,
            ..Principal::super_token(project())
        }
    }

    #[test]
    fn roles_decide_who_manages_service_tokens() {
        assert_eq!(
            Principal::super_token(project()).service_token_reach(),
            Ok(ServiceTokenReach::Project)
        );
        assert_eq!(
            Principal::anonymous(project()).service_token_reach(),
            Ok(ServiceTokenReach::Project)
        );
        assert_eq!(
            person(Some(Role::Admin)).service_token_reach(),
            Ok(ServiceTokenReach::Project)
        );
        let member = person(Some(Role::Member))
            .service_token_reach()
            .unwrap_err();
        assert!(
            member.contains("needs the admin role in project `p` (you are a member)"),
            "{member}"
        );
        let outsider = person(None).service_token_reach().unwrap_err();
        assert!(outsider.contains("without a role there"), "{outsider}");
        assert_eq!(
            service(&["*"]).service_token_reach(),
            Ok(ServiceTokenReach::CreatedBy(TokenId::new("st_1")))
        );
    }

    #[test]
    fn role_names_and_outsiders() {
        assert_eq!(Principal::super_token(project()).role_name(), "super");
        assert_eq!(Principal::anonymous(project()).role_name(), "super");
        assert_eq!(service(&["*"]).role_name(), "service");
        assert_eq!(person(Some(Role::Admin)).role_name(), "admin");
        assert_eq!(person(Some(Role::Member)).role_name(), "member");
        assert_eq!(person(None).role_name(), "none");
        assert!(person(None)
            .outsider_problem()
            .unwrap()
            .contains("project `p`"));
        assert!(person(Some(Role::Member)).outsider_problem().is_none());
        // A service token is never an outsider, whatever its role field says.
        assert!(service(&["*"]).outsider_problem().is_none());
        assert!(!service(&["*"]).administers());
        assert!(service(&["*"])
            .admin_problem("x")
            .unwrap()
            .contains("not a person"));
    }

    #[test]
    fn a_service_token_manages_only_what_its_scope_covers() {
        let p = service(&["production/*"]);
        assert!(p.may_manage(&Scope::parse(&["production/eu"]).unwrap()));
        assert!(p.may_manage(&Scope::parse(&["production/*"]).unwrap()));
        assert!(!p.may_manage(&Scope::parse(&["production"]).unwrap()));
        assert!(!p.may_manage(&Scope::parse(&["staging"]).unwrap()));
        assert!(!p.may_manage(&Scope::parse(&["*"]).unwrap()));
    }

    #[test]
    fn only_people_have_a_person_and_only_sessions_a_browser_session() {
        let session = Principal {
            credential: Credential::Session(BrowserSession {
                session_id: SessionId::new("ses_1"),
                user_id: UserId::new("usr_1"),
                name: "Ada".into(),
                cookie_hash: TokenHash::of("cookie"),
            }),
            ..Principal::super_token(project())
        };
        assert_eq!(session.person().map(UserId::as_str), Some("usr_1"));
        assert!(session.browser_session().is_some());
        assert_eq!(session.token_id(), Some("ses_1"));
        let access = Principal {
            credential: Credential::Access {
                token_id: "jti".into(),
                user_id: UserId::new("usr_2"),
                family_id: FamilyId::new("fam_1"),
            },
            ..Principal::super_token(project())
        };
        assert_eq!(access.person().map(UserId::as_str), Some("usr_2"));
        assert!(access.browser_session().is_none());
        assert_eq!(access.name(), "usr_2");
        let ci = service(&["*"]);
        assert!(ci.person().is_none());
        assert_eq!(Principal::anonymous(project()).name(), "anonymous");
    }
}
