//! `edgeauth token create|list|revoke|roll` (/api/tokens, the caller's own user API tokens) and
//! `edgeauth service-token create|list|revoke|roll` (/api/service-tokens, a project's service
//! tokens).
//!
//! The server keeps both kinds as a collection of the same shape (create with the secret shown
//! once, list without secrets, revoke by id), so one create, one list and one revoke serve
//! both, told apart by a [`TokenCollection`]: [`USER_TOKENS`] or [`SERVICE_TOKENS`].

use super::{Context, Io};
use crate::error::{CliError, ExitStatus};
use crate::output::{self, sanitize, Table};
use edgeauth_core::api::{
    given, CreatedToken, NewTokenBody, ServiceTokenList, TokenView, UserTokenList,
};
use edgeauth_core::crypto::TokenHash;
use edgeauth_core::token::{check_format, TokenKind, DISPLAY_PREFIX_CHARS};
use edgeauth_core::TokenId;

/// What a `revoke` argument names.
enum Target {
    Id(String),
    /// A whole token, known here only by its hash and display prefix.
    Token {
        hash: TokenHash,
        prefix: String,
    },
}

/// How a token was matched to its id.
enum Match {
    /// An audit event about the token with its hash names the id.
    Hash,
    /// The only listed token with its display prefix.
    PrefixOnly,
}

/// How an argument is shown in messages: an id as it is, a token by its display prefix.
fn shown_argument(arg: &str) -> String {
    match TokenKind::of(arg) {
        Some(_) => format!(
            "{}…",
            sanitize(&arg.chars().take(DISPLAY_PREFIX_CHARS).collect::<String>())
        ),
        None => sanitize(arg),
    }
}

/// One server-side collection of tokens and how the CLI names it.
#[derive(Debug)]
pub struct TokenCollection {
    /// How one token is called in messages: `service token`, `user token`.
    pub noun: &'static str,
    /// The collection's API path; a token is at `{path}/{id}`.
    pub path: &'static str,
    /// The field of the `GET {path}` response that holds the list ([`ServiceTokenList::FIELD`],
    /// [`UserTokenList::FIELD`]).
    pub list_field: &'static str,
    /// The subcommand, for hints: `service-token`, `token`.
    pub command: &'static str,
    /// How ids start: `st_`, `ut_`.
    pub id_prefix: &'static str,
    /// Whether the list spans projects, and so shows a PROJECT column.
    pub spans_projects: bool,
    /// Why an id that looks right answers 404, after "unknown, ".
    pub not_found_because: &'static str,
    /// The collection needs a person's credential: a 403 then most likely means the super or a
    /// service token was used, and the hint says so instead of speaking of scope.
    pub person_only: bool,
}

/// `edgeauth token`: a person's own tokens, in every project.
pub const USER_TOKENS: TokenCollection = TokenCollection {
    noun: "user token",
    path: "/api/tokens",
    list_field: UserTokenList::FIELD,
    command: "token",
    id_prefix: TokenId::USER_PREFIX,
    spans_projects: true,
    not_found_because: "already revoked or not yours",
    person_only: true,
};

/// `edgeauth service-token`: the tokens of the request's project.
pub const SERVICE_TOKENS: TokenCollection = TokenCollection {
    noun: "service token",
    path: "/api/service-tokens",
    list_field: ServiceTokenList::FIELD,
    command: "service-token",
    id_prefix: TokenId::SERVICE_PREFIX,
    spans_projects: false,
    not_found_because: "already revoked or in another project (--project)",
    person_only: false,
};

/// What a table shows for a time that has not come: never used, never expires.
const NEVER: &str = "never";

const PERSON_ONLY_HINT: &str = "user tokens belong to a person: sign in with `edgeauth login`, or use one of your user tokens (eau_…), not the super token or a service token";

