//! edgeauth's Worker: routes HTTP requests through the one authentication pipeline to the
//! handlers, and turns every outcome into a JSON response. The rules live in `edgeauth-core`.

mod auth;
mod cli_login;
mod db;
mod device;
mod error;
mod grants;
mod http;
mod oidc;
mod pages;
mod service_tokens;
mod sessions;
mod status;
mod user_tokens;

use edgeauth_core::{Config, ConfigProblem, Entropy};
use worker::{event, Context, D1Database, Env, Method, Request, Response};

use crate::error::ApiError;

/// The CSPRNG of the runtime (Web Crypto `getRandomValues`, through `getrandom`).
pub struct WebCrypto;

impl Entropy for WebCrypto {
    fn fill(&mut self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the runtime's CSPRNG is available");
    }
}

/// Now, in Unix milliseconds, from the runtime clock (`SystemTime` panics on wasm32).
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// The D1 binding `DB`.
pub fn database(env: &Env) -> Result<D1Database, ApiError> {
    env.d1("DB").map_err(|e| {
        ApiError::Misconfigured(vec![format!(
            "DB: the D1 binding is missing from the Worker's configuration ({e})"
        )])
    })
}

thread_local! {
    static SETTINGS: std::cell::OnceCell<Result<Config, Vec<ConfigProblem>>> =
        const { std::cell::OnceCell::new() };
}

/// The validated settings, read from the environment once per isolate: vars and secrets are
/// fixed for a deployment version (changing one deploys a new version, in new isolates), so
/// the authentication path does not re-read and re-hash them on every request.
fn settings(env: &Env) -> Result<Config, Vec<ConfigProblem>> {
    SETTINGS.with(|cell| {
        cell.get_or_init(|| Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string())))
            .clone()
    })
}

/// The endpoints, matched on path, then method.
enum Route {
    Healthz,
    Capabilities,
    Whoami,
    Check,
    CreateServiceToken,
    ListServiceTokens,
    RevokeServiceToken(String),
    Login,
    Callback,
    Logout,
    CliStart,
    CliDecide,
    CliExchange,
    UsersMe,
    CreateUserToken,
    ListUserTokens,
    RevokeUserToken(String),
    Account,
    AccountAsset,
    Favicon,
    DeviceCode,
    DevicePage,
    DeviceDecide,
    Token,
    Revoke,
}

fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let read = matches!(method, Method::Get | Method::Head);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (route, allow) = match segments.as_slice() {
        ["healthz"] => (read.then_some(Route::Healthz), "GET, HEAD"),
        ["api", "auth", "capabilities"] => (read.then_some(Route::Capabilities), "GET, HEAD"),
        ["api", "auth", "whoami"] => (read.then_some(Route::Whoami), "GET, HEAD"),
        ["api", "auth", "check"] => (read.then_some(Route::Check), "GET, HEAD"),
        ["api", "service-tokens"] => (
            match method {
                Method::Get | Method::Head => Some(Route::ListServiceTokens),
                Method::Post => Some(Route::CreateServiceToken),
                _ => None,
            },
            "GET, HEAD, POST",
        ),
        ["api", "service-tokens", id] if !id.is_empty() => (
            (*method == Method::Delete).then(|| Route::RevokeServiceToken((*id).to_owned())),
            "DELETE",
        ),
        ["account"] => (read.then_some(Route::Account), "GET, HEAD"),
        // Browsers ask for it on every page; an empty answer keeps their consoles clean.
        ["favicon.ico"] => (read.then_some(Route::Favicon), "GET, HEAD"),
        ["account.js"] | ["account.css"] => (read.then_some(Route::AccountAsset), "GET, HEAD"),
        ["api", "auth", "login"] => (read.then_some(Route::Login), "GET, HEAD"),
        ["api", "auth", "callback"] => (read.then_some(Route::Callback), "GET, HEAD"),
        ["api", "auth", "logout"] => ((*method == Method::Post).then_some(Route::Logout), "POST"),
        ["api", "auth", "cli-start"] => (
            match method {
                Method::Get | Method::Head => Some(Route::CliStart),
                Method::Post => Some(Route::CliDecide),
                _ => None,
            },
            "GET, HEAD, POST",
        ),
        ["api", "auth", "cli-exchange"] => (
            (*method == Method::Post).then_some(Route::CliExchange),
            "POST",
        ),
        ["api", "users", "me"] => (read.then_some(Route::UsersMe), "GET, HEAD"),
        ["api", "tokens"] => (
            match method {
                Method::Get | Method::Head => Some(Route::ListUserTokens),
                Method::Post => Some(Route::CreateUserToken),
                _ => None,
            },
            "GET, HEAD, POST",
        ),
        ["api", "tokens", id] if !id.is_empty() => (
            (*method == Method::Delete).then(|| Route::RevokeUserToken((*id).to_owned())),
            "DELETE",
        ),
        ["api", "auth", "device", "code"] => (
            (*method == Method::Post).then_some(Route::DeviceCode),
            "POST",
        ),
        ["device"] => (
            match method {
                Method::Get | Method::Head => Some(Route::DevicePage),
                Method::Post => Some(Route::DeviceDecide),
                _ => None,
            },
            "GET, HEAD, POST",
        ),
        ["api", "auth", "token"] => ((*method == Method::Post).then_some(Route::Token), "POST"),
        ["api", "auth", "revoke"] => ((*method == Method::Post).then_some(Route::Revoke), "POST"),
        _ => {
            return Err(ApiError::NotFound(format!(
                "no endpoint at `{}`; see the API reference in the README",
                path.escape_default()
            )))
        }
    };
    route.ok_or(ApiError::MethodNotAllowed(allow))
}

