//! The command-line surface, as clap parses it. Help texts here are the user documentation.

use crate::config::{validate_project, validate_token};
use crate::error::EXIT_CODES_HELP;
use crate::server_url::ServerUrl;
use clap::{Args, Parser, Subcommand};
use edgeauth_core::secret::Secret;
use edgeauth_core::token_request::MAX_EXPIRES_IN_DAYS;

const LONG_ABOUT: &str = "\
edgeauth: authentication and API tokens for an HTTP API.

Settings are taken from the first place that has them:
  server   --server, EDGEAUTH_SERVER, `server` in edgeauth.toml, then the
           server of the last `edgeauth login` (localhost, 127.0.0.1 and
           [::1] are one server)
  project  --project, EDGEAUTH_PROJECT, `project` in edgeauth.toml
           (none: the server's default project)
  token    --token, EDGEAUTH_TOKEN, `token` in edgeauth.toml, then the
           credentials stored by `edgeauth login` for that server

edgeauth.toml is looked for in the current directory and then in each parent
directory; the first one found is used. Its keys are server, project and
token, all optional; a token there draws a warning when the file is readable
by other users or tracked by git. Empty environment variables count as unset.

Stored logins live in $EDGEAUTH_CONFIG_DIR/credentials.json, or by default in
<user config dir>/edgeauth/credentials.json (~/.config/edgeauth on Linux); their
tokens in the OS keyring when there is one (`login --storage`,
EDGEAUTH_CREDENTIAL_STORE). `edgeauth auth status` lists them.

Human output is meant for reading; use --json for scripts: it prints the
server's JSON response, and errors as one JSON line on stderr:
{\"error\": {\"code\", \"message\", \"hint\", \"exit_code\", \"server_code\"}}.
Otherwise errors go to stderr as `error: …` and `hint: …` lines; the exit code
says what kind of failure it was. Times are UTC.";

const SHORT_AFTER: &str = "Exit codes: 0 ok, 1 failure, 2 usage, 3 unauthorized, 4 forbidden, \
5 not found, 6 unreachable, 7 server error, 8 local configuration, 9 login timed out, \
10 login denied or refused (details: --help)";

const CREATE_LONG: &str = "\
Create a service token for the project.

The new token's secret is shown once and never again. Without --json, a
summary goes to stderr and the token alone, on one line, to stdout, so that

  TOKEN=$(edgeauth service-token create --name CI --workspaces 'production/*')

captures only the token. With --json, the server's response (which includes
the token in its `token` field) goes to stdout.

Workspace patterns: `*` (everything), an exact name (`staging`), or `name/*`
(everything strictly below `name`). A token's scope can never be broader than
the scope of the credential that creates it.

Without --expires-in-days the token gets the project's default lifetime
(`edgeauth lifetime show`), else 90 days, never more than its max; --no-expiry
asks for none (the project's lifetime policy may still bound it).";

const LIST_LONG: &str = "\
List the project's service tokens (revoked ones are not shown; secrets never are).

Columns: ID, NAME, PREFIX, WORKSPACES (comma-separated), CREATED, LAST USED,
EXPIRES, all times in UTC to the minute; `never` in LAST USED and EXPIRES for a
token never used or one that never expires; an expired token shows `(expired)`
after its expiry. With no tokens, stdout is empty and stderr says
`no service tokens`.";

const TOKEN_ABOUT: &str = "\
Create, list and revoke your own user API tokens (eau_…).

User tokens belong to a person: these commands need your own credential, from
`edgeauth login` or one of your user tokens, not the super token or a service
token (that is exit 4).";

const TOKEN_CREATE_LONG: &str = "\
Create a user API token for yourself, valid only in the project it is created
in (--project, else the server's default).

The new token's secret is shown once and never again. Without --json, a
summary goes to stderr and the token alone, on one line, to stdout, so that

  TOKEN=$(edgeauth token create --name laptop --expires-in-days 30)

captures only the token. With --json, the server's response (which includes
the token in its `token` field) goes to stdout.

Without --workspaces the token gets `*`: everything your own credential may
do. Patterns: `*`, an exact name (`staging`), or `name/*` (everything strictly
below `name`); they must lie within your credential's scope.

Without --expires-in-days the token gets the project's default lifetime
(`edgeauth lifetime show`), else 90 days, never more than its max; --no-expiry
asks for none (the project's lifetime policy may still bound it).";

const TOKEN_LIST_LONG: &str = "\
List your user tokens, in every project (revoked ones are not shown; secrets
never are).

Columns: ID, NAME, PREFIX, PROJECT, WORKSPACES (comma-separated), CREATED,
LAST USED, EXPIRES, all times in UTC to the minute; `never` in LAST USED and
EXPIRES for a token never used or one that never expires; an expired token
shows `(expired)` after its expiry. With no tokens, stdout is empty and stderr
says `no user tokens`.";

const LOGIN_LONG: &str = "\
Sign in as yourself through your browser, and store a new user API token for
the server (token order: --token, EDGEAUTH_TOKEN, edgeauth.toml, then this
stored login).

edgeauth listens on 127.0.0.1 on a free port and opens the server's sign-in
page in your browser; after you sign in and approve, the browser comes back to
that port and edgeauth trades the one-time code (with a PKCE proof) for a user
API token bound to the project (--project, else the server's default). The
token is stored for this server and never printed: the output names only its
prefix, and stderr says when it expires (the server decides). It goes into the
OS keyring when one can be used (--storage keyring, the default), else (or with
--storage file) into the credentials file (0600); EDGEAUTH_CREDENTIAL_STORE sets
the default. The server becomes the default for commands that name none.
Logging in again replaces the stored token and revokes the previous one.

The browser must run on this machine. stderr always shows the URL, on its own
line after `Open this URL in your browser:`.

Environment:
  EDGEAUTH_BROWSER         program to open the URL with (it gets the URL as
                           its one argument); default: xdg-open, open on macOS,
                           the URL handler on Windows
  EDGEAUTH_LOGIN_TIMEOUT   seconds to wait for the browser (default 300)
  EDGEAUTH_CREDENTIAL_STORE  `keyring` (default) or `file`: where the token goes

Prints `Logged in to SERVER as EMAIL (token eau_AbCdEfGh…, project P)`; with
--json, {\"server\", \"user\", \"token_id\", \"prefix\", \"project\", \"expires_at\"}.
Exit 9: no answer from the browser in time (with --device: the code expired).
Exit 10: denied in the browser, refused by the server (an account not allowed
there), or an answer that does not belong to this login (nothing is stored).

--device: the device login (RFC 8628), for when the browser is on another
machine. stderr says `To sign in, open URL and enter the code XXXX-XXXX`, then
the URL with the code in it on its own line; edgeauth asks the server every few
seconds (as often as it allows) until you approve. It stores a short-lived
access token and a refresh token; every command refreshes the access token
when it is about to expire, so you stay signed in until the login is revoked
or its refresh token expires. Prints `Logged in to SERVER as EMAIL (device
login, project P; stays signed in by refreshing)`. Exit 9: the code expired.
Exit 10: denied in the browser.";

const LOGOUT_LONG: &str = "\
Revoke the token stored by `edgeauth login` for the server, then forget it
(a device login: revoke its refresh token, which ends the whole login).

Only the stored login is affected, even when --token, EDGEAUTH_TOKEN or
edgeauth.toml supplies another token. A token the server no longer knows
(already revoked or expired) is forgotten all the same. If the server cannot
be reached or fails, the token stays stored so that you can try again.
Without a stored login there is nothing to do (exit 0).

--all first ends every browser session and device login of yours on the server
(sign out everywhere), with what was made with them; your lasting API tokens stay
(`edgeauth token list`, `edgeauth token revoke`).";

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Also end every browser session and device login of yours on the server
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "edgeauth",
    version,
    about = "edgeauth: authentication and API tokens for an HTTP API",
    long_about = LONG_ABOUT,
    after_help = SHORT_AFTER,
    after_long_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Server base URL, e.g. https://auth.example.com [env: EDGEAUTH_SERVER]
    #[arg(long, global = true, help_heading = "Global options", value_name = "URL", value_parser = parse_server)]
    pub server: Option<String>,
    /// Project to act in (sent as X-Project) [env: EDGEAUTH_PROJECT]
    #[arg(long, global = true, help_heading = "Global options", value_name = "NAME", value_parser = parse_project)]
    pub project: Option<String>,
    /// Bearer token; prefer EDGEAUTH_TOKEN, as flags are visible to other local users [env: EDGEAUTH_TOKEN]
    #[arg(long, global = true, help_heading = "Global options", value_name = "TOKEN", value_parser = TokenParser)]
    pub token: Option<Secret>,
    /// Print the server's JSON instead of human-readable text
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in through your browser (or with a device code) and store the login for the server
    #[command(long_about = LOGIN_LONG)]
    Login(LoginArgs),
    /// Revoke and forget the token stored by `edgeauth login` for the server
    #[command(long_about = LOGOUT_LONG)]
    Logout(LogoutArgs),
    /// Show who the resolved credential is, and where it came from
    #[command(long_about = WHOAMI_LONG)]
    Whoami,
    /// Stored logins (status), the token in use (token); also login, logout and whoami
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Print a shell completion script: bash, zsh or fish
    #[command(long_about = COMPLETION_LONG)]
    Completion {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Create, list and revoke your own user API tokens
    #[command(subcommand, long_about = TOKEN_ABOUT)]
    Token(UserTokenCommand),
    /// Create, list and revoke the project's service tokens
    #[command(subcommand)]
    ServiceToken(ServiceTokenCommand),
    /// Call the API behind edgeauth (or edgeauth's own) with the resolved credential
    #[command(long_about = API_LONG, after_help = API_EXAMPLES)]
    Api(ApiArgs),
    /// Show or change which teams administer and use the project
    #[command(subcommand, long_about = ROLES_LONG)]
    Roles(RolesCommand),
    /// Show or change how long the project's tokens may live, and when unused ones expire
    #[command(subcommand, long_about = LIFETIME_LONG)]
    Lifetime(LifetimeCommand),
    /// Create, list and delete the project's trust policies: CI jobs with no stored secret
    #[command(subcommand, long_about = TRUST_LONG)]
    Trust(TrustCommand),
    /// Read the audit trail: who did what, from where (your own events, or the project's)
    #[command(long_about = AUDIT_LONG, after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Every stored login: server, who, kind, project, expiry, where the token is kept
    #[command(long_about = AUTH_STATUS_LONG)]
    Status,
    /// Print the token in use for the server, alone on stdout (a device login refreshed first)
    #[command(long_about = AUTH_TOKEN_LONG)]
    Token,
    /// The same as `edgeauth login`
    #[command(long_about = LOGIN_LONG)]
    Login(LoginArgs),
    /// The same as `edgeauth logout`
    #[command(long_about = LOGOUT_LONG)]
    Logout(LogoutArgs),
    /// The same as `edgeauth whoami`
    #[command(long_about = WHOAMI_LONG)]
    Whoami,
}

const AUTH_STATUS_LONG: &str = "\
List every login stored by `edgeauth login`, per server: the server (`*` marks the
default: the last login's, used when no --server, EDGEAUTH_SERVER or edgeauth.toml
names one), who (email), the kind (`user token` or `device login`), the project, the
expiry and where the token is kept (the OS keyring, or the credentials file's path).

It reads only what is stored and asks no server: it works offline, and a login whose
expiry has passed says `expired` (a device login refreshes itself while its refresh
token lives, so its access token's expiry is shown as `refreshes`). `edgeauth whoami`
asks the server. With no stored login it prints nothing on stdout, says so on stderr,
and exits 0. --json: {\"default_server\", \"logins\": [{\"server\", \"default\",
\"user\", \"kind\", \"project\", \"token_id\", \"prefix\", \"expires_at\",
\"expired\", \"storage\", \"path\"}]}.";

const AUTH_TOKEN_LONG: &str = "\
Print the token in use for the server alone on stdout, nothing else, so that

  curl -H \"Authorization: Bearer $(edgeauth auth token)\" https://api.example.com/…

works. The token is the one every command would use (--token, EDGEAUTH_TOKEN,
edgeauth.toml, then the stored login); a stored device login's access token is
refreshed first when it expires within a minute. Without any: exit 3, and stderr
says which command logs in. --json: {\"server\", \"token\", \"source\"}.";

const COMPLETION_LONG: &str = "\
Print a completion script for bash, zsh or fish on stdout. Install it with:

  bash: edgeauth completion bash > ~/.local/share/bash-completion/completions/edgeauth
  zsh:  edgeauth completion zsh > \"${fpath[1]}/_edgeauth\"   (a directory in $fpath;
        then start a new shell, with `autoload -U compinit && compinit` in ~/.zshrc)
  fish: edgeauth completion fish > ~/.config/fish/completions/edgeauth.fish";

const AUDIT_LONG: &str = "\
Read the audit trail, newest first: sign-ins and their refusals, sign-outs, tokens
created, rolled and revoked (leak reports too), CLI and device login approvals, refreshes,
CI exchanges, role and trust-policy changes, configuration problems; each with who did it,
the SHA-256 and prefix of the credential they used, and the client's address, location and
User-Agent. A person reads their own events; an admin (with a credential covering every
workspace), a service token covering every workspace, or the super token the project's
(the super token the deployment's own too). Refusals are counted: one line per kind and
minute, with a count.";

const AUDIT_EXAMPLES: &str = "\
Examples:
  edgeauth audit --since 24h
  edgeauth audit --action user_token --person me
  printf %s \"$LEAKED\" | sha256sum    # then: edgeauth audit --token-hash <that hash>
  edgeauth audit --json --limit 200 --cursor 1234";

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// One action (user_token.revoke) or a family (user_token)
    #[arg(long)]
    pub action: Option<String>,
    /// The actor as events name it: user:usr_…, service:st_…, super, leak_report, …
    #[arg(long)]
    pub actor: Option<String>,
    /// The id acted on
    #[arg(long)]
    pub subject: Option<String>,
    /// The person events concern: usr_… or me
    #[arg(long)]
    pub person: Option<String>,
    /// A token's SHA-256 in hex: what it did and what was done to it
    #[arg(long, value_name = "SHA256")]
    pub token_hash: Option<String>,
    /// Events since: an instant (2026-12-01T00:00:00Z) or an age (30m, 24h, 7d)
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<String>,
    /// Events until: an instant or an age, as --since
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<String>,
    /// Events per page, 1 to 200 (default 50)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub limit: Option<u32>,
    /// The page after the one that printed this cursor
    #[arg(long)]
    pub cursor: Option<String>,
}

/// An instant as the server reads it: given as one, or as an age (`30m`, `24h`, `7d`) before
/// now.
fn parse_when(s: &str) -> Result<String, String> {
    if edgeauth_core::time::parse_rfc3339(s).is_some() {
        return Ok(s.to_owned());
    }
    let unit_ms = match s.chars().last() {
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        _ => 0,
    };
    let amount = s[..s.len().saturating_sub(1)].parse::<i64>().ok();
    match (unit_ms, amount) {
        (unit_ms @ 1.., Some(n @ 0..=36_500)) => {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Ok(edgeauth_core::time::rfc3339(now_ms - n * unit_ms))
        }
        _ => Err("give an instant in UTC (2026-12-01T00:00:00Z) or an age: 30m, 24h, 7d".into()),
    }
}

const TRUST_LONG: &str = "\
A trust policy lets CI jobs of one repository (and branch, environment…) trade the ID
token their platform signs for a short-lived access token of the project, with
`edgeauth login --ci`: no long-lived token stored in the CI. It names the platform's
issuer, the audience its ID tokens must carry (default: this server's issuer),
conditions on their claims (--condition CLAIM=PATTERN, `*` for any run of
characters; repeat a claim for alternatives), the workspaces granted (within your own)
and the tokens' lifetime (default 900 s, at most 3600). A policy must pin the
repository or project (a `sub`, `repository`, `project_path`… condition).
Managing policies needs the super token or an admin of the project.

GitHub Actions:
  edgeauth trust create --name deploy --issuer https://token.actions.githubusercontent.com \\
    --condition repository=octo-org/octo-repo --condition ref=refs/heads/main \\
    --workspaces 'production/*'
GitLab:
  edgeauth trust create --name deploy --issuer https://gitlab.com \\
    --condition project_path=group/project --condition ref=main --workspaces 'production/*'";

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Create a trust policy
    Create(CreateTrustPolicy),
    /// List the project's trust policies
    List,
    /// Delete a trust policy by its id (tp_…); prints `deleted <id>`
    Delete {
        /// The policy's id, e.g. tp_…
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateTrustPolicy {
    /// A name for the policy, e.g. deploy
    #[arg(long)]
    pub name: String,
    /// The CI platform's issuer, e.g. https://token.actions.githubusercontent.com
    #[arg(long)]
    pub issuer: String,
    /// The audience its ID tokens must carry (default: this server's issuer)
    #[arg(long)]
    pub audience: Option<String>,
    /// CLAIM=PATTERN: a condition on the ID token (repeat a claim for alternatives)
    #[arg(long = "condition", value_name = "CLAIM=PATTERN", required = true, value_parser = parse_condition)]
    pub conditions: Vec<(String, String)>,
    /// Workspace patterns granted, comma-separated; the flag may be repeated
    #[arg(long, required = true, value_name = "PATTERNS", value_delimiter = ',', value_parser = parse_workspace_pattern)]
    pub workspaces: Vec<String>,
    /// How long the tokens it yields live, 60 to 3600 (default 900)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(60..=3600))]
    pub lifetime_seconds: Option<u32>,
}

fn parse_condition(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((claim, pattern)) if !claim.trim().is_empty() && !pattern.is_empty() => {
            Ok((claim.trim().to_owned(), pattern.to_owned()))
        }
        _ => Err("a condition is CLAIM=PATTERN, e.g. repository=octo-org/octo-repo".into()),
    }
}

const ROLES_LONG: &str = "\
Show or change which teams administer and use the project.

An admin manages the project: its service tokens and its roles. A member uses it
and manages only their own tokens. A person in none of the project's teams has
no role there and is refused in it. The teams come from the identity provider's
team claim, as of the person's last sign-in.

A project follows the server's ADMIN_TEAMS and MEMBER_TEAMS until it is given
teams of its own with `roles set`; `roles reset` returns it to them. With
neither set, every signed-in person is a member and only the super token
administers. Changing roles needs the super token or an admin of the project.";

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Show the project's admin and member teams, and where they come from
    Show,
    /// Give the project its own admin and member teams (both lists are replaced)
    Set(SetRoles),
    /// Make the project follow the server's ADMIN_TEAMS and MEMBER_TEAMS again
    Reset,
}

#[derive(Debug, Args)]
pub struct SetRoles {
    /// Teams whose people administer the project, comma-separated (may be repeated; may be empty)
    #[arg(long, value_name = "TEAMS", value_delimiter = ',', required = true, num_args = 0..)]
    pub admin_teams: Vec<String>,
    /// Teams whose people use the project, comma-separated; empty: every signed-in person
    #[arg(long, value_name = "TEAMS", value_delimiter = ',', default_values_t = Vec::<String>::new())]
    pub member_teams: Vec<String>,
}

const LIFETIME_LONG: &str = "\
Show or change the project's lifetime policy: the longest and the default
lifetime, in days, of its service tokens and of its people's user API tokens,
and the number of days after which a token left unused stops working.

A token asked for with a lifetime beyond the max is refused; one asked for
without a lifetime gets the default, else the max, so no token outlives the
max. A CLI login's token gets the user token default (else max) too. Limits
apply to tokens created from then on; unused expiry applies to every token of
the project at its next use (since its last use, else its creation).

`lifetime set` replaces the whole policy: a limit not given is no limit. A
default above its max is lowered to the max. `lifetime reset` removes the
policy. Changing it needs the super token or an admin of the project.

Example:
  edgeauth lifetime set --service-max-days 90 --service-default-days 30 \\
    --user-max-days 365 --unused-days 90";

#[derive(Debug, Subcommand)]
pub enum LifetimeCommand {
    /// Show the project's lifetime policy
    Show,
    /// Replace the project's lifetime policy (a limit not given is no limit)
    Set(SetLifetime),
    /// Remove the project's lifetime policy: no limits
    Reset,
}

#[derive(Debug, Args)]
pub struct SetLifetime {
    /// Longest lifetime of a service token, in days (1 to 3650)
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub service_max_days: Option<i64>,
    /// Lifetime of a service token created without one, in days (1 to 3650)
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub service_default_days: Option<i64>,
    /// Longest lifetime of a user API token, in days (1 to 3650)
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub user_max_days: Option<i64>,
    /// Lifetime of a user API token created without one (and of a CLI login's), in days (1 to 3650)
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub user_default_days: Option<i64>,
    /// Tokens not used for this many days stop working (1 to 3650)
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub unused_days: Option<i64>,
}

/// A number of days a lifetime policy may name: 1 to 3650.
fn parse_days(s: &str) -> Result<i64, String> {
    use edgeauth_core::lifetime::MAX_POLICY_DAYS;
    match s.trim().parse::<i64>() {
        Ok(days) if (1..=MAX_POLICY_DAYS).contains(&days) => Ok(days),
        _ => Err(format!(
            "give a whole number of days from 1 to {MAX_POLICY_DAYS}"
        )),
    }
}

const API_LONG: &str = "\
Send one request to the server with the credential edgeauth resolves (as every
other command does, a device login refreshed on its own), and print the
response: the API your edgeauth protects as its gateway, or edgeauth's own
endpoints.

PATH starts with `/` and may carry a query; percent-encode what the API
expects encoded (a workspace in a path: production%2Feu). A full URL is taken
only when it is on the server.

The body (--data) is text, @FILE or @- (standard input). Files and standard
input are streamed, never read whole, so a large upload costs no memory.
Content-Type, unless -H sets it: application/json for text that is JSON or a
.json file, else text/plain for text and application/octet-stream for a file
or standard input. The method is GET, or POST with --data.

The response body goes to stdout as it arrives (downloads and event streams
are not buffered); -i prints the status line and headers first. --json
pretty-prints a JSON body. Exit status: 0 for 2xx and 3xx; for an error, the
body is printed all the same, the server's message goes to stderr, and the
exit code says what kind (3 unauthorized, 4 forbidden, 5 not found, 7 server
error, 1 other). The credential is never printed: set it with --token,
EDGEAUTH_TOKEN, edgeauth.toml or `edgeauth login`, not with -H.";

const API_EXAMPLES: &str = "\
Examples:
  edgeauth api /api/auth/whoami
  edgeauth api /v1/workspaces/production%2Feu/runs --json
  edgeauth api -X POST /v1/workspaces/production%2Feu/runs -d '{\"commit\": \"abc123\"}'
  edgeauth api -X PUT /v1/blobs/build.tar.gz -d @build.tar.gz -H 'X-Workspace: production/eu'
  some-command | edgeauth api -X POST /v1/logs -d @-
  edgeauth api -i /v1/health";

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The path (with its query), e.g. /v1/workspaces/production%2Feu/runs
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The HTTP method; default GET, or POST with --data
    #[arg(short = 'X', long = "method", value_name = "METHOD")]
    pub method: Option<String>,
    /// The request body: text, @FILE (streamed) or @- (standard input, streamed)
    #[arg(short = 'd', long = "data", value_name = "BODY")]
    pub data: Option<String>,
    /// A header to send, `Name: value` (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Print the response's status line and headers before its body
    #[arg(short = 'i', long = "include")]
    pub include: bool,
}

/// The long help of both `revoke`s, which differ only in names.
macro_rules! revoke_long {
        ($what:literal, $list:literal) => {
            concat!(
                "Revoke ", $what, " by id (from `edgeauth ", $list, " list`) or by the token itself.\n\n",
                "Prints `revoked <id>` for each; it takes effect at once. An id that is unknown or\n",
                "already revoked is not found (exit 5).\n\n",
                "Each argument is a token id, or a token itself (a leaked one, say): the token is\n",
                "never sent. It is hashed here (SHA-256, as the server keeps it) and matched against\n",
                "the list's tokens by its display prefix (its first 12 characters); the match is\n",
                "confirmed by the hash through the audit trail (`GET /api/audit?token_hash=…`) where\n",
                "the credential may read it, else the prefix alone decides (stderr says so).\n",
                "Several arguments are revoked one by one, each reported; the exit code is that of\n",
                "the first failure (0 if none failed). --json prints {\"revoked\": \"ID\"} for one\n",
                "argument; for several, {\"revoked\": [ids], \"failed\": [{\"argument\", \"error\"}]}\n",
                "(a token shown by its prefix)."
            )
        };
    }
const TOKEN_REVOKE_LONG: &str = revoke_long!("your user tokens", "token");
const SERVICE_TOKEN_REVOKE_LONG: &str =
    revoke_long!("the project's service tokens", "service-token");

const WHOAMI_LONG: &str = "\
Show who the resolved credential is: kind, name, project, workspaces, expiry,
and where it came from.

Human output: the first line is what the server says, e.g.
  service token \"CI\" (st_…) in project default; workspaces: production/*; expires never
then, for a person's credential, `person: NAME <EMAIL>`, and last
`credential: SOURCE` (--token, EDGEAUTH_TOKEN, `token` in PATH, or the login
stored in PATH). --json prints the server's JSON with two more fields:
`credential_source` ({\"from\": \"flag\"|\"env\"|\"edgeauth.toml\"|\"login\", \"path\"})
and, for a person, `person` (GET /api/users/me).";

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Print the URL instead of opening a browser
    #[arg(long)]
    pub no_browser: bool,
    /// Sign in with a device code (RFC 8628): enter a short code in any browser, on any device
    #[arg(long, conflicts_with = "ci")]
    pub device: bool,
    /// In a CI job: trade the job's ID token (GitHub Actions, GitLab) for a short-lived access
    /// token, printed alone on stdout; nothing is stored
    #[arg(long, long_help = LOGIN_CI_LONG)]
    pub ci: bool,
    /// With --ci: the audience to ask the CI platform for (default: the server's issuer, which
    /// trust policies expect unless they name another)
    #[arg(long, value_name = "AUDIENCE", requires = "ci")]
    pub audience: Option<String>,
    /// With --ci: the environment variable that holds the ID token (GitLab's `id_tokens:`
    /// name); default EDGEAUTH_ID_TOKEN when GitHub Actions' token request is not available
    #[arg(long, value_name = "VAR", requires = "ci")]
    pub id_token_env: Option<String>,
    /// Where to keep the token: the OS keyring (the default; the file when there is none) or
    /// the credentials file [env: EDGEAUTH_CREDENTIAL_STORE]
    #[arg(long, value_enum, value_name = "STORE", conflicts_with = "ci")]
    pub storage: Option<crate::os_keyring::Storage>,
}

const LOGIN_CI_LONG: &str = "\
In a CI job: trade the job's ID token for a short-lived access token of the project
(RFC 8693 token exchange), as a trust policy of the project allows (see `edgeauth trust`).
No secret is stored in the CI and nothing is written to disk.

The ID token comes from, in order: the variable named by --id-token-env; GitHub
Actions' token request (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN,
which the job has with `permissions: id-token: write`), asked for --audience (default:
the server's issuer); EDGEAUTH_ID_TOKEN (GitLab: `id_tokens: EDGEAUTH_ID_TOKEN: aud: …`).

Prints the access token alone on stdout, so that
  export EDGEAUTH_TOKEN=$(edgeauth login --ci)
hands it to the job's later commands; a summary goes to stderr. --json prints
{\"access_token\", \"expires_in\", \"scope\", \"project\"}. A refused exchange exits 3 with
the server's reason (which policy condition failed).";

#[derive(Debug, Subcommand)]
pub enum UserTokenCommand {
    /// Create a user token; its secret is printed once, alone on stdout
    #[command(long_about = TOKEN_CREATE_LONG)]
    Create(CreateUserToken),
    /// List your user tokens in every project
    #[command(long_about = TOKEN_LIST_LONG)]
    List,
    /// Revoke user tokens by id (ut_…) or by the token itself (eau_…); prints `revoked <id>`
    #[command(long_about = TOKEN_REVOKE_LONG)]
    Revoke {
        /// Token ids (ut_…), or tokens (eau_…) to find by their hash
        #[arg(value_name = "ID", required = true, num_args = 1..)]
        ids: Vec<String>,
    },
    /// Give a user token a new secret, ending the old one
    #[command(
        long_about = "Give a user token a new secret: a new token (new id) with the same name, \
            workspaces, expiry and project, printed once on stdout like `token create`. The old \
            secret stops at once, or after --grace-seconds (at most 30 days, never past its \
            expiry), so whatever uses it can switch without a failed request."
    )]
    Roll {
        /// The token's id, e.g. ut_…
        #[arg(value_name = "ID")]
        id: String,
        /// How long the old secret keeps working (default 0: revoked at once)
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        grace_seconds: u32,
    },
}

#[derive(Debug, Args)]
pub struct CreateUserToken {
    /// A name for the token, e.g. laptop (1 to 100 characters)
    #[arg(long)]
    pub name: String,
    /// Workspace patterns, comma-separated; the flag may be repeated; default: *
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',', value_parser = parse_workspace_pattern)]
    pub workspaces: Vec<String>,
    /// Expire the token after this many days (1 to 3650); default: the project's default, else 90
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_EXPIRES_IN_DAYS))]
    pub expires_in_days: Option<u32>,
    /// Ask for a token that never expires (the project's lifetime policy may still bound it)
    #[arg(long, conflicts_with = "expires_in_days")]
    pub no_expiry: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceTokenCommand {
    /// Create a service token; its secret is printed once, alone on stdout
    #[command(long_about = CREATE_LONG)]
    Create(CreateServiceToken),
    /// List the project's service tokens
    #[command(long_about = LIST_LONG)]
    List,
    /// Revoke service tokens by id (st_…) or by the token itself (eas_…); prints `revoked <id>`
    #[command(long_about = SERVICE_TOKEN_REVOKE_LONG)]
    Revoke {
        /// Token ids (st_…), or tokens (eas_…) to find by their hash
        #[arg(value_name = "ID", required = true, num_args = 1..)]
        ids: Vec<String>,
    },
    /// Give a service token a new secret, ending the old one
    #[command(
        long_about = "Give a service token a new secret: a new token (new id) with the same name, \
            workspaces and expiry, printed once on stdout like `service-token create`. The old \
            secret stops at once, or after --grace-seconds (at most 30 days, never past its \
            expiry): update the CI secret within the grace, and nothing fails."
    )]
    Roll {
        /// The token's id, e.g. st_…
        #[arg(value_name = "ID")]
        id: String,
        /// How long the old secret keeps working (default 0: revoked at once)
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        grace_seconds: u32,
    },
}

