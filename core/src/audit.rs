//! The audit trail's rules: who reads which events (`GET /api/audit`), the filters a reader
//! may give, and how refusals are counted rather than stored one by one.
//!
//! Every security event is one row (see the Worker's `store::audit`), except refusals: a
//! flood of bad sign-ins or exchanges must flood neither the table nor D1's writes. Each kind
//! of refusal (its action and reason code) is one row per minute ([`refusal_bucket`]) whose
//! `count` grows, with the client of the first one; and each isolate writes a kind at most
//! every [`REFUSAL_WRITE_EVERY_MS`], adding what it counted since ([`RefusalTally`]). The rows a
//! flood adds are bounded by the kinds of refusal, its writes by the isolates, never by the
//! requests.

use crate::policy::{Credential, Principal};
use crate::time::parse_rfc3339;
use crate::{Scope, UserId};

/// Events in one page when the reader does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most events in one page.
pub const MAX_LIMIT: u32 = 200;
/// The part of a User-Agent kept with an event.
pub const USER_AGENT_CHARS: usize = 200;
/// The refusals the audit trail counts (always the deployment's events: a request may name
/// any project, and must not choose whose trail it lands in).
pub const SIGN_IN_REFUSE: &str = "sign_in.refuse";
pub const CLI_EXCHANGE_REFUSE: &str = "cli_login.exchange_refuse";
pub const REFRESH_REFUSE: &str = "refresh_token.refuse";
pub const CI_EXCHANGE_REFUSE: &str = "ci.exchange_refuse";
pub const SECRET_SCANNING_REFUSE: &str = "secret_scanning.refuse";
/// The settings are unusable.
pub const CONFIG_PROBLEM: &str = "config.problem";

/// One row per kind of refusal per this many milliseconds.
pub const REFUSAL_WINDOW_MS: i64 = 60_000;
/// An isolate writes each kind of refusal at most this often.
pub const REFUSAL_WRITE_EVERY_MS: i64 = 10_000;

/// What one isolate counted of each kind of refusal since it last wrote that kind, with the
/// first of those (`T`: its client). The first refusal of a kind is written at once; later
/// ones are counted, and written (all that were counted, as of the first of them: its time,
/// its client) with the first refusal of that kind after [`REFUSAL_WRITE_EVERY_MS`]. What an
/// isolate counted but had not written when it ends is lost: counts are a lower bound.
#[derive(Debug)]
pub struct RefusalTally<T> {
    kinds: std::collections::HashMap<String, Tally<T>>,
}