async fn handle(
    req: Request,
    config: Result<Config, Vec<ConfigProblem>>,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let route = route(&req.method(), &req.path())?;
    let url = req.url()?;
    match route {
        Route::Healthz => return Ok(status::healthz(&config, &url)),
        Route::Favicon => return Ok(http::no_content()),
        Route::AccountAsset => {
            return pages::asset(url.path())
                .ok_or_else(|| ApiError::NotFound("no such asset".into()))
        }
        _ => {}
    }
    let caller = auth::authenticate(&req, &url, config?, env, ctx).await?;
    match route {
        Route::Healthz | Route::AccountAsset | Route::Favicon => {
            unreachable!("answered before authentication")
        }
        Route::Account => sessions::account(&url, &caller, env).await,
        Route::Capabilities => Ok(status::capabilities(&caller)),
        Route::Whoami => status::whoami(&caller),
        Route::Check => status::check(&caller, &url),
        Route::CreateServiceToken => service_tokens::create(req, &caller, env).await,
        Route::ListServiceTokens => service_tokens::list(&caller, env).await,
        Route::RevokeServiceToken(id) => service_tokens::revoke(&id, &caller, env).await,
        Route::Login => sessions::login(&url, &caller).await,
        Route::Callback => sessions::callback(&req, &url, &caller, env).await,
        Route::Logout => sessions::logout(&req, &url, &caller, env).await,
        Route::CliStart => cli_login::start(&url, &caller, env).await,
        Route::CliDecide => cli_login::decide(req, &url, &caller, env).await,
        Route::CliExchange => cli_login::exchange(req, env).await,
        Route::UsersMe => user_tokens::me(&caller, env).await,
        Route::CreateUserToken => user_tokens::create(req, &caller, env).await,
        Route::ListUserTokens => user_tokens::list(&caller, env).await,
        Route::RevokeUserToken(id) => user_tokens::revoke(&id, &caller, env).await,
        Route::DeviceCode => device::code(req, &url, &caller, env).await,
        Route::DevicePage => device::page(&url, &caller, env).await,
        Route::DeviceDecide => device::decide(req, &caller, env).await,
        Route::Token => grants::token(req, &caller, env).await,
        Route::Revoke => grants::revoke(req, env).await,
    }
}

