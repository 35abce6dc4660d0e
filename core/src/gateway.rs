//! Gateway mode: which of the API owner's paths edgeauth proxies to their origin, who may
//! call each, and what of the client's request the origin must never see.
//!
//! The setting `GATEWAY` is JSON:
//!
//! ```json
//! {"routes": [
//!   {"path": "/v1/workspaces/{workspace}/*", "origin": "https://api.internal.example.com",
//!    "read": "public", "write": "workspace", "methods": {"DELETE": "super"}},
//!   {"path": "/uploads/*", "origin": "service:UPLOADS", "workspace_header": "X-Workspace",
//!    "read": "workspace", "write": "workspace", "timeout_seconds": 120}
//! ]}
//! ```
//!
//! - `path`: segments matched exactly, `{workspace}` for one segment naming the workspace
//!   (percent-decoded, so `production%2Feu` is `production/eu`), and a final `*` for
//!   anything below (the prefix itself included). The first route that matches wins.
//!   edgeauth's own endpoints ([`RESERVED_PATHS`]) always answer first; a route inside them is
//!   a configuration problem.
//! - `origin`: an `https://` URL (plain `http://` only on a loopback host), to which the
//!   request's path and query are appended, or `service:BINDING`, a Service Binding to another
//!   Worker.
//! - `read` (GET, HEAD, OPTIONS) and `write` (every other method), overridden per method by
//!   `methods`: `public` (no credential needed; a read is public only while `PUBLIC_READS`
//!   is true, and otherwise needs a credential, covering the workspace on a route that names
//!   one), `credential` (any valid credential),
//!   `workspace` (a credential whose workspace patterns cover the request's workspace, from
//!   the path or `workspace_header`), `super` (the super token only). Defaults: `read`
//!   `public`; `write` `workspace` when the route names a workspace, else `credential`.
//! - `audience`: the assertion's `aud` (default: the origin URL, or `service:BINDING`).
//! - `forward_authorization` (default false): pass the client's `Authorization` header on.
//! - `timeout_seconds` (default 30, 1 to 300): how long to wait for the origin's response
//!   headers before answering 504 (a body then streams for as long as it takes).
//! - `name` (default the path): how errors and logs name the route.
//!
//! Every proxied request loses the headers [`strips_request_header`] names (any copy of the
//! assertion or other identity header a client could forge), edgeauth's cookies
//! ([`forwarded_cookie`]) and `bearer.` WebSocket subprotocols ([`forwarded_protocols`]), and
//! gains the signed assertion ([`crate::assertion`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::bearer::WEBSOCKET_PROTOCOL_PREFIX;
use crate::policy::Principal;
use crate::uri::percent_decode;
use crate::workspace::WorkspaceName;

/// Path prefixes edgeauth answers itself; no route may live inside one.
pub const RESERVED_PATHS: [&str; 19] = [
    "/api/auth",
    "/api/credentials",
    "/api/audit",
    "/api/sessions",
    "/api/tokens",
    "/api/service-tokens",
    "/api/users",
    "/api/roles",
    "/api/lifetime-policy",
    "/api/trust-policies",
    "/account",
    "/account.js",
    "/account.css",
    "/device",
    "/healthz",
    "/.well-known",
    "/assets",
    "/favicon.ico",
    "/openapi.json",
];

/// Most routes a deployment may configure.
pub const MAX_ROUTES: usize = 64;
/// The default wait for an origin's response headers.
pub const DEFAULT_TIMEOUT_S: u32 = 30;
/// The longest wait for an origin's response headers that may be configured.
pub const MAX_TIMEOUT_S: u32 = 300;

/// Who may call a route with a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential needed (reads only while `PUBLIC_READS` is true).
    Public,
    /// Any valid credential.
    Credential,
    /// A credential covering the request's workspace.
    Workspace,
    /// The super token.
    Super,
}

impl Access {
    fn parse(value: &str) -> Result<Self, String> {
        match value {
            "public" => Ok(Self::Public),
            "credential" => Ok(Self::Credential),
            "workspace" => Ok(Self::Workspace),
            "super" => Ok(Self::Super),
            other => Err(format!(
                "`{other}` is not an access rule; use `public`, `credential`, `workspace` or `super`"
            )),
        }
    }

