//! The route table: every endpoint's path, methods, whether it is answered before
//! authentication, and whether a browser gets its errors as a page. Adding an endpoint is a
//! row here and an arm in [`dispatch`] (the compiler insists on the arm).

use edgeauth_core::audit as refusals;
use edgeauth_core::rate_limit::{Brake, CLI_EXCHANGE, DEVICE_CODE, LEAK_REPORT, SIGN_IN, TOKEN};
use edgeauth_core::time::minutes_rounded_up;
use worker::{Env, Request, Response};

use crate::api::tokens::{self, Kind};
use crate::api::{
    audit, contract, discovery, introspect, leak, lifetime, roles, secret_scanning, sessions,
    status, trust, users,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::flows::{account, cli_login, device, sign_in, token_grant};
use crate::{http, pages};

/// An endpoint answered without looking at credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Static {
    Healthz,
    Favicon,
    Asset,
    OpenApi,
    Jwks,
    Metadata,
}

/// An endpoint answered after authentication; `{id}` in its path is passed along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Capabilities,
    Whoami,
    Check,
    Stats,
    CreateServiceToken,
    ListServiceTokens,
    RevokeServiceToken,
    RollServiceToken,
    Login,
    Callback,
    Logout,
    CliStart,
    CliDecide,
    CliExchange,
    UsersMe,
    CreateUserToken,
    ListUserTokens,
    RevokeUserToken,
    RollUserToken,
    ShowRoles,
    SetRoles,
    ResetRoles,
    ShowLifetimePolicy,
    SetLifetimePolicy,
    ResetLifetimePolicy,
    CreateTrustPolicy,
    ListTrustPolicies,
    DeleteTrustPolicy,
    Account,
    ServiceTokensPage,
    DeviceCode,
    DevicePage,
    DeviceDecide,
    Token,
    Revoke,
    Introspect,
    ReportLeak,
    Audit,
    ListSessions,
    EndSessions,
    EndSession,
    SecretScanningReport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Static(Static),
    Endpoint(Endpoint),
}

/// How an endpoint reports errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errors {
    /// The JSON error body.
    Json,
    /// An HTML page when the client asks for `text/html` (a person's browser), else JSON.
    PageForBrowsers,
}

/// `GET` also answers `HEAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

struct Route {
    /// Segments; `{id}` matches one non-empty segment.
    path: &'static str,
    methods: &'static [(Verb, Target)],
    errors: Errors,
    /// The brake on its requests per client address, for the endpoints people and robots
    /// hammer (`edgeauth_core::rate_limit`).
    brake: Option<Brake>,
}

use Endpoint as E;
use Errors::{Json, PageForBrowsers as Page};
use Target::{Endpoint as Ep, Static as St};
use Verb::{Delete, Get, Post, Put};