/// A note when the token made expires sooner than `body` asked (by more than a minute, or at
/// all when it asked for no expiry): the server caps a token at the end of the credential
/// that makes it (a login's token at the login's end) and at the project's lifetime policy,
/// and a person should not find out from a failing job.
fn sooner_than_asked(body: &serde_json::Value, made: &TokenView) -> Option<String> {
    let expires = made.expires_at.as_deref()?;
    let expires_ms = edgeauth_core::time::parse_rfc3339(expires)?;
    let asked = match body["expires_in_days"].as_u64() {
        Some(days) => {
            let created_ms = edgeauth_core::time::parse_rfc3339(&made.created_at)?;
            let asked_ms =
                created_ms.saturating_add(i64::try_from(days).ok()?.saturating_mul(86_400_000));
            if expires_ms >= asked_ms - 60_000 {
                return None;
            }
            // The days given, or the default ones: "asked" would not fit those.
            format!("before its {days} days are up")
        }
        None => "although no expiry was asked".to_owned(),
    };
    Some(format!(
        "note: it expires {} UTC, {asked}: a token never outlives the credential that makes it (a login's tokens end with the login), and the project's lifetime policy may cap it",
        output::time(Some(expires))
    ))
}

/// The body of a creation request ([`NewTokenBody`]); no workspaces leaves the server's
/// default.
pub fn creation_body(
    name: &str,
    workspaces: &[String],
    expires_in_days: Option<u32>,
) -> serde_json::Value {
    serde_json::to_value(NewTokenBody {
        name: name.to_owned(),
        workspaces: (!workspaces.is_empty()).then(|| workspaces.to_vec()),
        expires_in_days,
    })
    .expect("a token request serialises")
}

impl TokenCollection {
    /// POSTs `body`; prints the secret alone on stdout and a summary on stderr, or with
    /// `--json` the whole response on stdout.
    pub fn create(
        &self,
        ctx: &Context,
        io: &mut Io<'_>,
        body: &serde_json::Value,
    ) -> Result<(), CliError> {
        let response = ctx
            .client
            .post_json(self.path, body)
            .map_err(|e| match e.status {
                // A person's own credential is refused only for asking beyond its scope.
                ExitStatus::Forbidden if self.person_only => e.with_hint(format!(
                    "{PERSON_ONLY_HINT}; with your own credential, ask for workspaces within its scope (see `edgeauth whoami`)"
                )),
                _ => self.explain(e),
            })?;
        if ctx.json {
            write!(io.out, "{}", output::json(&response.json()?))?;
            return Ok(());
        }
        let created: CreatedToken<TokenView> = response.parse()?;
        let t = &created.view;
        let project = given(&t.project).map(sanitize);
        writeln!(
            io.err,
            "created {} \"{}\" ({}){}",
            self.noun,
            sanitize(&t.name),
            sanitize(t.id.as_str()),
            project
                .map(|p| format!(" in project {p}"))
                .unwrap_or_default()
        )?;
        let mut table = Table::new(&["ID", "NAME", "PREFIX", "WORKSPACES", "EXPIRES"]);
        table.push(vec![
            sanitize(t.id.as_str()),
            sanitize(&t.name),
            prefix_cell(t),
            sanitize(&t.workspaces.join(",")),
            expires_cell(t),
        ]);
        write!(io.err, "{}", table.render())?;
        if let Some(note) = sooner_than_asked(body, t) {
            writeln!(io.err, "{note}")?;
        }
        writeln!(
            io.err,
            "The token is printed below (stdout) and will not be shown again: store it now."
        )?;
        io.err.flush()?;
        writeln!(io.out, "{}", created.token.expose())?;
        Ok(())
    }