    /// The name used in configuration and in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Credential => "credential",
            Self::Workspace => "workspace",
            Self::Super => "super",
        }
    }
}

/// Where a route's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An http(s) URL (no trailing slash); the request's path and query are appended.
    Url(String),
    /// A Service Binding, by its binding name.
    Service(String),
}

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Workspace,
}

/// A configured route.
#[derive(Debug, Clone)]
pub struct Route {
    /// How errors name it.
    pub name: String,
    segments: Vec<Segment>,
    /// A final `*`: anything below matches too.
    prefix: bool,
    /// Where requests go.
    pub origin: Origin,
    /// The assertion's `aud`.
    pub audience: String,
    read: Access,
    write: Access,
    methods: BTreeMap<String, Access>,
    workspace_header: Option<String>,
    /// Pass the client's `Authorization` header to the origin.
    pub forward_authorization: bool,
    /// How long to wait for the origin's response headers.
    pub timeout_s: u32,
}

/// The routes, in order.
#[derive(Debug, Clone, Default)]
pub struct Gateway {
    routes: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    routes: Vec<RawRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: Option<String>,
    path: String,
    origin: String,
    audience: Option<String>,
    read: Option<String>,
    write: Option<String>,
    #[serde(default)]
    methods: BTreeMap<String, String>,
    workspace_header: Option<String>,
    #[serde(default)]
    forward_authorization: bool,
    timeout_seconds: Option<u32>,
}

impl Gateway {
    /// Reads `GATEWAY`. Every problem is reported (naming the route and its field), never the
    /// first only, so one edit fixes them all.
    pub fn parse(json: &str) -> Result<Self, Vec<String>> {
        let raw: RawGateway = serde_json::from_str(json).map_err(|e| {
            vec![format!(
                "is not valid: {e}; expected {{\"routes\": [{{\"path\": \"/v1/*\", \"origin\": \"https://…\"}}]}}"
            )]
        })?;
        if raw.routes.is_empty() {
            return Err(vec!["has no routes; remove it, or add a route".into()]);
        }
        if raw.routes.len() > MAX_ROUTES {
            return Err(vec![format!("has more than {MAX_ROUTES} routes")]);
        }
        let mut problems = Vec::new();
        let mut routes = Vec::new();
        for (index, raw) in raw.routes.into_iter().enumerate() {
            let label = format!(
                "route {} (`{}`)",
                index + 1,
                raw.name.as_deref().unwrap_or(&raw.path)
            );
            match Route::from_raw(raw) {
                Ok(route) => routes.push(route),
                Err(errors) => problems.extend(errors.into_iter().map(|e| format!("{label}: {e}"))),
            }
        }
        if problems.is_empty() {
            Ok(Self { routes })
        } else {
            Err(problems)
        }
    }

    /// The routes, in order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route whose path matches `path` (the request's, still percent-encoded), and
    /// what it captured.
    pub fn find(&self, path: &str) -> Option<(&Route, Matched)> {
        self.routes
            .iter()
            .find_map(|route| route.matches(path).map(|m| (route, m)))
    }

    /// The service bindings the routes name, for the configuration check.
    pub fn service_bindings(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().filter_map(|r| match &r.origin {
            Origin::Service(name) => Some(name.as_str()),
            Origin::Url(_) => None,
        })
    }
}

/// What a route's path captured from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The `{workspace}` segment, still percent-encoded.
    workspace_segment: Option<String>,
}