const ROUTES: &[Route] = &[
    route("/healthz", &[(Get, St(Static::Healthz))], Json),
    // Browsers ask for it on every page; an empty answer keeps their consoles clean.
    route("/favicon.ico", &[(Get, St(Static::Favicon))], Json),
    route("/account.js", &[(Get, St(Static::Asset))], Json),
    route("/account.css", &[(Get, St(Static::Asset))], Json),
    route("/openapi.json", &[(Get, St(Static::OpenApi))], Json),
    route(
        "/api/auth/capabilities",
        &[(Get, Ep(E::Capabilities))],
        Json,
    ),
    route("/api/auth/whoami", &[(Get, Ep(E::Whoami))], Json),
    route("/api/auth/check", &[(Get, Ep(E::Check))], Json),
    route("/api/auth/stats", &[(Get, Ep(E::Stats))], Json),
    route(
        "/api/service-tokens",
        &[
            (Get, Ep(E::ListServiceTokens)),
            (Post, Ep(E::CreateServiceToken)),
        ],
        Json,
    ),
    route(
        "/api/service-tokens/{id}",
        &[(Delete, Ep(E::RevokeServiceToken))],
        Json,
    ),
    route(
        "/api/service-tokens/{id}/roll",
        &[(Post, Ep(E::RollServiceToken))],
        Json,
    ),
    route(
        "/api/tokens",
        &[(Get, Ep(E::ListUserTokens)), (Post, Ep(E::CreateUserToken))],
        Json,
    ),
    route(
        "/api/tokens/{id}",
        &[(Delete, Ep(E::RevokeUserToken))],
        Json,
    ),
    route(
        "/api/tokens/{id}/roll",
        &[(Post, Ep(E::RollUserToken))],
        Json,
    ),
    route("/api/users/me", &[(Get, Ep(E::UsersMe))], Json),
    route(
        "/api/trust-policies",
        &[
            (Get, Ep(E::ListTrustPolicies)),
            (Post, Ep(E::CreateTrustPolicy)),
        ],
        Json,
    ),
    route(
        "/api/trust-policies/{id}",
        &[(Delete, Ep(E::DeleteTrustPolicy))],
        Json,
    ),
    route(
        "/api/roles",
        &[
            (Get, Ep(E::ShowRoles)),
            (Post, Ep(E::SetRoles)),
            (Delete, Ep(E::ResetRoles)),
        ],
        Json,
    ),
    route(
        "/api/lifetime-policy",
        &[
            (Get, Ep(E::ShowLifetimePolicy)),
            (Put, Ep(E::SetLifetimePolicy)),
            (Delete, Ep(E::ResetLifetimePolicy)),
        ],
        Json,
    ),
    route("/account", &[(Get, Ep(E::Account))], Page),
    route(
        "/account/service-tokens",
        &[(Get, Ep(E::ServiceTokensPage))],
        Page,
    ),
    braked("/api/auth/login", &[(Get, Ep(E::Login))], Page, SIGN_IN),
    braked(
        "/api/auth/callback",
        &[(Get, Ep(E::Callback))],
        Page,
        SIGN_IN,
    ),
    route("/api/auth/logout", &[(Post, Ep(E::Logout))], Page),
    braked(
        "/api/auth/cli-start",
        &[(Get, Ep(E::CliStart)), (Post, Ep(E::CliDecide))],
        Page,
        SIGN_IN,
    ),
    braked(
        "/api/auth/cli-exchange",
        &[(Post, Ep(E::CliExchange))],
        Json,
        CLI_EXCHANGE,
    ),
    braked(
        "/api/auth/device/code",
        &[(Post, Ep(E::DeviceCode))],
        Json,
        DEVICE_CODE,
    ),
    route(
        "/device",
        &[(Get, Ep(E::DevicePage)), (Post, Ep(E::DeviceDecide))],
        Page,
    ),
    braked("/api/auth/token", &[(Post, Ep(E::Token))], Json, TOKEN),
    braked("/api/auth/revoke", &[(Post, Ep(E::Revoke))], Json, TOKEN),
    route("/api/auth/introspect", &[(Post, Ep(E::Introspect))], Json),
    braked(
        "/api/credentials/revoke",
        &[(Post, Ep(E::ReportLeak))],
        Json,
        LEAK_REPORT,
    ),
    route("/api/audit", &[(Get, Ep(E::Audit))], Json),
    route(
        "/api/sessions",
        &[(Get, Ep(E::ListSessions)), (Delete, Ep(E::EndSessions))],
        Json,
    ),
    route("/api/sessions/{id}", &[(Delete, Ep(E::EndSession))], Json),
    route(
        "/api/credentials/github-secret-scanning",
        &[(Post, Ep(E::SecretScanningReport))],
        Json,
    ),
    route("/.well-known/jwks.json", &[(Get, St(Static::Jwks))], Json),
    route(
        "/.well-known/oauth-authorization-server",
        &[(Get, St(Static::Metadata))],
        Json,
    ),
];

const fn route(path: &'static str, methods: &'static [(Verb, Target)], errors: Errors) -> Route {
    Route {
        path,
        methods,
        errors,
        brake: None,
    }
}

/// A route whose requests `brake` counts per client address.
const fn braked(
    path: &'static str,
    methods: &'static [(Verb, Target)],
    errors: Errors,
    brake: Brake,
) -> Route {
    Route {
        path,
        methods,
        errors,
        brake: Some(brake),
    }
}