/// A person's browser on a sign-in page: its errors are shown as a page, not JSON.
fn is_browser_page(req: &Request) -> bool {
    matches!(
        req.path().as_str(),
        "/account"
            | "/api/auth/login"
            | "/api/auth/callback"
            | "/api/auth/logout"
            | "/api/auth/cli-start"
            | "/device"
    ) && http::header(req, "Accept").is_some_and(|accept| accept.contains("text/html"))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let config = settings(&env);
    let auth_disabled = config.as_ref().is_ok_and(|c| c.auth_disabled);
    let html_errors = is_browser_page(&req);
    let mut response = handle(req, config, &env, &ctx).await.unwrap_or_else(|e| {
        if html_errors {
            e.into_html_response()
        } else {
            e.into_response()
        }
    });
    // Answers about credentials are never cached by browsers or proxies.
    http::set_header(&mut response, "Cache-Control", "no-store");
    http::set_header(&mut response, "X-Content-Type-Options", "nosniff");
    if auth_disabled {
        http::set_header(&mut response, "X-Edgeauth-Auth", "disabled");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(method: Method, path: &str) -> Result<&'static str, String> {
        match route(&method, path) {
            Ok(Route::Healthz) => Ok("healthz"),
            Ok(Route::Capabilities) => Ok("capabilities"),
            Ok(Route::Whoami) => Ok("whoami"),
            Ok(Route::Check) => Ok("check"),
            Ok(Route::CreateServiceToken) => Ok("create"),
            Ok(Route::ListServiceTokens) => Ok("list"),
            Ok(Route::RevokeServiceToken(_)) => Ok("revoke"),
            Ok(Route::Login) => Ok("login"),
            Ok(Route::Callback) => Ok("callback"),
            Ok(Route::Logout) => Ok("logout"),
            Ok(Route::CliStart) => Ok("cli start"),
            Ok(Route::CliDecide) => Ok("cli decide"),
            Ok(Route::CliExchange) => Ok("cli exchange"),
            Ok(Route::UsersMe) => Ok("me"),
            Ok(Route::CreateUserToken) => Ok("create user token"),
            Ok(Route::ListUserTokens) => Ok("list user tokens"),
            Ok(Route::RevokeUserToken(_)) => Ok("revoke user token"),
            Ok(Route::Account) => Ok("account"),
            Ok(Route::AccountAsset) => Ok("asset"),
            Ok(Route::Favicon) => Ok("favicon"),
            Ok(Route::DeviceCode) => Ok("device code"),
            Ok(Route::DevicePage) => Ok("device page"),
            Ok(Route::DeviceDecide) => Ok("device decide"),
            Ok(Route::Token) => Ok("token"),
            Ok(Route::Revoke) => Ok("revoke refresh"),
            Err(ApiError::NotFound(_)) => Err("404".into()),
            Err(ApiError::MethodNotAllowed(allow)) => Err(format!("405 {allow}")),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn routes_match_path_then_method() {
        assert_eq!(status_of(Method::Get, "/healthz"), Ok("healthz"));
        assert_eq!(status_of(Method::Head, "/api/auth/whoami"), Ok("whoami"));
        assert_eq!(status_of(Method::Post, "/api/service-tokens"), Ok("create"));
        assert_eq!(status_of(Method::Get, "/api/service-tokens"), Ok("list"));
        assert_eq!(
            status_of(Method::Delete, "/api/service-tokens/st_x"),
            Ok("revoke")
        );
        assert_eq!(
            status_of(Method::Put, "/api/service-tokens"),
            Err("405 GET, HEAD, POST".into())
        );
        assert_eq!(
            status_of(Method::Get, "/api/service-tokens/st_x"),
            Err("405 DELETE".into())
        );
        assert_eq!(
            status_of(Method::Delete, "/api/service-tokens/"),
            Err("404".into())
        );
        assert_eq!(
            status_of(Method::Get, "/api/service-tokens/a/b"),
            Err("404".into())
        );
        assert_eq!(status_of(Method::Get, "/nope"), Err("404".into()));
    }

    #[test]
    fn cli_login_routes() {
        assert_eq!(
            status_of(Method::Get, "/api/auth/cli-start"),
            Ok("cli start")
        );
        assert_eq!(
            status_of(Method::Head, "/api/auth/cli-start"),
            Ok("cli start")
        );
        assert_eq!(
            status_of(Method::Post, "/api/auth/cli-start"),
            Ok("cli decide")
        );
        assert_eq!(
            status_of(Method::Delete, "/api/auth/cli-start"),
            Err("405 GET, HEAD, POST".into())
        );
        assert_eq!(
            status_of(Method::Post, "/api/auth/cli-exchange"),
            Ok("cli exchange")
        );
        assert_eq!(
            status_of(Method::Get, "/api/auth/cli-exchange"),
            Err("405 POST".into())
        );
        assert_eq!(
            status_of(Method::Post, "/api/auth/cli-exchange/x"),
            Err("404".into())
        );
    }

    #[test]
    fn device_login_routes() {
        assert_eq!(
            status_of(Method::Post, "/api/auth/device/code"),
            Ok("device code")
        );
        assert_eq!(
            status_of(Method::Get, "/api/auth/device/code"),
            Err("405 POST".into())
        );
        assert_eq!(status_of(Method::Get, "/device"), Ok("device page"));
        assert_eq!(status_of(Method::Head, "/device"), Ok("device page"));
        assert_eq!(status_of(Method::Post, "/device"), Ok("device decide"));
        assert_eq!(
            status_of(Method::Delete, "/device"),
            Err("405 GET, HEAD, POST".into())
        );
        assert_eq!(status_of(Method::Get, "/device/x"), Err("404".into()));
        assert_eq!(status_of(Method::Post, "/api/auth/token"), Ok("token"));
        assert_eq!(
            status_of(Method::Post, "/api/auth/revoke"),
            Ok("revoke refresh")
        );
        assert_eq!(
            status_of(Method::Get, "/api/auth/token"),
            Err("405 POST".into())
        );
        assert_eq!(
            status_of(Method::Post, "/api/auth/device"),
            Err("404".into())
        );
    }
}