impl<T> Default for RefusalTally<T> {
    fn default() -> Self {
        Self {
            kinds: std::collections::HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct Tally<T> {
    written_at_ms: i64,
    /// The refusals held since the last write, and the first of them.
    held: i64,
    first: Option<(i64, T)>,
}

/// Refusals to write now: how many, and the time and client of the first of them.
#[derive(Debug, PartialEq, Eq)]
pub struct Held<T> {
    pub count: i64,
    pub first_at_ms: i64,
    pub first: T,
}

impl<T> RefusalTally<T> {
    /// Counts one refusal of `kind` at `now_ms` from `client`: what to write now, if it is
    /// time.
    pub fn count(&mut self, kind: &str, now_ms: i64, client: T) -> Option<Held<T>> {
        let tally = self.kinds.entry(kind.to_owned()).or_insert(Tally {
            written_at_ms: i64::MIN,
            held: 0,
            first: None,
        });
        tally.held += 1;
        tally.first.get_or_insert((now_ms, client));
        if now_ms.saturating_sub(tally.written_at_ms) < REFUSAL_WRITE_EVERY_MS {
            return None;
        }
        tally.written_at_ms = now_ms;
        let (first_at_ms, first) = tally.first.take()?;
        Some(Held {
            count: std::mem::take(&mut tally.held),
            first_at_ms,
            first,
        })
    }
}

/// Whose events a reader sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditReach {
    /// The project's events: the super token (and nobody, with authentication disabled), who
    /// also sees the deployment's own (sign-ins, sessions, configuration problems: events of
    /// no project) when `deployment`; an admin's credential or a service token that covers
    /// every workspace, who sees the project's.
    Project { deployment: bool },
    /// A person's own: those they did, and those done to what is theirs.
    Person(UserId),
}

/// What `principal` may read of the audit trail, or why nothing.
pub fn reach(principal: &Principal) -> Result<AuditReach, String> {
    let covers_all = principal.scope.covers(&Scope::all());
    match (&principal.credential, principal.person()) {
        (Credential::Super | Credential::Anonymous, _) => {
            Ok(AuditReach::Project { deployment: true })
        }
        (_, Some(_)) if principal.administers() && covers_all => {
            Ok(AuditReach::Project { deployment: false })
        }
        (_, Some(person)) => match principal.whole_person_problem("reading your audit trail") {
            None => Ok(AuditReach::Person(person.clone())),
            Some(problem) => Err(problem),
        },
        (Credential::Service { .. }, None) if covers_all => {
            Ok(AuditReach::Project { deployment: false })
        }
        (Credential::Service { .. }, None) => Err(
            "reading a project's audit trail needs a credential that covers every workspace (`*`): this service token's scope is narrower; use one with `*`, an admin's credential, or the super token".into(),
        ),
        _ => Err(format!(
            "a {} credential does not read the audit trail; use a person's credential (their own events), an admin's, a service token covering every workspace, or the super token",
            principal.kind().as_str()
        )),
    }
}

/// A reader's filters and page (`GET /api/audit`'s query parameters, each optional):
/// `action` (`user_token.revoke`, or a family: `user_token`), `actor` (as events name it:
/// `user:usr_…`, `service:st_…`, `super`, `leak_report`, …), `subject` (an id), `person`
/// (`usr_…`, or `me`), `token_hash` (the SHA-256, in hex, of a token: what it did and what
/// was done to it), `since` and `until` (RFC 3339 UTC, as events show `at`), `limit` (1 to
/// [`MAX_LIMIT`]) and `cursor` (a page's `next_cursor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub action: Option<ActionFilter>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub person: Option<PersonFilter>,
    pub token_hash: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: u32,
    /// Events older than this id (the cursor).
    pub before_id: Option<i64>,
}

/// `action=`: one action, or every action of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    Exact(String),
    /// `user_token` stands for `user_token.*`: the prefix with its dot.
    Family(String),
}

/// `person=`: someone, or the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonFilter {
    Me,
    Id(UserId),
}

/// The query parameters `GET /api/audit` reads (and `project`, which picks the project).
pub const PARAMETERS: [&str; 10] = [
    "action",
    "actor",
    "subject",
    "person",
    "token_hash",
    "since",
    "until",
    "limit",
    "cursor",
    "project",
];

impl AuditQuery {
    /// Reads the query string's pairs; any unknown, repeated or malformed parameter is an
    /// error saying what to send.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut query = AuditQuery {
            limit: DEFAULT_LIMIT,
            ..AuditQuery::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let Some(known) = PARAMETERS.iter().find(|p| **p == name) else {
                return Err(format!(
                    "unknown query parameter `{}`; the audit trail reads {}",
                    name.escape_default(),
                    PARAMETERS.join(", ")
                ));
            };
            if seen.contains(known) {
                return Err(format!("`{known}` is given twice; give it once"));
            }
            seen.push(known);
            match *known {
                "action" => query.action = Some(action_filter(value)?),
                "actor" => query.actor = Some(name_like("actor", value, "user:usr_…")?),
                "subject" => query.subject = Some(name_like("subject", value, "ut_…")?),
                "person" => {
                    query.person = Some(match value {
                        "me" => PersonFilter::Me,
                        _ => PersonFilter::Id(UserId::new(name_like("person", value, "usr_…")?)),
                    })
                }
                "token_hash" => query.token_hash = Some(token_hash(value)?),
                "since" => query.since_ms = Some(instant("since", value)?),
                "until" => query.until_ms = Some(instant("until", value)?),
                "limit" => {
                    query.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or(format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}"
                        ))?
                }
                "cursor" => {
                    query.before_id = Some(
                        value
                            .parse::<i64>()
                            .ok()
                            .filter(|n| *n > 0 && value.bytes().all(|b| b.is_ascii_digit()))
                            .ok_or("`cursor` must be a page's `next_cursor`, as it was given")?,
                    )
                }
                _ => {} // `project`: read by the request's project selection.
            }
        }
        Ok(query)
    }
}