#[derive(Debug, Args)]
pub struct CreateServiceToken {
    /// A name for the token, e.g. CI (1 to 100 characters)
    #[arg(long)]
    pub name: String,
    /// Workspace patterns, comma-separated; the flag may be repeated
    #[arg(long, required = true, value_name = "PATTERNS", value_delimiter = ',', value_parser = parse_workspace_pattern)]
    pub workspaces: Vec<String>,
    /// Expire the token after this many days (1 to 3650); default: the project's default, else 90
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_EXPIRES_IN_DAYS))]
    pub expires_in_days: Option<u32>,
    /// Ask for a token that never expires (the project's lifetime policy may still bound it)
    #[arg(long, conflicts_with = "expires_in_days")]
    pub no_expiry: bool,
}

/// What `token create` and `service-token create` ask for: `--expires-in-days`, nothing with
/// `--no-expiry` (the server then applies the project's default, else no expiry), else
/// `default_days()`: the project's default for the kind within its max, else
/// [`DEFAULT_TOKEN_LIFETIME_DAYS`](edgeauth_core::token_request::DEFAULT_TOKEN_LIFETIME_DAYS)
/// (`crate::commands::lifetime::default_token_days`, which
/// asks the server, and so is called only then).
pub fn asked_lifetime_days(
    expires_in_days: Option<u32>,
    no_expiry: bool,
    default_days: impl FnOnce() -> u32,
) -> Option<u32> {
    match (expires_in_days, no_expiry) {
        (Some(days), _) => Some(days),
        (None, true) => None,
        (None, false) => Some(default_days()),
    }
}