    /// GETs the list; prints [`TokenCollection::table`], or `no …s` on stderr when it is empty.
    pub fn list(&self, ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
        let response = ctx.client.get(self.path).map_err(|e| self.explain(e))?;
        if ctx.json {
            write!(io.out, "{}", output::json(&response.json()?))?;
            return Ok(());
        }
        let tokens: Vec<TokenView> = response.parse_field(self.list_field)?;
        if tokens.is_empty() {
            writeln!(io.err, "no {}s", self.noun)?;
        } else {
            write!(io.out, "{}", self.table(&tokens).render())?;
        }
        Ok(())
    }

    /// The list table; the `list --help` of each command names its columns.
    pub fn table(&self, tokens: &[TokenView]) -> Table {
        let mut headers = vec!["ID", "NAME", "PREFIX"];
        if self.spans_projects {
            headers.push("PROJECT");
        }
        headers.extend(["WORKSPACES", "CREATED", "LAST USED", "EXPIRES"]);
        let mut table = Table::new(&headers);
        for t in tokens {
            let mut row = vec![sanitize(t.id.as_str()), sanitize(&t.name), prefix_cell(t)];
            if self.spans_projects {
                row.push(given(&t.project).map_or(output::NONE.to_owned(), sanitize));
            }
            row.extend([
                sanitize(&t.workspaces.join(",")),
                output::time(given(&t.created_at)),
                t.last_used_at
                    .as_deref()
                    .map_or(NEVER.to_owned(), |at| output::time(Some(at))),
                expires_cell(t),
            ]);
            table.push(row);
        }
        table
    }

    /// Revokes each argument, an id or a token ([`TokenCollection::revoke_one`]). One argument
    /// prints `revoked ID` (`{"revoked": "ID"}`) or fails as any command does. Several are
    /// revoked one by one: each success on stdout, each failure on stderr, and an error at the
    /// end, with the first failure's exit status, if any failed; `--json` prints
    /// `{"revoked": [ids], "failed": [{"argument", "error"}]}`.
    pub fn revoke_each(
        &self,
        ctx: &Context,
        io: &mut Io<'_>,
        args: &[String],
    ) -> Result<(), CliError> {
        if let [one] = args {
            let id = self.revoke_one(ctx, io, one)?;
            if ctx.json {
                let value = serde_json::json!({"revoked": id});
                write!(io.out, "{}", output::json(&value))?;
            } else {
                writeln!(io.out, "revoked {id}")?;
            }
            return Ok(());
        }
        let (mut revoked, mut failed) = (Vec::new(), Vec::new());
        let mut first_failure = None;
        for arg in args {
            match self.revoke_one(ctx, io, arg) {
                Ok(id) => {
                    if !ctx.json {
                        writeln!(io.out, "revoked {id}")?;
                    }
                    revoked.push(id);
                }
                Err(e) => {
                    let shown = shown_argument(arg);
                    if !ctx.json {
                        writeln!(io.err, "error: {shown}: {}", e.message)?;
                        if let Some(hint) = &e.hint {
                            writeln!(io.err, "hint: {hint}")?;
                        }
                    }
                    failed.push(serde_json::json!({"argument": shown, "error": e.json()}));
                    first_failure.get_or_insert(e.status);
                }
            }
        }
        if ctx.json {
            let value = serde_json::json!({"revoked": revoked, "failed": failed});
            write!(io.out, "{}", output::json(&value))?;
        }
        match first_failure {
            None => Ok(()),
            Some(status) => Err(CliError::new(
                status,
                format!(
                    "{} of {} {}s could not be revoked",
                    failed.len(),
                    args.len(),
                    self.noun
                ),
            )),
        }
    }