fn action_filter(value: &str) -> Result<ActionFilter, String> {
    let well_formed = (1..=64).contains(&value.len())
        && value.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
    if !well_formed {
        return Err(
            "`action` must be an action like `user_token.revoke`, or a family like `user_token` (lower-case letters, `_` and `.`)".into(),
        );
    }
    Ok(match value.contains('.') {
        true => ActionFilter::Exact(value.to_owned()),
        false => ActionFilter::Family(format!("{value}.")),
    })
}

fn name_like(what: &str, value: &str, example: &str) -> Result<String, String> {
    let well_formed = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    match well_formed {
        true => Ok(value.to_owned()),
        false => Err(format!(
            "`{what}` must be an id as events show it, like `{example}` (1 to 128 letters, digits, `_`, `-`, `.`, `:`)"
        )),
    }
}

fn token_hash(value: &str) -> Result<String, String> {
    match value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(value.to_ascii_lowercase()),
        false => Err(
            "`token_hash` must be a token's SHA-256 in hex (64 characters), e.g. from `printf %s \"$TOKEN\" | sha256sum`; never send the token itself".into(),
        ),
    }
}

fn instant(what: &str, value: &str) -> Result<i64, String> {
    parse_rfc3339(value).ok_or(format!(
        "`{what}` must be an instant in UTC as events show them, like `2026-12-01T00:00:00Z`"
    ))
}

/// The bucket of a refusal: one row per action, reason code and [`REFUSAL_WINDOW_MS`].
pub fn refusal_bucket(action: &str, reason: &str, at_ms: i64) -> String {
    format!("{action}|{reason}|{}", at_ms.div_euclid(REFUSAL_WINDOW_MS))
}