impl Route {
    fn from_raw(raw: RawRoute) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let (segments, prefix) = parse_path(&raw.path).unwrap_or_else(|e| {
            problems.push(format!("path {e}"));
            (Vec::new(), false)
        });
        let origin = parse_origin(&raw.origin).unwrap_or_else(|e| {
            problems.push(format!("origin {e}"));
            Origin::Url(String::new())
        });
        let mut rule = |field: &str, value: Option<&str>, default: Access| -> Access {
            match value.map_or(Ok(default), Access::parse) {
                Ok(access) => access,
                Err(e) => {
                    problems.push(format!("{field}: {e}"));
                    default
                }
            }
        };
        let names_workspace =
            segments.contains(&Segment::Workspace) || raw.workspace_header.is_some();
        let read = rule("read", raw.read.as_deref(), Access::Public);
        let default_write = if names_workspace {
            Access::Workspace
        } else {
            Access::Credential
        };
        let write = rule("write", raw.write.as_deref(), default_write);
        let mut methods = BTreeMap::new();
        let mut bad_methods = Vec::new();
        for (method, value) in &raw.methods {
            let valid = !method.is_empty()
                && method.len() <= 16
                && method.bytes().all(|b| b.is_ascii_uppercase());
            if valid {
                let access = rule(&format!("methods.{method}"), Some(value), Access::Super);
                methods.insert(method.clone(), access);
            } else {
                bad_methods.push(format!(
                    "methods: `{method}` is not an HTTP method in capitals, e.g. `DELETE`"
                ));
            }
        }
        problems.extend(bad_methods);
        let uses_workspace = read == Access::Workspace
            || write == Access::Workspace
            || methods.values().any(|a| *a == Access::Workspace);
        if uses_workspace && !names_workspace {
            problems.push(
                "a `workspace` rule needs the workspace from the path (`{workspace}`) or from `workspace_header`".into(),
            );
        }
        if let Some(header) = &raw.workspace_header {
            let valid = !header.is_empty()
                && header.len() <= 64
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid {
                problems.push(format!("workspace_header: `{header}` is not a header name"));
            } else if strips_request_header(header, true) {
                problems.push(format!(
                    "workspace_header: `{header}` is a header edgeauth removes before forwarding"
                ));
            }
        }
        let timeout_s = raw.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_S);
        if !(1..=MAX_TIMEOUT_S).contains(&timeout_s) {
            problems.push(format!("timeout_seconds must be 1 to {MAX_TIMEOUT_S}"));
        }
        let audience = match (&raw.audience, &origin) {
            (Some(audience), _) if audience.trim().is_empty() => {
                problems.push("audience must not be empty".into());
                String::new()
            }
            (Some(audience), _) => audience.trim().to_owned(),
            (None, Origin::Url(url)) => url.clone(),
            (None, Origin::Service(name)) => format!("service:{name}"),
        };
        if problems.is_empty() {
            Ok(Self {
                name: raw.name.unwrap_or_else(|| raw.path.clone()),
                segments,
                prefix,
                origin,
                audience,
                read,
                write,
                methods,
                workspace_header: raw.workspace_header,
                forward_authorization: raw.forward_authorization,
                timeout_s,
            })
        } else {
            Err(problems)
        }
    }

    fn matches(&self, path: &str) -> Option<Matched> {
        let rest = path.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let mut workspace_segment = None;
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Workspace if part.is_empty() => return None,
                Segment::Workspace => workspace_segment = Some(part.to_owned()),
            }
        }
        // Exactly the route's segments, or (with `*`) anything below; a trailing slash on an
        // exact route is the same path.
        let remainder: Vec<&str> = parts.collect();
        let exact = remainder.is_empty() || remainder == [""];
        (exact || self.prefix).then_some(Matched { workspace_segment })
    }

    /// Who may call this route with `method` (as the client sent it). A CORS preflight
    /// (`OPTIONS` with `Access-Control-Request-Method`, `preflight`) is public: browsers send it
    /// without credentials, and it asks the origin a question without acting.
    pub fn access(&self, method: &str, public_reads: bool, preflight: bool) -> Access {
        if preflight && method == "OPTIONS" {
            return Access::Public;
        }
        let rule = match self.methods.get(method) {
            Some(rule) => *rule,
            None if is_read(method) => self.read,
            None => self.write,
        };
        match rule {
            // Reads that are not public need what a write would on a route that names a
            // workspace, and a credential on any other.
            Access::Public if is_read(method) && !public_reads && self.names_workspace() => {
                Access::Workspace
            }
            Access::Public if is_read(method) && !public_reads => Access::Credential,
            rule => rule,
        }
    }

    /// The request's workspace: from the path's `{workspace}` segment, else the route's
    /// `workspace_header` (`header` is its value). `Ok(None)` when the route names none or the
    /// request sent none; an `Err` says what is wrong with the one sent.
    pub fn workspace(
        &self,
        matched: &Matched,
        header: Option<&str>,
    ) -> Result<Option<WorkspaceName>, String> {
        if let Some(segment) = &matched.workspace_segment {
            let decoded = percent_decode(segment).ok_or_else(|| {
                "the workspace in the path is not valid percent-encoding".to_owned()
            })?;
            return WorkspaceName::parse(&decoded)
                .map(Some)
                .map_err(|e| format!("the workspace in the path: {e}"));
        }
        match (&self.workspace_header, header) {
            (Some(name), Some(value)) => WorkspaceName::parse(value.trim())
                .map(Some)
                .map_err(|e| format!("the {name} header: {e}")),
            _ => Ok(None),
        }
    }

    /// Whether the route takes a workspace from the path or a header.
    fn names_workspace(&self) -> bool {
        self.segments.contains(&Segment::Workspace) || self.workspace_header.is_some()
    }

    /// The header that names the workspace, if the route reads one.
    pub fn workspace_header(&self) -> Option<&str> {
        self.workspace_header.as_deref()
    }

    /// The URL to forward `path_and_query` to, for a URL origin.
    pub fn target_url(&self, path_and_query: &str) -> Option<String> {
        match &self.origin {
            Origin::Url(base) => Some(format!("{base}{path_and_query}")),
            Origin::Service(_) => None,
        }
    }
}