    /// Revokes what `arg` names: `DELETE {path}/{id}` for an id; for a token, the id found by
    /// [`TokenCollection::find_token`] (the token itself is never sent). Returns the id.
    pub fn revoke_one(
        &self,
        ctx: &Context,
        io: &mut Io<'_>,
        arg: &str,
    ) -> Result<String, CliError> {
        let id = match self.target(arg)? {
            Target::Id(id) => id,
            Target::Token { hash, prefix } => {
                let (id, how) = self.find_token(ctx, &hash, &prefix)?;
                if let Match::PrefixOnly = how {
                    writeln!(
                        io.err,
                        "note: {prefix}… is {id} by its display prefix; the audit trail could not confirm it by its hash"
                    )?;
                }
                id
            }
        };
        ctx.client
            .delete(&format!("{}/{id}", self.path))
            .map_err(|e| match e.status {
                ExitStatus::NotFound => e.with_hint(format!(
                    "{id} is unknown, {}; see the ids with `edgeauth {} list`",
                    self.not_found_because, self.command
                )),
                _ => self.explain(e),
            })?;
        Ok(id)
    }

    /// An id, or a whole token of this collection's kind. A token is checked offline (prefix,
    /// length, checksum) and never repeated in an error.
    fn target(&self, arg: &str) -> Result<Target, CliError> {
        let Some(kind) = TokenKind::of(arg) else {
            self.check_id(arg)?;
            return Ok(Target::Id(arg.to_owned()));
        };
        let mine = if self.person_only {
            TokenKind::User
        } else {
            TokenKind::Service
        };
        let see_ids = format!("see the ids with `edgeauth {} list`", self.command);
        if let Err(e) = check_format(arg) {
            return Err(CliError::usage(format!(
                "that looks like a token but is not a whole one: {e}"
            ))
            .with_hint(format!(
                "paste the whole token, or revoke by id ({}…): {see_ids}",
                self.id_prefix
            )));
        }
        match kind {
            k if k == mine => Ok(Target::Token {
                hash: TokenHash::of(arg),
                prefix: arg[..DISPLAY_PREFIX_CHARS].to_owned(),
            }),
            TokenKind::Service => Err(CliError::usage("that is a service token").with_hint(
                "revoke it with `edgeauth service-token revoke` (with --project set to its project)",
            )),
            TokenKind::User => Err(CliError::usage("that is a user token")
                .with_hint("revoke it with `edgeauth token revoke`")),
            TokenKind::Refresh | TokenKind::Access => Err(CliError::usage(
                "that is a device login's token, not an API token",
            )
            .with_hint("end the device login with `edgeauth logout` (on the machine that holds it)")),
        }
    }

    /// The id of the live token whose SHA-256 is `hash`, without sending the token: the list's
    /// tokens with its display prefix, confirmed by the audit trail's events about the token
    /// with that hash (`GET /api/audit?token_hash=`, an event whose subject is the id and whose
    /// actor's credential is another). Where the audit trail cannot tell (a credential that may
    /// not read it, events past retention, a token made by a roll), a single prefix match
    /// decides: the prefix carries 47 bits of the token's randomness.
    fn find_token(
        &self,
        ctx: &Context,
        hash: &TokenHash,
        prefix: &str,
    ) -> Result<(String, Match), CliError> {
        let listed: Vec<TokenView> = ctx
            .client
            .get(self.path)
            .map_err(|e| self.explain(e))?
            .parse_field(self.list_field)?;
        let candidates: Vec<String> = listed
            .iter()
            .filter(|t| t.prefix == prefix)
            .map(|t| t.id.to_string())
            .collect();
        if candidates.is_empty() {
            return Err(CliError::new(
                ExitStatus::NotFound,
                format!("no live {} starts with {prefix}…", self.noun),
            )
            .with_hint(format!(
                "it is revoked, expired, or {}; see `edgeauth {} list`",
                self.not_found_because
                    .trim_start_matches("already revoked or "),
                self.command
            )));
        }
        let query = format!("/api/audit?token_hash={}&limit=200", hash.as_hex());
        let confirmed = ctx.client.get(&query).ok().and_then(|response| {
            let events: Vec<serde_json::Value> = response.parse_field("events").ok()?;
            events.iter().find_map(|event| {
                let subject = event["subject"].as_str()?;
                let by_another = event["credential_hash"].as_str() != Some(hash.as_hex());
                (by_another && candidates.iter().any(|c| c == subject)).then(|| subject.to_owned())
            })
        });
        match (confirmed, candidates.as_slice()) {
            (Some(id), _) => Ok((id, Match::Hash)),
            (None, [only]) => Ok((only.clone(), Match::PrefixOnly)),
            (None, several) => Err(CliError::new(
                ExitStatus::Failure,
                format!(
                    "{} {}s start with {prefix}… ({}) and the audit trail could not tell which one it is",
                    several.len(),
                    self.noun,
                    several.join(", ")
                ),
            )
            .with_hint("revoke by id")),
        }
    }