fn parse_server(s: &str) -> Result<String, String> {
    ServerUrl::parse(s).map(|u| u.as_str().to_owned())
}

fn parse_project(s: &str) -> Result<String, String> {
    validate_project(s).map(|()| s.to_owned())
}

/// Parses `--token` without ever repeating the value: clap's own validation errors quote the
/// rejected value, so this parser builds its error by hand.
#[derive(Clone)]
struct TokenParser;

impl clap::builder::TypedValueParser for TokenParser {
    type Value = Secret;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Secret, clap::Error> {
        let invalid = |why: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("the value of --token {why}\n"),
            )
        };
        let value = value
            .to_str()
            .ok_or_else(|| invalid("is not valid UTF-8"))?;
        validate_token(value).map_err(|e| invalid(&e))?;
        Ok(Secret::new(value))
    }
}

fn parse_workspace_pattern(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("empty workspace pattern (check for a stray comma)".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("edgeauth").chain(args.iter().copied()))
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        let cli = parse(&["--server", "http://127.0.0.1:8787/", "whoami", "--json"]).unwrap();
        assert_eq!(cli.global.server.as_deref(), Some("http://127.0.0.1:8787"));
        assert!(cli.global.json);
        let cli = parse(&["service-token", "list", "--project", "demo", "--token", "t"]).unwrap();
        assert_eq!(cli.global.project.as_deref(), Some("demo"));
        assert_eq!(cli.global.token.unwrap().expose(), "t");
    }

    #[test]
    fn workspaces_split_on_commas_and_repeat() {
        let cli = parse(&[
            "service-token",
            "create",
            "--name",
            "CI",
            "--workspaces",
            "production/*, staging",
            "--workspaces",
            "dev",
        ])
        .unwrap();
        let Command::ServiceToken(ServiceTokenCommand::Create(create)) = cli.command else {
            panic!("not create");
        };
        assert_eq!(create.workspaces, ["production/*", "staging", "dev"]);
        assert_eq!(create.expires_in_days, None);
    }

    #[test]
    fn token_create_needs_only_a_name() {
        let cli = parse(&["token", "create", "--name", "laptop"]).unwrap();
        let Command::Token(UserTokenCommand::Create(create)) = cli.command else {
            panic!("not token create");
        };
        assert_eq!(create.name, "laptop");
        assert!(create.workspaces.is_empty());
        assert_eq!(create.expires_in_days, None);

        let cli = parse(&[
            "token",
            "create",
            "--name",
            "ci",
            "--workspaces",
            "staging, production/*",
            "--expires-in-days",
            "30",
        ])
        .unwrap();
        let Command::Token(UserTokenCommand::Create(create)) = cli.command else {
            panic!("not token create");
        };
        assert_eq!(create.workspaces, ["staging", "production/*"]);
        assert_eq!(create.expires_in_days, Some(30));
    }

    #[test]
    fn lifetime_set_takes_days_and_leaves_out_what_is_not_given() {
        let cli = parse(&[
            "lifetime",
            "set",
            "--service-max-days",
            "90",
            "--service-default-days",
            "30",
            "--unused-days",
            "60",
        ])
        .unwrap();
        let Command::Lifetime(LifetimeCommand::Set(set)) = cli.command else {
            panic!("not lifetime set");
        };
        assert_eq!(
            (
                set.service_max_days,
                set.service_default_days,
                set.user_max_days,
                set.user_default_days,
                set.unused_days
            ),
            (Some(90), Some(30), None, None, Some(60))
        );
        // Nothing given: no limits at all.
        let cli = parse(&["lifetime", "set"]).unwrap();
        let Command::Lifetime(LifetimeCommand::Set(set)) = cli.command else {
            panic!("not lifetime set");
        };
        assert_eq!((set.service_max_days, set.unused_days), (None, None));
        for bad in ["0", "3651", "-1", "1.5", "ten"] {
            assert!(
                parse(&["lifetime", "set", "--user-max-days", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(&["lifetime", "show", "--json"]).unwrap().command,
            Command::Lifetime(LifetimeCommand::Show)
        ));
        assert!(matches!(
            parse(&["lifetime", "reset"]).unwrap().command,
            Command::Lifetime(LifetimeCommand::Reset)
        ));
        assert!(parse(&["lifetime"]).is_err());
    }

    #[test]
    fn token_list_and_revoke() {
        let cli = parse(&["token", "list", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Token(UserTokenCommand::List)
        ));
        assert!(cli.global.json);
        let cli = parse(&["token", "revoke", "ut_1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Token(UserTokenCommand::Revoke { ids }) if ids == ["ut_1"]
        ));
        let cli = parse(&["service-token", "revoke", "st_1", "st_2"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::ServiceToken(ServiceTokenCommand::Revoke { ids }) if ids == ["st_1", "st_2"]
        ));
    }

    #[test]
    fn roll_takes_an_id_and_a_grace() {
        let cli = parse(&["service-token", "roll", "st_1", "--grace-seconds", "3600"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::ServiceToken(ServiceTokenCommand::Roll { id, grace_seconds: 3600 }) if id == "st_1"
        ));
        let cli = parse(&["token", "roll", "ut_1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Token(UserTokenCommand::Roll { id, grace_seconds: 0 }) if id == "ut_1"
        ));
    }

    #[test]
    fn usage_errors_exit_2() {
        for args in [
            &["service-token", "create", "--name", "CI"][..],
            &[
                "service-token",
                "create",
                "--name",
                "CI",
                "--workspaces",
                "a,,b",
            ],
            &[
                "service-token",
                "create",
                "--name",
                "CI",
                "--workspaces",
                "a",
                "--expires-in-days",
                "0",
            ],
            &[
                "service-token",
                "create",
                "--name",
                "CI",
                "--workspaces",
                "a",
                "--expires-in-days",
                "3651",
            ],
            &["--project", "Bad_Name", "whoami"],
            &["--server", "ftp://x", "whoami"],
            &["service-token", "revoke"],
            &["token", "create"],
            &["token", "create", "--name", "x", "--workspaces", ""],
            &["token", "create", "--name", "x", "--expires-in-days", "0"],
            &["token", "revoke"],
            &[
                "token",
                "create",
                "--name",
                "x",
                "--no-expiry",
                "--expires-in-days",
                "3",
            ],
            &["auth"],
            &["auth", "nonsense"],
            &["completion", "powershell-7"],
            &["token"],
            &["nonsense"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn login_ci_takes_its_audience_and_variable() {
        let cli = parse(&[
            "login",
            "--ci",
            "--audience",
            "https://a.example",
            "--id-token-env",
            "T",
        ])
        .unwrap();
        let Command::Login(args) = cli.command else {
            panic!("login")
        };
        assert!(args.ci && !args.device);
        assert_eq!(args.audience.as_deref(), Some("https://a.example"));
        assert_eq!(args.id_token_env.as_deref(), Some("T"));
        assert!(
            parse(&["login", "--audience", "x"]).is_err(),
            "--audience needs --ci"
        );
        assert!(parse(&["login", "--ci", "--device"]).is_err());
    }

    #[test]
    fn audit_reads_instants_and_ages() {
        assert_eq!(
            parse_when("2026-12-01T00:00:00Z").as_deref(),
            Ok("2026-12-01T00:00:00Z")
        );
        let day_ago = parse_when("1d").unwrap();
        let hours_ago = parse_when("24h").unwrap();
        // The same instant, give or take the second that passed between the two.
        let a = edgeauth_core::time::parse_rfc3339(&day_ago).unwrap();
        let b = edgeauth_core::time::parse_rfc3339(&hours_ago).unwrap();
        assert!((a - b).abs() <= 1000, "{day_ago} {hours_ago}");
        for bad in ["yesterday", "5", "-1d", "d", "2026-12-01", "5y"] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from([
            "edgeauth",
            "audit",
            "--action",
            "user_token",
            "--since",
            "7d",
        ])
        .unwrap();
        let Command::Audit(args) = cli.command else {
            panic!("audit")
        };
        assert_eq!(args.action.as_deref(), Some("user_token"));
        assert!(args.since.is_some());
        assert!(Cli::try_parse_from(["edgeauth", "audit", "--limit", "201"]).is_err());
    }

    #[test]
    fn trust_create_reads_conditions() {
        let cli = parse(&[
            "trust",
            "create",
            "--name",
            "d",
            "--issuer",
            "https://i.example",
            "--condition",
            "repository=o/r",
            "--condition",
            "ref=refs/heads/*",
            "--workspaces",
            "production/*",
        ])
        .unwrap();
        let Command::Trust(TrustCommand::Create(args)) = cli.command else {
            panic!("trust create")
        };
        assert_eq!(
            args.conditions[1],
            ("ref".to_owned(), "refs/heads/*".to_owned())
        );
        assert!(parse(&[
            "trust",
            "create",
            "--name",
            "d",
            "--issuer",
            "x",
            "--condition",
            "nope",
            "--workspaces",
            "*"
        ])
        .is_err());
    }

    #[test]
    fn tokens_last_90_days_unless_asked_otherwise() {
        assert_eq!(
            edgeauth_core::token_request::DEFAULT_TOKEN_LIFETIME_DAYS,
            90
        );
        let unasked = || -> u32 { panic!("the default is asked for only when needed") };
        assert_eq!(asked_lifetime_days(None, false, || 30), Some(30));
        assert_eq!(asked_lifetime_days(Some(7), false, unasked), Some(7));
        assert_eq!(asked_lifetime_days(None, true, unasked), None);
        let cli = parse(&[
            "service-token",
            "create",
            "--name",
            "n",
            "--workspaces",
            "*",
            "--no-expiry",
        ])
        .unwrap();
        let Command::ServiceToken(ServiceTokenCommand::Create(create)) = cli.command else {
            panic!("not create");
        };
        assert!(create.no_expiry && create.expires_in_days.is_none());
    }

    #[test]
    fn auth_has_status_token_and_the_login_commands() {
        assert!(matches!(
            parse(&["auth", "status", "--json"]).unwrap().command,
            Command::Auth(AuthCommand::Status)
        ));
        assert!(matches!(
            parse(&["auth", "token"]).unwrap().command,
            Command::Auth(AuthCommand::Token)
        ));
        assert!(matches!(
            parse(&["auth", "login", "--device"]).unwrap().command,
            Command::Auth(AuthCommand::Login(LoginArgs { device: true, .. }))
        ));
        assert!(matches!(
            parse(&["auth", "logout", "--all"]).unwrap().command,
            Command::Auth(AuthCommand::Logout(LogoutArgs { all: true }))
        ));
        assert!(matches!(
            parse(&["auth", "whoami"]).unwrap().command,
            Command::Auth(AuthCommand::Whoami)
        ));
        assert!(matches!(
            parse(&["completion", "zsh"]).unwrap().command,
            Command::Completion {
                shell: clap_complete::Shell::Zsh
            }
        ));
    }

    #[test]
    fn login_and_logout() {
        let cli = parse(&["login"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Login(LoginArgs {
                no_browser: false,
                device: false,
                ..
            })
        ));
        let cli = parse(&["login", "--no-browser", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Login(LoginArgs {
                no_browser: true,
                ..
            })
        ));
        let cli = parse(&["login", "--device"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Login(LoginArgs { device: true, .. })
        ));
        assert!(matches!(
            parse(&["logout"]).unwrap().command,
            Command::Logout(LogoutArgs { all: false })
        ));
        assert!(matches!(
            parse(&["logout", "--all"]).unwrap().command,
            Command::Logout(LogoutArgs { all: true })
        ));
        assert_eq!(parse(&["logout", "x"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn a_bad_token_flag_is_not_echoed() {
        let err = parse(&["--token", "secret with spaces", "whoami"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(!err.to_string().contains("secret with spaces"), "{err}");
    }
}