fn is_read(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

fn parse_path(path: &str) -> Result<(Vec<Segment>, bool), String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("`{path}` must start with `/`"))?;
    if path.len() > 256 || path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{path}` is too long or has spaces"));
    }
    if path.contains(['?', '#', '%', '\\']) {
        return Err(format!(
            "`{path}` must be plain segments, `{{workspace}}` and a final `*`, with no query or encoding"
        ));
    }
    let mut parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let prefix = parts.last() == Some(&"*");
    if prefix {
        parts.pop();
    }
    let mut segments = Vec::new();
    for part in parts {
        match part {
            "{workspace}" if segments.contains(&Segment::Workspace) => {
                return Err(format!("`{path}` names `{{workspace}}` twice"));
            }
            "{workspace}" => segments.push(Segment::Workspace),
            "" | "." | ".." => return Err(format!("`{path}` has an empty or dot segment")),
            _ if part.contains(['*', '{', '}']) => {
                return Err(format!(
                    "`{path}`: `*` only as the last segment, and `{{workspace}}` as a whole segment"
                ));
            }
            _ => segments.push(Segment::Literal(part.to_owned())),
        }
    }
    if !prefix && segments.is_empty() {
        return Err("`/` alone matches nothing; use `/*` for every path".into());
    }
    let literal_prefix: String = segments
        .iter()
        .map_while(|s| match s {
            Segment::Literal(l) => Some(format!("/{l}")),
            Segment::Workspace => None,
        })
        .collect();
    let reserved = RESERVED_PATHS
        .iter()
        .find(|r| literal_prefix == **r || literal_prefix.starts_with(&format!("{r}/")));
    if let Some(reserved) = reserved {
        return Err(format!(
            "`{path}` is inside `{reserved}`, which edgeauth answers itself; choose another path"
        ));
    }
    Ok((segments, prefix))
}

fn parse_origin(origin: &str) -> Result<Origin, String> {
    if let Some(binding) = origin.strip_prefix("service:") {
        let valid = !binding.is_empty()
            && binding.len() <= 64
            && binding
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(Origin::Service(binding.to_owned()))
        } else {
            Err(format!(
                "`{origin}`: a service binding's name is letters, digits and `_`, e.g. `service:API`"
            ))
        };
    }
    let url = origin.trim().trim_end_matches('/');
    if let Some(problem) = crate::uri::url_problem(url) {
        return Err(format!(
            "{problem}, e.g. `https://api.internal.example.com` or `service:API`"
        ));
    }
    if url.contains(['?', '#']) {
        return Err("must have no query or fragment".into());
    }
    Ok(Origin::Url(url.to_owned()))
}

/// Why a request path must not be proxied, if it must not: encodings an origin might decode
/// into another path than the one the route matched (an encoded dot segment, slash outside the
/// workspace segment, backslash or NUL). `workspace_segment` is the route's capture, where an
/// encoded slash belongs.
pub fn path_problem(path: &str, matched: &Matched) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2e")
        || lower.contains("%5c")
        || lower.contains("%00")
        || path.contains('\\')
    {
        return Some("the path has an encoded dot, backslash or NUL, which the API could read as another path");
    }
    let slashes = lower.matches("%2f").count();
    let allowed = matched
        .workspace_segment
        .as_deref()
        .map_or(0, |s| s.to_ascii_lowercase().matches("%2f").count());
    (slashes > allowed).then_some(
        "the path has an encoded `/` outside the workspace segment, which the API could read as another path",
    )
}

/// Whether edgeauth decides, for whoever calls `route` with `method`, that the call may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Proxy it.
    Allow,
    /// 401: a credential is needed (none was sent).
    CredentialRequired(String),
    /// 403: the credential does not reach this far; says what is needed.
    Forbidden(String),
    /// 400: the request is malformed for this route (no or a bad workspace).
    BadRequest(String),
}

/// The decision for `principal` (`None`: no credential) calling `route` with a rule `access`,
/// on `workspace` (the request's, as [`Route::workspace`] read it).
pub fn decide(
    route: &Route,
    access: Access,
    principal: Option<&Principal>,
    workspace: Result<Option<WorkspaceName>, String>,
) -> Decision {
    if access == Access::Public {
        return Decision::Allow;
    }
    let Some(principal) = principal else {
        return Decision::CredentialRequired(format!(
            "`{}` needs {}; send `Authorization: Bearer <token>`",
            route.name,
            needs(access)
        ));
    };
    if let Some(problem) = principal.outsider_problem() {
        return Decision::Forbidden(problem);
    }
    match access {
        Access::Public | Access::Credential => Decision::Allow,
        // The super token; and nobody, with authentication disabled (full access, loopback only).
        Access::Super
            if matches!(
                principal.kind(),
                crate::policy::PrincipalKind::Super | crate::policy::PrincipalKind::Anonymous
            ) =>
        {
            Decision::Allow
        }
        Access::Super => Decision::Forbidden(format!(
            "`{}` needs the super token; a {} credential is not enough",
            route.name,
            principal.kind().as_str()
        )),
        Access::Workspace => match workspace {
            Err(problem) => Decision::BadRequest(problem),
            Ok(None) => Decision::BadRequest(match route.workspace_header() {
                Some(header) => format!(
                    "`{}` needs a workspace: send it in the {header} header",
                    route.name
                ),
                None => format!("`{}` needs a workspace in the path", route.name),
            }),
            Ok(Some(workspace)) if principal.scope.allows(&workspace) => Decision::Allow,
            Ok(Some(workspace)) => Decision::Forbidden(format!(
                "this {} credential covers {}, not the workspace `{}`; use a token whose workspaces include it",
                principal.kind().as_str(),
                principal.scope.to_strings().join(", "),
                workspace.as_str()
            )),
        },
    }
}

fn needs(access: Access) -> &'static str {
    match access {
        Access::Super => "the super token",
        Access::Workspace => "a credential covering the request's workspace",
        _ => "a credential",
    }
}

/// Identity headers a client could forge, by name or prefix (lower case): no request reaches
/// the origin with one of these but the assertion edgeauth signed.
pub const FORGEABLE_HEADER_PREFIXES: [&str; 6] = [
    "edgeauth-",
    "x-edgeauth-",
    "cf-access-",
    "x-auth-request-",
    "x-forwarded-user",
    "x-forwarded-email",
];
/// Identity headers a client could forge, by exact name (lower case).
pub const FORGEABLE_HEADERS: [&str; 15] = [
    "remote-user",
    "x-remote-user",
    "x-user",
    "x-user-id",
    "x-user-email",
    "x-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-authenticated-user",
    "x-authenticated-userid",
    "x-consumer-id",
    "x-consumer-username",
    "x-consumer-custom-id",
    "x-credential-identifier",
    "proxy-authorization",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1), which describe the client's connection to edgeauth,
/// not edgeauth's to the origin; `Expect: 100-continue` among them, which the runtime's
/// subrequest would wait on for ever. `Upgrade` is not one of them here: it carries a
/// WebSocket handshake to the origin.
pub const HOP_BY_HOP_HEADERS: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "expect",
];

/// Whether the client's request header `name` is removed before the request is forwarded:
/// every forgeable identity header, hop-by-hop headers, and `Authorization` unless the route
/// forwards it.
/// (`Cookie` and `Sec-WebSocket-Protocol` are filtered, not removed: see
/// [`forwarded_cookie`] and [`forwarded_protocols`].)
pub fn strips_request_header(name: &str, forward_authorization: bool) -> bool {
    let name = name.to_ascii_lowercase();
    (name == "authorization" && !forward_authorization)
        || FORGEABLE_HEADERS.contains(&name.as_str())
        || HOP_BY_HOP_HEADERS.contains(&name.as_str())
        || FORGEABLE_HEADER_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
}

/// The `Cookie` header to forward: the client's, without edgeauth's own cookies (the session
/// and sign-in cookies, `__Host-` or not), or `None` when nothing is left.
pub fn forwarded_cookie(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("").trim();
            !name
                .strip_prefix("__Host-")
                .unwrap_or(name)
                .starts_with("edgeauth_")
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The `Sec-WebSocket-Protocol` header to forward: the client's subprotocols without the
/// `bearer.` one that carried its credential, or `None` when nothing is left.
pub fn forwarded_protocols(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with(WEBSOCKET_PROTOCOL_PREFIX))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TokenId;
    use crate::policy::Credential;
    use crate::project::ProjectName;
    use crate::workspace::Scope;

    fn gateway(json: &str) -> Gateway {
        Gateway::parse(json).unwrap_or_else(|e| panic!("{json}: {e:?}"))
    }

    fn problems(json: &str) -> Vec<String> {
        Gateway::parse(json).unwrap_err()
    }

    fn service(patterns: &[&str]) -> Principal {
        Principal {
            credential: Credential::Service {
                token_id: TokenId::new("st_1"),
                name: "CI".into(),
            },
            project: ProjectName::parse("default").unwrap(),
            scope: Scope::parse(patterns).unwrap(),
            expires_at_ms: None,
            login: None,
            role: None,
        }
    }

    const API: &str = r#"{"routes": [
        {"path": "/v1/workspaces/{workspace}/*", "origin": "https://api.example.com/",
         "methods": {"DELETE": "super"}},
        {"path": "/v1/*", "origin": "https://api.example.com", "write": "credential"},
        {"name": "uploads", "path": "/uploads/*", "origin": "service:UPLOADS",
         "workspace_header": "X-Workspace", "read": "workspace", "timeout_seconds": 120,
         "forward_authorization": true, "audience": "uploads"}
    ]}"#;

    #[test]
    fn routes_match_in_order_and_capture_the_workspace() {
        let gw = gateway(API);
        let (route, m) = gw.find("/v1/workspaces/production%2Feu/runs/1").unwrap();
        assert_eq!(route.name, "/v1/workspaces/{workspace}/*");
        assert_eq!(
            route.workspace(&m, None).unwrap().unwrap().as_str(),
            "production/eu"
        );
        assert_eq!(
            route.target_url("/v1/x?a=1").unwrap(),
            "https://api.example.com/v1/x?a=1"
        );
        assert_eq!(route.audience, "https://api.example.com");
        let (route, _) = gw.find("/v1/health").unwrap();
        assert_eq!(route.name, "/v1/*");
        // The prefix itself matches a `*` route; a sibling does not.
        assert!(gw.find("/v1").is_some());
        assert!(gw.find("/v1/").is_some());
        assert!(gw.find("/v10").is_none());
        assert!(gw.find("/other").is_none());
        let (route, m) = gw.find("/uploads/a").unwrap();
        assert_eq!(route.origin, Origin::Service("UPLOADS".into()));
        assert_eq!(route.audience, "uploads");
        assert!(route.forward_authorization);
        assert_eq!(route.timeout_s, 120);
        assert_eq!(
            route
                .workspace(&m, Some("staging"))
                .unwrap()
                .unwrap()
                .as_str(),
            "staging"
        );
        assert_eq!(route.workspace(&m, None), Ok(None));
    }

    #[test]
    fn exact_routes_match_only_their_path() {
        let gw = gateway(r#"{"routes": [{"path": "/status", "origin": "https://a.example"}]}"#);
        assert!(gw.find("/status").is_some());
        assert!(gw.find("/status/").is_some());
        assert!(gw.find("/status/x").is_none());
        let all = gateway(r#"{"routes": [{"path": "/*", "origin": "https://a.example"}]}"#);
        assert!(all.find("/").is_some());
        assert!(all.find("/anything/below").is_some());
    }

    #[test]
    fn access_rules_follow_the_method_and_public_reads() {
        let gw = gateway(API);
        let (ws, _) = gw.find("/v1/workspaces/a/x").unwrap();
        assert_eq!(ws.access("GET", true, false), Access::Public);
        assert_eq!(ws.access("HEAD", true, false), Access::Public);
        // Reads that are not public need the workspace covered on a route that names one.
        assert_eq!(ws.access("GET", false, false), Access::Workspace);
        assert_eq!(ws.access("POST", true, false), Access::Workspace);
        assert_eq!(ws.access("PATCH", true, false), Access::Workspace);
        assert_eq!(ws.access("DELETE", true, false), Access::Super);
        let (v1, _) = gw.find("/v1/x").unwrap();
        assert_eq!(v1.access("POST", true, false), Access::Credential);
        assert_eq!(v1.access("GET", false, false), Access::Credential);
        let (uploads, _) = gw.find("/uploads/x").unwrap();
        assert_eq!(uploads.access("GET", true, false), Access::Workspace);
        // A CORS preflight passes whatever the rule; a plain OPTIONS is a read.
        assert_eq!(uploads.access("OPTIONS", false, true), Access::Public);
        assert_eq!(uploads.access("OPTIONS", true, false), Access::Workspace);
        assert_eq!(uploads.access("POST", true, true), Access::Workspace);
    }

    #[test]
    fn decisions_say_what_is_needed() {
        let gw = gateway(API);
        let (route, m) = gw.find("/v1/workspaces/production%2Feu/x").unwrap();
        let ws = || route.workspace(&m, None);
        assert_eq!(decide(route, Access::Public, None, ws()), Decision::Allow);
        match decide(route, Access::Workspace, None, ws()) {
            Decision::CredentialRequired(m) => assert!(m.contains("Authorization: Bearer"), "{m}"),
            other => panic!("{other:?}"),
        }
        let covering = service(&["production/*"]);
        assert_eq!(
            decide(route, Access::Workspace, Some(&covering), ws()),
            Decision::Allow
        );
        let other = service(&["staging/*"]);
        match decide(route, Access::Workspace, Some(&other), ws()) {
            Decision::Forbidden(m) => {
                assert!(
                    m.contains("staging/*") && m.contains("production/eu"),
                    "{m}"
                )
            }
            d => panic!("{d:?}"),
        }
        match decide(route, Access::Super, Some(&covering), ws()) {
            Decision::Forbidden(m) => assert!(m.contains("super token"), "{m}"),
            d => panic!("{d:?}"),
        }
        let superuser = Principal::super_token(ProjectName::parse("default").unwrap());
        assert_eq!(
            decide(route, Access::Super, Some(&superuser), ws()),
            Decision::Allow
        );
        assert_eq!(
            decide(route, Access::Credential, Some(&other), ws()),
            Decision::Allow
        );
        // A person with no role in the project is refused wherever a credential is needed.
        let outsider = Principal {
            credential: crate::policy::Credential::User {
                token_id: TokenId::new("ut_1"),
                name: "laptop".into(),
                user_id: crate::UserId::new("usr_1"),
            },
            ..service(&["*"])
        };
        for access in [Access::Credential, Access::Workspace] {
            match decide(route, access, Some(&outsider), ws()) {
                Decision::Forbidden(m) => assert!(m.contains("no role there"), "{m}"),
                d => panic!("{d:?}"),
            }
        }
        let member = Principal {
            role: Some(crate::Role::Member),
            ..outsider
        };
        assert_eq!(
            decide(route, Access::Workspace, Some(&member), ws()),
            Decision::Allow
        );
        // A workspace rule without a workspace, or with a bad one: 400.
        let (uploads, m) = gw.find("/uploads/x").unwrap();
        match decide(
            uploads,
            Access::Workspace,
            Some(&covering),
            uploads.workspace(&m, None),
        ) {
            Decision::BadRequest(m) => assert!(m.contains("X-Workspace"), "{m}"),
            d => panic!("{d:?}"),
        }
        let bad = uploads.workspace(&m, Some("Not A Workspace!"));
        assert!(matches!(
            decide(uploads, Access::Workspace, Some(&covering), bad),
            Decision::BadRequest(_)
        ));
    }

    #[test]
    fn bad_configuration_is_reported_by_route_and_field() {
        let all = problems(
            r#"{"routes": [
                {"path": "v1", "origin": "ftp://x", "read": "anyone"},
                {"path": "/api/auth/mine/*", "origin": "http://api.example.com", "write": "workspace"},
                {"path": "/a/*/b", "origin": "service:", "timeout_seconds": 0},
                {"path": "/w/{workspace}/{workspace}", "origin": "https://a.example", "workspace_header": "X-Edgeauth-Workspace"}
            ]}"#,
        );
        let text = all.join("\n");
        for expected in [
            "route 1 (`v1`): path `v1` must start with `/`",
            "route 1 (`v1`): origin",
            "route 1 (`v1`): read: `anyone` is not an access rule",
            "route 2 (`/api/auth/mine/*`): path `/api/auth/mine/*` is inside `/api/auth`",
            "route 2 (`/api/auth/mine/*`): origin must use https",
            "route 2 (`/api/auth/mine/*`): a `workspace` rule needs the workspace",
            "route 3 (`/a/*/b`): path",
            "route 3 (`/a/*/b`): origin `service:`",
            "route 3 (`/a/*/b`): timeout_seconds must be 1 to 300",
            "route 4 (`/w/{workspace}/{workspace}`): path `/w/{workspace}/{workspace}` names `{workspace}` twice",
            "route 4 (`/w/{workspace}/{workspace}`): workspace_header: `X-Edgeauth-Workspace` is a header edgeauth removes",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(problems("not json")[0].contains("is not valid"));
        assert!(problems(r#"{"routes": []}"#)[0].contains("no routes"));
        assert!(problems(
            r#"{"routes": [{"path": "/a", "origin": "https://a.example", "raed": "public"}]}"#
        )[0]
        .contains("unknown field"));
        // Plain http is for loopback only.
        assert!(Gateway::parse(
            r#"{"routes": [{"path": "/a/*", "origin": "http://127.0.0.1:9000"}]}"#
        )
        .is_ok());
    }

    #[test]
    fn encoded_paths_that_could_mean_another_path_are_refused() {
        let gw = gateway(API);
        let check = |path: &str| {
            let (_, m) = gw.find(path).unwrap();
            path_problem(path, &m)
        };
        assert_eq!(check("/v1/workspaces/production%2Feu/runs"), None);
        assert!(check("/v1/workspaces/a/..%2Fadmin").is_some());
        assert!(check("/v1/workspaces/a/%2e%2e/admin").is_some());
        assert!(check("/v1/a%2Fb").is_some());
        assert!(check("/v1/a%5Cb").is_some());
        assert!(check("/v1/a%00").is_some());
    }

    #[test]
    fn forgeable_identity_headers_never_reach_the_origin() {
        for name in [
            "Edgeauth-Assertion",
            "edgeauth-request-id",
            "X-Edgeauth-User",
            "Cf-Access-Jwt-Assertion",
            "X-Forwarded-User",
            "X-Forwarded-Email",
            "X-Auth-Request-Email",
            "Remote-User",
            "X-User-Id",
            "Proxy-Authorization",
            "Authorization",
            "Expect",
            "Connection",
            "Transfer-Encoding",
        ] {
            assert!(strips_request_header(name, false), "{name}");
        }
        assert!(!strips_request_header("Authorization", true));
        for name in [
            "Content-Type",
            "X-Project",
            "X-Workspace",
            "Accept",
            "X-Forwarded-For",
            "Cookie",
            "Upgrade",
        ] {
            assert!(!strips_request_header(name, false), "{name}");
        }
    }

    #[test]
    fn edgeauths_cookies_and_bearer_protocols_are_filtered_out() {
        assert_eq!(
            forwarded_cookie("theme=dark; edgeauth_session=abc; __Host-edgeauth_login=x; lang=en"),
            Some("theme=dark; lang=en".into())
        );
        assert_eq!(forwarded_cookie("__Host-edgeauth_session=abc"), None);
        assert_eq!(
            forwarded_protocols("bearer.ZWFzX3g, chat.v2, json"),
            Some("chat.v2, json".into())
        );
        assert_eq!(forwarded_protocols("bearer.ZWFzX3g"), None);
    }
}