/// 429 with `Retry-After` when the client's address has gone over `brake`
/// (`edgeauth_core::rate_limit`), in the error body its endpoints answer.
pub async fn brake(req: &Request, env: &worker::Env, brake: Brake) -> Result<(), ApiError> {
    if !http::over_limit(req, env, brake.binding).await {
        return Ok(());
    }
    let message = format!(
        "too many {} from this address; try again in {}",
        brake.asked,
        minutes_rounded_up(brake.period_s)
    );
    let refused = match brake.oauth {
        true => ApiError::OAuth {
            status: 429,
            error: "too_many_requests",
            description: message,
        },
        false => ApiError::Refused {
            status: 429,
            code: "too_many_requests",
            message,
        },
    };
    Err(refused.retry_after(brake.period_s))
}

/// What a request's path and method matched.
#[derive(Debug, PartialEq, Eq)]
pub struct Matched {
    pub target: Target,
    /// The `{id}` segment, if the path has one.
    pub id: Option<String>,
    pub brake: Option<Brake>,
}

/// Matches a path, then a method, given as the request sent it (`req.inner().method()`, not
/// workers-rs's `Method`, which reads every method it does not know, like `QUERY`, as `GET`):
/// 404 for an unknown path, 405 (with `Allow`) for a method the path does not take.
pub fn find(method: &str, path: &str) -> Result<Matched, ApiError> {
    let (route, id) = ROUTES
        .iter()
        .find_map(|route| match_path(route.path, path).map(|id| (route, id)))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no endpoint at `{}`; see the API reference, `/openapi.json` (docs/api.md in the repository)",
                path.escape_default()
            ))
        })?;
    let verb = match method {
        "GET" | "HEAD" => Some(Get),
        "POST" => Some(Post),
        "PUT" => Some(Put),
        "DELETE" => Some(Delete),
        _ => None,
    };
    route
        .methods
        .iter()
        .find(|(v, _)| Some(*v) == verb)
        .map(|(_, target)| Matched {
            target: *target,
            id,
            brake: route.brake,
        })
        .ok_or_else(|| ApiError::MethodNotAllowed(allow(route)))
}

/// How errors of `path` are reported (JSON for an unknown path).
pub fn errors_of(path: &str) -> Errors {
    ROUTES
        .iter()
        .find(|route| match_path(route.path, path).is_some())
        .map_or(Json, |route| route.errors)
}

/// `Some(id)` (or `Some(None)` for a path without `{id}`) when `path` matches `pattern`.
fn match_path(pattern: &str, path: &str) -> Option<Option<String>> {
    let mut id = None;
    let mut given = path.trim_start_matches('/').split('/');
    for expected in pattern.trim_start_matches('/').split('/') {
        let segment = given.next()?;
        if expected == "{id}" {
            if segment.is_empty() {
                return None;
            }
            id = Some(segment.to_owned());
        } else if expected != segment {
            return None;
        }
    }
    given.next().is_none().then_some(id)
}