    /// POSTs `{path}/{id}/roll`; prints the new secret alone on stdout and what became of the
    /// old one on stderr, or with `--json` the whole response on stdout.
    pub fn roll(
        &self,
        ctx: &Context,
        io: &mut Io<'_>,
        id: &str,
        grace_seconds: u32,
    ) -> Result<(), CliError> {
        self.check_id(id)?;
        let response = ctx
            .client
            .post_json(
                &format!("{}/{id}/roll", self.path),
                &serde_json::json!({"grace_seconds": grace_seconds}),
            )
            .map_err(|e| match e.status {
                ExitStatus::NotFound => e.with_hint(format!(
                    "{id} is unknown, {}; see the ids with `edgeauth {} list`",
                    self.not_found_because, self.command
                )),
                _ => self.explain(e),
            })?;
        if ctx.json {
            write!(io.out, "{}", output::json(&response.json()?))?;
            return Ok(());
        }
        let body = response.json()?;
        let created: CreatedToken<TokenView> = response.parse()?;
        let t = &created.view;
        let old = match body["rolled"]["expires_at"].as_str() {
            Some(until) => format!("its old secret works until {}", sanitize(until)),
            None => "its old secret is revoked".to_owned(),
        };
        writeln!(
            io.err,
            "rolled {} \"{}\" ({id}) into {}; {old}",
            self.noun,
            sanitize(&t.name),
            sanitize(t.id.as_str()),
        )?;
        writeln!(
            io.err,
            "The new token is printed below (stdout) and will not be shown again: store it now."
        )?;
        io.err.flush()?;
        writeln!(io.out, "{}", created.token.expose())?;
        Ok(())
    }

    /// Hints for failures whose cause the collection knows better than the client.
    fn explain(&self, e: CliError) -> CliError {
        match e.status {
            ExitStatus::Forbidden if self.person_only => e.with_hint(PERSON_ONLY_HINT),
            ExitStatus::NotFound => e.with_hint(format!(
                "the server has no {}: check that the server URL points at an edgeauth server with {}s",
                self.path, self.noun
            )),
            _ => e,
        }
    }

    /// Ids are path segments; a pasted secret is refused without being repeated or sent.
    pub(super) fn check_id(&self, id: &str) -> Result<(), CliError> {
        let see_ids = format!("see the ids with `edgeauth {} list`", self.command);
        let minted = [TokenKind::Service, TokenKind::User, TokenKind::Refresh];
        if minted.iter().any(|kind| id.starts_with(kind.prefix())) {
            return Err(
                CliError::usage("that is a token, not a token id").with_hint(format!(
                    "revoke by id ({}…): {see_ids}; if the token leaked, revoke it now",
                    self.id_prefix
                )),
            );
        }
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(CliError::usage(format!(
                "`{}` is not a token id; ids look like {}…",
                sanitize(id),
                self.id_prefix
            ))
            .with_hint(see_ids))
        }
    }
}

fn prefix_cell(t: &TokenView) -> String {
    given(&t.prefix).map_or(output::NONE.to_owned(), sanitize)
}