/// At most [`USER_AGENT_CHARS`] characters of a User-Agent, printable ASCII only.
pub fn user_agent(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(USER_AGENT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::BrowserSession;
    use crate::{ProjectName, Role, SessionId, TokenHash, TokenId};

    fn principal(credential: Credential, scope: &[&str], role: Option<Role>) -> Principal {
        Principal {
            credential,
            project: ProjectName::parse("p").unwrap(),
            scope: Scope::parse(scope).unwrap(),
            expires_at_ms: None,
            login: None,
            role,
        }
    }

    fn session(user: &str) -> Credential {
        Credential::Session(BrowserSession {
            session_id: SessionId::new("ses_1"),
            user_id: UserId::new(user),
            name: "Ada".into(),
            cookie_hash: TokenHash::of("c"),
        })
    }

    fn service() -> Credential {
        Credential::Service {
            token_id: TokenId::new("st_1"),
            name: "ci".into(),
        }
    }

    #[test]
    fn who_reads_what() {
        let everything = AuditReach::Project { deployment: true };
        let project = AuditReach::Project { deployment: false };
        let own = AuditReach::Person(UserId::new("usr_a"));
        assert_eq!(
            reach(&Principal::super_token(ProjectName::parse("p").unwrap())),
            Ok(everything)
        );
        assert_eq!(
            reach(&principal(session("usr_a"), &["*"], Some(Role::Admin))),
            Ok(project.clone())
        );
        // A member, a person with no role: their own. A narrowed token, an admin's too,
        // nothing: it stands for part of what its person may do, not for the person.
        let narrowed = reach(&principal(session("usr_a"), &["a/*"], Some(Role::Admin)));
        assert!(narrowed.unwrap_err().contains("covers every workspace"));
        assert_eq!(
            reach(&principal(session("usr_a"), &["*"], Some(Role::Member))),
            Ok(own.clone())
        );
        assert_eq!(reach(&principal(session("usr_a"), &["*"], None)), Ok(own));
        assert_eq!(reach(&principal(service(), &["*"], None)), Ok(project));
        let narrow = reach(&principal(service(), &["a/*"], None)).unwrap_err();
        assert!(narrow.contains("covers every workspace"), "{narrow}");
        let ci = Credential::Ci {
            token_id: "j".into(),
            policy_id: "tp_1".into(),
            identity: Default::default(),
        };
        let refused = reach(&principal(ci, &["*"], None)).unwrap_err();
        assert!(
            refused.contains("a ci credential does not read"),
            "{refused}"
        );
    }

    fn parse(query: &str) -> Result<AuditQuery, String> {
        AuditQuery::parse(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, ""))),
        )
    }

    #[test]
    fn reads_every_filter() {
        let hash = "AB".repeat(32);
        let q = parse(&format!(
            "action=user_token&actor=user:usr_1&subject=ut_9&person=me&token_hash={hash}\
             &since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00Z&limit=200&cursor=42&project=p"
        ))
        .unwrap();
        assert_eq!(q.action, Some(ActionFilter::Family("user_token.".into())));
        assert_eq!(q.actor.as_deref(), Some("user:usr_1"));
        assert_eq!(q.subject.as_deref(), Some("ut_9"));
        assert_eq!(q.person, Some(PersonFilter::Me));
        assert_eq!(q.token_hash, Some("ab".repeat(32)));
        assert_eq!(q.since_ms, parse_rfc3339("2026-12-01T00:00:00Z"));
        assert_eq!(q.limit, 200);
        assert_eq!(q.before_id, Some(42));
        let q = parse("action=user_token.revoke&person=usr_x").unwrap();
        assert_eq!(
            q.action,
            Some(ActionFilter::Exact("user_token.revoke".into()))
        );
        assert_eq!(q.person, Some(PersonFilter::Id(UserId::new("usr_x"))));
        assert_eq!(parse("").unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn refuses_what_it_cannot_read_saying_what_to_send() {
        for (query, says) in [
            ("limit=0", "`limit`"),
            ("limit=201", "`limit`"),
            ("limit=ten", "`limit`"),
            ("cursor=-1", "`cursor`"),
            ("cursor=+5", "`cursor`"),
            ("cursor=0", "`cursor`"),
            ("action=User_token", "`action`"),
            ("action=user_token.", "`action`"),
            ("action=", "`action`"),
            ("actor=user usr", "`actor`"),
            ("subject=", "`subject`"),
            ("token_hash=eas_abc", "never send the token itself"),
            ("since=yesterday", "`since`"),
            ("limit=5&limit=6", "given twice"),
            ("colour=red", "unknown query parameter `colour`"),
        ] {
            let error = parse(query).unwrap_err();
            assert!(error.contains(says), "{query}: {error}");
        }
    }

    #[test]
    fn refusals_share_a_row_per_kind_and_minute() {
        let at = 1_795_000_000_000;
        assert_eq!(
            refusal_bucket("sign_in.refuse", "invalid_state", at),
            refusal_bucket("sign_in.refuse", "invalid_state", at + 1)
        );
        assert_ne!(
            refusal_bucket("sign_in.refuse", "invalid_state", at),
            refusal_bucket("sign_in.refuse", "login_expired", at)
        );
        let next_minute = (at / REFUSAL_WINDOW_MS + 1) * REFUSAL_WINDOW_MS;
        assert_ne!(
            refusal_bucket("a.b", "c", at),
            refusal_bucket("a.b", "c", next_minute)
        );
    }

    #[test]
    fn an_isolate_writes_a_kind_of_refusal_at_most_every_ten_seconds_losing_no_count() {
        let mut tally = RefusalTally::default();
        let t0 = 1_795_000_000_000;
        let kind = "sign_in.refuse|invalid_state";
        let held = |count, first_at_ms, first| {
            Some(Held {
                count,
                first_at_ms,
                first,
            })
        };
        // The first at once; 99 more within the interval are held, from the first of them.
        assert_eq!(tally.count(kind, t0, "a"), held(1, t0, "a"));
        for i in 1..100 {
            let client = if i == 1 { "b" } else { "c" };
            assert_eq!(tally.count(kind, t0 + i, client), None);
        }
        // Another kind has its own interval.
        assert_eq!(
            tally.count("ci.exchange_refuse|invalid_grant", t0 + 5, "d"),
            held(1, t0 + 5, "d")
        );
        // The first after the interval writes all it counted, itself included, as of the
        // first it held (its time and its client), not its own.
        let later = t0 + REFUSAL_WRITE_EVERY_MS;
        assert_eq!(tally.count(kind, later, "e"), held(100, t0 + 1, "b"));
        assert_eq!(tally.count(kind, later + 1, "f"), None);
        assert_eq!(
            tally.count(kind, later + REFUSAL_WRITE_EVERY_MS + 1, "g"),
            held(2, later + 1, "f")
        );
    }

    #[test]
    fn user_agents_are_kept_short_and_printable() {
        assert_eq!(user_agent("curl/8.5.0"), "curl/8.5.0");
        assert_eq!(user_agent("a\u{0}b\nc\u{e9}"), "abc");
        assert_eq!(user_agent(&"x".repeat(500)).len(), USER_AGENT_CHARS);
    }
}