/// The `Allow` header of a route.
fn allow(route: &Route) -> String {
    route
        .methods
        .iter()
        .map(|(verb, _)| match verb {
            Get => "GET, HEAD",
            Post => "POST",
            Put => "PUT",
            Delete => "DELETE",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Answers an endpoint that needs no authentication.
pub fn answer_static(
    which: Static,
    settings: &Result<std::rc::Rc<crate::settings::Settings>, Vec<edgeauth_core::ConfigProblem>>,
    req: &Request,
    url: &worker::Url,
    env: &Env,
) -> Result<Response, ApiError> {
    match which {
        Static::Healthz => Ok(status::healthz(settings, req, url, env)),
        Static::Jwks => discovery::jwks(settings),
        Static::Metadata => discovery::metadata(settings, url),
        Static::Favicon => Ok(http::no_content()),
        Static::Asset => {
            pages::asset(url.path()).ok_or_else(|| ApiError::NotFound("no such asset".into()))
        }
        Static::OpenApi => Ok(contract::openapi()),
    }
}

/// Runs the handler of an authenticated endpoint.
pub async fn dispatch(
    endpoint: Endpoint,
    id: Option<String>,
    req: Request,
    caller: &Caller,
    env: &Env,
    ctx: &worker::Context,
) -> Result<Response, ApiError> {
    let id = id.unwrap_or_default();
    let answer = match endpoint {
        E::Account => account::page(caller, env).await,
        E::ServiceTokensPage => account::service_tokens_page(caller, env).await,
        E::Capabilities => Ok(status::capabilities(caller)),
        E::Whoami => status::whoami(caller),
        E::Check => status::check(&req, caller).await,
        E::Stats => status::stats(caller),
        E::CreateServiceToken => tokens::create(Kind::Service, req, caller, env).await,
        E::ListServiceTokens => tokens::list(Kind::Service, caller, env).await,
        E::RevokeServiceToken => tokens::revoke(Kind::Service, &id, caller, env).await,
        E::RollServiceToken => tokens::roll(Kind::Service, &id, req, caller, env).await,
        E::Login => sign_in::login(caller).await,
        E::Callback => sign_in::callback(&req, caller, env, ctx).await,
        E::Logout => sign_in::logout(&req, caller, env).await,
        E::CliStart => cli_login::start(caller, env).await,
        E::CliDecide => cli_login::decide(req, caller, env, ctx).await,
        E::CliExchange => cli_login::exchange(req, caller, env).await,
        E::UsersMe => users::me(caller, env).await,
        E::CreateUserToken => tokens::create(Kind::User, req, caller, env).await,
        E::ListUserTokens => tokens::list(Kind::User, caller, env).await,
        E::RevokeUserToken => tokens::revoke(Kind::User, &id, caller, env).await,
        E::RollUserToken => tokens::roll(Kind::User, &id, req, caller, env).await,
        E::ShowRoles => roles::show(caller, env).await,
        E::SetRoles => roles::set(req, caller, env).await,
        E::ResetRoles => roles::reset(caller, env).await,
        E::ShowLifetimePolicy => lifetime::show(caller, env).await,
        E::SetLifetimePolicy => lifetime::set(req, caller, env).await,
        E::ResetLifetimePolicy => lifetime::reset(caller, env).await,
        E::CreateTrustPolicy => trust::create(req, caller, env).await,
        E::ListTrustPolicies => trust::list(caller, env).await,
        E::DeleteTrustPolicy => trust::delete(&id, caller, env).await,
        E::DeviceCode => device::code(req, caller, env).await,
        E::DevicePage => device::page(caller, env).await,
        E::DeviceDecide => device::decide(req, caller, env).await,
        E::Token => token_grant::token(req, caller, env, ctx).await,
        E::Revoke => token_grant::revoke(req, caller, env).await,
        E::Introspect => introspect::introspect(req, caller, env, ctx).await,
        E::ReportLeak => leak::report(req, caller, env).await,
        E::Audit => audit::list(caller, env).await,
        E::ListSessions => sessions::list(caller, env).await,
        E::EndSessions => sessions::end_all(caller, env).await,
        E::EndSession => sessions::end_one(&id, caller, env).await,
        E::SecretScanningReport => secret_scanning::report(req, caller, env).await,
    };
    // Refusals of the sign-in steps a stranger can replay at will are counted in the audit
    // trail (those of the token endpoint by its grant, in `token_grant`; the callback's in
    // `sign_in::callback`, which sends some of them to a waiting CLI).
    let refusal = match endpoint {
        E::CliExchange => Some(refusals::CLI_EXCHANGE_REFUSE),
        E::SecretScanningReport => Some(refusals::SECRET_SCANNING_REFUSE),
        _ => None,
    };
    if let (Some(action), Err(refused)) = (refusal, &answer) {
        audit::count_refusal(ctx, env, caller, action, refused);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker::Method;

    fn target(method: Method, path: &str) -> Result<String, String> {
        match find(method.as_ref(), path) {
            Ok(Matched {
                target: Target::Endpoint(e),
                id,
                ..
            }) => Ok(match id {
                Some(id) => format!("{e:?}({id})"),
                None => format!("{e:?}"),
            }),
            Ok(Matched {
                target: Target::Static(s),
                ..
            }) => Ok(format!("{s:?}")),
            Err(ApiError::NotFound(_)) => Err("404".into()),
            Err(ApiError::MethodNotAllowed(allow)) => Err(format!("405 {allow}")),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    fn ok(s: &str) -> Result<String, String> {
        Ok(s.to_owned())
    }

    #[test]
    fn the_hammered_endpoints_are_braked_and_no_other() {
        let brake = |method: Method, path: &str| find(method.as_ref(), path).unwrap().brake;
        for (method, path, expected) in [
            (Method::Get, "/api/auth/login", SIGN_IN),
            (Method::Get, "/api/auth/callback", SIGN_IN),
            (Method::Get, "/api/auth/cli-start", SIGN_IN),
            (Method::Post, "/api/auth/cli-start", SIGN_IN),
            (Method::Post, "/api/auth/cli-exchange", CLI_EXCHANGE),
            (Method::Post, "/api/auth/device/code", DEVICE_CODE),
            (Method::Post, "/api/auth/token", TOKEN),
            (Method::Post, "/api/auth/revoke", TOKEN),
            (Method::Post, "/api/credentials/revoke", LEAK_REPORT),
        ] {
            assert_eq!(brake(method, path), Some(expected), "{path}");
        }
        // The hot paths and the authenticated API are not: a credential is their brake.
        for (method, path) in [
            (Method::Get, "/api/auth/whoami"),
            (Method::Get, "/api/auth/check"),
            (Method::Post, "/api/tokens"),
            (Method::Get, "/healthz"),
            (Method::Get, "/device"),
        ] {
            assert_eq!(brake(method, path), None, "{path}");
        }
    }

    #[test]
    fn routes_match_path_then_method() {
        assert_eq!(target(Method::Get, "/healthz"), ok("Healthz"));
        assert_eq!(target(Method::Head, "/healthz"), ok("Healthz"));
        assert_eq!(target(Method::Head, "/api/auth/whoami"), ok("Whoami"));
        assert_eq!(
            target(Method::Post, "/api/service-tokens"),
            ok("CreateServiceToken")
        );
        assert_eq!(
            target(Method::Get, "/api/service-tokens"),
            ok("ListServiceTokens")
        );
        assert_eq!(
            target(Method::Delete, "/api/service-tokens/st_x"),
            ok("RevokeServiceToken(st_x)")
        );
        assert_eq!(
            target(Method::Put, "/api/service-tokens"),
            Err("405 GET, HEAD, POST".into())
        );
        assert_eq!(
            target(Method::Get, "/api/lifetime-policy"),
            ok("ShowLifetimePolicy")
        );
        assert_eq!(
            target(Method::Put, "/api/lifetime-policy"),
            ok("SetLifetimePolicy")
        );
        assert_eq!(
            target(Method::Delete, "/api/lifetime-policy"),
            ok("ResetLifetimePolicy")
        );
        assert_eq!(
            target(Method::Post, "/api/lifetime-policy"),
            Err("405 GET, HEAD, PUT, DELETE".into())
        );
        assert_eq!(
            target(Method::Get, "/api/lifetime-policy/x"),
            Err("404".into())
        );
        assert_eq!(
            target(Method::Get, "/api/service-tokens/st_x"),
            Err("405 DELETE".into())
        );
        assert_eq!(
            target(Method::Delete, "/api/service-tokens/"),
            Err("404".into())
        );
        assert_eq!(
            target(Method::Get, "/api/service-tokens/a/b"),
            Err("404".into())
        );
        assert_eq!(target(Method::Get, "/nope"), Err("404".into()));
        assert_eq!(
            target(Method::Post, "/api/credentials/github-secret-scanning"),
            ok("SecretScanningReport")
        );
        assert_eq!(
            target(Method::Get, "/api/credentials/github-secret-scanning"),
            Err("405 POST".into())
        );
        // Methods workers-rs's `Method` does not know are not GET.
        for method in ["QUERY", "FOO", "get"] {
            assert!(
                matches!(find(method, "/account"), Err(ApiError::MethodNotAllowed(_))),
                "{method}"
            );
        }
        assert_eq!(target(Method::Get, "/account.css"), ok("Asset"));
        assert_eq!(target(Method::Get, "/favicon.ico"), ok("Favicon"));
        assert_eq!(target(Method::Get, "/openapi.json"), ok("OpenApi"));
        assert_eq!(target(Method::Head, "/openapi.json"), ok("OpenApi"));
        assert_eq!(
            target(Method::Post, "/openapi.json"),
            Err("405 GET, HEAD".into())
        );
    }

    /// `openapi.json` documents exactly the routes of this table, method for method (`GET`
    /// standing for `HEAD` too): a route added here without its contract, or a contract for
    /// a route that does not exist, fails this test.
    #[test]
    fn the_contract_documents_every_route_and_nothing_else() {
        use std::collections::BTreeSet;
        let document: serde_json::Value =
            serde_json::from_str(crate::api::contract::OPENAPI_JSON).expect("openapi.json is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .expect("openapi.json has paths")
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().expect("a path item is an object");
                methods
                    .keys()
                    .filter(|key| !matches!(key.as_str(), "parameters" | "summary" | "description"))
                    .map(|method| (path.clone(), method.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .flat_map(|route| {
                route.methods.iter().map(|(verb, _)| {
                    let method = match verb {
                        Get => "get",
                        Post => "post",
                        Put => "put",
                        Delete => "delete",
                    };
                    (route.path.to_owned(), method.to_owned())
                })
            })
            .collect();
        assert_eq!(
            routed.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routes that openapi.json does not document"
        );
        assert_eq!(
            documented.difference(&routed).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "operations in openapi.json that the router does not have"
        );
    }

    /// Every endpoint lives under one of the paths a gateway route may not take
    /// (`core::gateway::RESERVED_PATHS`), so a route can never shadow one, nor be shadowed
    /// by one without the configuration saying so on `/healthz`.
    #[test]
    fn every_endpoint_is_under_a_reserved_path() {
        use edgeauth_core::gateway::RESERVED_PATHS;
        for route in ROUTES {
            assert!(
                RESERVED_PATHS
                    .iter()
                    .any(|r| route.path == *r || route.path.starts_with(&format!("{r}/"))),
                "{} is not under a reserved path",
                route.path
            );
        }
    }

    #[test]
    fn cli_login_routes() {
        assert_eq!(target(Method::Get, "/api/auth/cli-start"), ok("CliStart"));
        assert_eq!(target(Method::Head, "/api/auth/cli-start"), ok("CliStart"));
        assert_eq!(target(Method::Post, "/api/auth/cli-start"), ok("CliDecide"));
        assert_eq!(
            target(Method::Delete, "/api/auth/cli-start"),
            Err("405 GET, HEAD, POST".into())
        );
        assert_eq!(
            target(Method::Post, "/api/auth/cli-exchange"),
            ok("CliExchange")
        );
        assert_eq!(
            target(Method::Get, "/api/auth/cli-exchange"),
            Err("405 POST".into())
        );
        assert_eq!(
            target(Method::Post, "/api/auth/cli-exchange/x"),
            Err("404".into())
        );
    }

    #[test]
    fn device_login_routes() {
        assert_eq!(
            target(Method::Post, "/api/auth/device/code"),
            ok("DeviceCode")
        );
        assert_eq!(
            target(Method::Get, "/api/auth/device/code"),
            Err("405 POST".into())
        );
        assert_eq!(target(Method::Get, "/device"), ok("DevicePage"));
        assert_eq!(target(Method::Head, "/device"), ok("DevicePage"));
        assert_eq!(target(Method::Post, "/device"), ok("DeviceDecide"));
        assert_eq!(
            target(Method::Delete, "/device"),
            Err("405 GET, HEAD, POST".into())
        );
        assert_eq!(target(Method::Get, "/device/x"), Err("404".into()));
        assert_eq!(target(Method::Post, "/api/auth/token"), ok("Token"));
        assert_eq!(target(Method::Post, "/api/auth/revoke"), ok("Revoke"));
        assert_eq!(
            target(Method::Get, "/api/auth/token"),
            Err("405 POST".into())
        );
        assert_eq!(target(Method::Post, "/api/auth/device"), Err("404".into()));
    }

    #[test]
    fn sign_in_pages_report_errors_as_pages() {
        for path in [
            "/account",
            "/account/service-tokens",
            "/api/auth/login",
            "/api/auth/callback",
            "/api/auth/logout",
            "/api/auth/cli-start",
            "/device",
        ] {
            assert_eq!(errors_of(path), Errors::PageForBrowsers, "{path}");
        }
        for path in ["/api/tokens", "/api/auth/token", "/healthz", "/nope"] {
            assert_eq!(errors_of(path), Errors::Json, "{path}");
        }
    }
}