fn expires_cell(t: &TokenView) -> String {
    match (&t.expires_at, t.expired) {
        (None, false) => NEVER.to_owned(),
        (None, true) => "expired".to_owned(),
        (Some(at), false) => output::time(Some(at)),
        (Some(at), true) => format!("{} (expired)", output::time(Some(at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{client, serve_once};
    use crate::config::Source;

    fn tokens(collection: &TokenCollection, json: &str) -> Vec<TokenView> {
        let response = crate::client::ApiResponse {
            status: 200,
            body: json.to_owned(),
        };
        response.parse_field(collection.list_field).unwrap()
    }

    #[test]
    fn a_token_that_expires_sooner_than_asked_is_noted() {
        let made = |expires: &str| {
            let json = format!(
                r#"{{"service_tokens":[{{"id":"st_1","name":"CI","project":"default","workspaces":["*"],
                   "prefix":"eas_AbCdEfGh","created_at":"2026-12-01T10:00:00Z","expires_at":{expires},
                   "last_used_at":null,"expired":false}}]}}"#
            );
            tokens(&SERVICE_TOKENS, &json).remove(0)
        };
        let asked = |days: Option<u32>| creation_body("CI", &[], days);
        // As asked: nothing to say.
        assert_eq!(
            sooner_than_asked(&asked(Some(30)), &made(r#""2026-12-31T10:00:00Z""#)),
            None
        );
        assert_eq!(sooner_than_asked(&asked(None), &made("null")), None);
        // Cut short by the login that made it, or given an expiry when none was asked.
        let note = sooner_than_asked(&asked(Some(90)), &made(r#""2026-12-08T10:00:00Z""#))
            .expect("a note");
        assert!(
            note.starts_with("note: it expires 2026-12-08 10:00 UTC, before its 90 days are up: a token never outlives"),
            "{note}"
        );
        let note =
            sooner_than_asked(&asked(None), &made(r#""2027-03-01T10:00:00Z""#)).expect("a note");
        assert!(
            note.contains("2027-03-01 10:00 UTC, although no expiry was asked: "),
            "{note}"
        );
    }

    #[test]
    fn service_token_table_matches_the_documented_layout() {
        let list = tokens(
            &SERVICE_TOKENS,
            r#"{"service_tokens":[
              {"id":"st_2","name":"deploy","project":"default","workspaces":["production/*","staging"],
               "prefix":"eas_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
               "last_used_at":"2026-11-24T11:05:09Z","expired":false},
              {"id":"st_1","name":"CI","project":"default","workspaces":["*"],
               "prefix":"eas_ZyXwVuTs","created_at":"2026-01-01T00:00:00Z",
               "expires_at":"2026-02-01T00:00:00Z","last_used_at":null,"expired":true}
            ]}"#,
        );
        assert_eq!(
            SERVICE_TOKENS.table(&list).render(),
            "\
ID    NAME    PREFIX        WORKSPACES            CREATED           LAST USED         EXPIRES
st_2  deploy  eas_AbCdEfGh  production/*,staging  2026-11-24 10:00  2026-11-24 11:05  never
st_1  CI      eas_ZyXwVuTs  *                     2026-01-01 00:00  never             2026-02-01 00:00 (expired)
"
        );
    }

    #[test]
    fn user_token_table_shows_the_project_of_each_token() {
        let list = tokens(
            &USER_TOKENS,
            r#"{"tokens":[
              {"id":"ut_3","name":"laptop","project":"default","workspaces":["*"],
               "prefix":"eau_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
               "last_used_at":null,"expired":false},
              {"id":"ut_2","name":"ci","project":"demo","workspaces":["staging","production/*"],
               "prefix":"eau_ZyXwVuTs","created_at":"2026-01-01T00:00:00Z",
               "expires_at":"2026-12-31T23:59:59Z","last_used_at":"2026-03-04T05:06:07Z","expired":false},
              {"id":"ut_1","name":"old","project":"default","workspaces":["*"],
               "prefix":"eau_QwErTyUi","created_at":"2025-01-01T00:00:00Z",
               "expires_at":"2025-02-01T00:00:00Z","last_used_at":null,"expired":true}
            ]}"#,
        );
        assert_eq!(
            USER_TOKENS.table(&list).render(),
            "\
ID    NAME    PREFIX        PROJECT  WORKSPACES            CREATED           LAST USED         EXPIRES
ut_3  laptop  eau_AbCdEfGh  default  *                     2026-11-24 10:00  never             never
ut_2  ci      eau_ZyXwVuTs  demo     staging,production/*  2026-01-01 00:00  2026-03-04 05:06  2026-12-31 23:59
ut_1  old     eau_QwErTyUi  default  *                     2025-01-01 00:00  never             2025-02-01 00:00 (expired)
"
        );
    }

    #[test]
    fn server_text_in_the_table_cannot_drive_the_terminal() {
        let list = tokens(
            &USER_TOKENS,
            r#"{"tokens":[{"id":"ut_1","name":"x\u001b[2J","project":"p\n","workspaces":["*"]}]}"#,
        );
        let rendered = USER_TOKENS.table(&list).render();
        assert!(!rendered.contains('\x1b'), "{rendered}");
        assert_eq!(rendered.lines().count(), 2, "{rendered}");
    }

    #[test]
    fn a_list_without_its_field_is_an_unexpected_response() {
        let response = crate::client::ApiResponse {
            status: 200,
            body: r#"{"service_tokens":[]}"#.into(),
        };
        let e = response
            .parse_field::<Vec<TokenView>>(USER_TOKENS.list_field)
            .unwrap_err();
        assert_eq!(e.status, ExitStatus::ServerError);
    }

    #[test]
    fn created_token_parses_with_its_secret() {
        let created: CreatedToken<TokenView> = serde_json::from_str(
            r#"{"id":"ut_1","name":"laptop","project":"default","workspaces":["*"],
                "prefix":"eau_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
                "last_used_at":null,"token":"eau_plaintext"}"#,
        )
        .unwrap();
        assert_eq!(created.token.expose(), "eau_plaintext");
        assert_eq!(created.view.id.as_str(), "ut_1");
        assert!(!format!("{created:?}").contains("eau_plaintext"));
    }

    #[test]
    fn creation_bodies_leave_out_what_was_not_given() {
        assert_eq!(
            creation_body("laptop", &[], None),
            serde_json::json!({"name": "laptop"})
        );
        assert_eq!(
            creation_body("CI", &["production/*".into(), "staging".into()], Some(90)),
            serde_json::json!({"name": "CI", "workspaces": ["production/*", "staging"], "expires_in_days": 90})
        );
    }

    #[test]
    fn ids_are_checked_before_any_request() {
        for collection in [&USER_TOKENS, &SERVICE_TOKENS] {
            assert!(collection.check_id("ut_abc-DEF_123").is_ok());
            for secret in ["eas_AbCdEfGhsecret", "eau_AbCdEfGhsecret", "ear_secret"] {
                let e = collection.check_id(secret).unwrap_err();
                assert_eq!(e.status, ExitStatus::Usage);
                assert!(!e.to_string().contains("secret"), "{e}");
                assert!(e.to_string().contains(collection.id_prefix), "{e}");
            }
            for bad in ["", "ut/../x", "ut 1", "ut?x"] {
                let e = collection.check_id(bad).unwrap_err();
                assert_eq!(e.status, ExitStatus::Usage, "{bad}");
                let hint = e.hint.unwrap();
                assert!(
                    hint.contains(&format!("edgeauth {} list", collection.command)),
                    "{hint}"
                );
            }
        }
    }

    /// Runs `f` against a server that answers once with `status` and `body`; returns the
    /// result, stdout, stderr and the raw request.
    fn against(
        status: u16,
        body: &str,
        f: impl FnOnce(&Context, &mut Io<'_>) -> Result<(), CliError>,
    ) -> (Result<(), CliError>, String, String, String) {
        let (url, server) = serve_once(status, "", body);
        let ctx = Context {
            client: client(&url, None, Some(("eas_tok", Source::Env))),
            json: false,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = f(
            &ctx,
            &mut Io {
                out: &mut out,
                err: &mut err,
                err_is_terminal: false,
            },
        );
        let request = server.join().unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (result, text(out), text(err), request)
    }

    const NOT_A_PERSON: &str = r#"{"error":"forbidden","message":"user tokens belong to a person; this is a service token"}"#;

    #[test]
    fn a_service_or_super_token_is_told_to_sign_in_as_a_person() {
        let (result, out, _, _) = against(403, NOT_A_PERSON, |ctx, io| USER_TOKENS.list(ctx, io));
        let e = result.unwrap_err();
        assert_eq!(e.status, ExitStatus::Forbidden);
        assert_eq!(
            e.message,
            "user tokens belong to a person; this is a service token"
        );
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("edgeauth login") && hint.contains("eau_"),
            "{hint}"
        );
        assert!(out.is_empty());

        let (result, _, _, _) = against(403, NOT_A_PERSON, |ctx, io| {
            USER_TOKENS.create(ctx, io, &creation_body("x", &["a".into()], None))
        });
        let hint = result.unwrap_err().hint.unwrap();
        assert!(
            hint.contains("edgeauth login") && hint.contains("within its scope"),
            "{hint}"
        );

        let (result, _, _, _) = against(403, NOT_A_PERSON, |ctx, io| {
            USER_TOKENS.revoke_each(ctx, io, &["ut_1".to_owned()])
        });
        assert_eq!(result.unwrap_err().status, ExitStatus::Forbidden);
    }

    #[test]
    fn a_service_token_403_keeps_the_scope_hint() {
        let (result, _, _, _) = against(
            403,
            r#"{"error":"forbidden","message":"your credential does not cover the workspaces of `st_1` (production/*)"}"#,
            |ctx, io| SERVICE_TOKENS.list(ctx, io),
        );
        let hint = result.unwrap_err().hint.unwrap();
        assert!(hint.contains("workspaces do not cover"), "{hint}");
        assert!(!hint.contains("person"), "{hint}");
    }

    #[test]
    fn revoking_an_unknown_id_exits_5_and_says_why() {
        let (result, out, _, request) = against(
            404,
            r#"{"error":"not_found","message":"no such token"}"#,
            |ctx, io| USER_TOKENS.revoke_each(ctx, io, &["ut_gone".to_owned()]),
        );
        assert!(
            request.starts_with("DELETE /api/tokens/ut_gone "),
            "{request}"
        );
        let e = result.unwrap_err();
        assert_eq!(e.status, ExitStatus::NotFound);
        assert_eq!(
            e.to_string(),
            "error: no such token\n\
             hint: ut_gone is unknown, already revoked or not yours; see the ids with `edgeauth token list`"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn create_puts_the_secret_alone_on_stdout() {
        let (result, out, err, request) = against(
            201,
            r#"{"id":"ut_1","name":"laptop","project":"default","workspaces":["*"],
                "prefix":"eau_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
                "last_used_at":null,"token":"eau_plaintext"}"#,
            |ctx, io| USER_TOKENS.create(ctx, io, &creation_body("laptop", &[], None)),
        );
        result.unwrap();
        assert!(request.starts_with("POST /api/tokens "), "{request}");
        assert!(request.ends_with(r#"{"name":"laptop"}"#), "{request}");
        assert_eq!(out, "eau_plaintext\n");
        assert_eq!(
            err,
            "created user token \"laptop\" (ut_1) in project default\n\
             ID    NAME    PREFIX        WORKSPACES  EXPIRES\n\
             ut_1  laptop  eau_AbCdEfGh  *           never\n\
             The token is printed below (stdout) and will not be shown again: store it now.\n"
        );
    }
}
