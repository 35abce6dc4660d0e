//! The store's SQL on an in-memory SQLite with the real migrations: every operation, and
//! above all the ones that decide a race (a CLI login code's single use, refresh rotation and
//! reuse, a device grant's one family, a decision taken once, the user-code guessing limit).
//! D1 serialises writes and runs a batch as one transaction, so two racing requests are two
//! batches in some order: each test runs them one after the other and checks that the order
//! cannot make both win.

use edgeauth_core::cli_login::{PendingLogin, CODE_TTL_S};
use edgeauth_core::device::{LookupFailures, LOOKUP_WINDOW_S, MAX_FAILED_LOOKUPS};
use edgeauth_core::refresh::{self, RefreshDecision, StoredRefresh};
use edgeauth_core::{
    BrowserSession, Credential, FamilyId, Login, Principal, ProjectName, Scope, SessionId,
    TokenHash, TokenId, UserId,
};

use super::logins;
use super::sqlite::{block_on, Sqlite};
use super::tokens::LAST_USED_GRANULARITY_MS;
use super::*;
use edgeauth_core::audit::AuditQuery;

const MINUTE: i64 = 60 * 1000;
const T0: i64 = 1_750_000_000_000;

fn project(name: &str) -> ProjectName {
    ProjectName::parse(name).unwrap()
}

fn scope(patterns: &[&str]) -> Scope {
    Scope::parse(patterns).unwrap()
}

fn hash(secret: &str) -> TokenHash {
    TokenHash::of(secret)
}

fn event<'a>(action: &'a str, subject: &'a str, at: i64) -> AuditEvent<'a> {
    AuditEvent {
        at,
        project: Some("default"),
        actor: Actor::Super,
        action,
        subject,
        detail: "{}".into(),
        person: None,
        trace: &Trace::NONE,
    }
}

fn audit_count(db: &Sqlite, action: &str) -> i64 {
    db.count("audit_events", &format!("action = '{action}'"))
}

/// A user as the OIDC callback stores them.
fn person(id: &str, issuer: &str, subject: &str, email: &str) -> UserRecord {
    UserRecord {
        id: UserId::new(id),
        issuer: issuer.into(),
        subject: subject.into(),
        email: Some(email.into()),
        name: Some("Ada".into()),
        teams: vec!["edgeauth-team".into()],
        created_at: T0,
        last_login_at: T0,
    }
}

/// Signs `user` in (at `issuer`, with `user` as their subject) with a session whose cookie
/// is `cookie`; the stored user.
fn sign_in(
    db: &Sqlite,
    user: &UserRecord,
    cookie: &str,
    id: &str,
    now: i64,
    ttl: i64,
) -> UserRecord {
    block_on(user.sign_in(
        db,
        &NewSession {
            hash: &hash(cookie),
            id: &SessionId::new(id),
            created_at: now,
            expires_at: now + ttl,
            trace: &Trace::NONE,
        },
        "{}",
        None,
    ))
    .unwrap()
}

/// A person signed in once (a session that has ended already).
fn with_user(db: &Sqlite, id: &str) -> UserId {
    let ada = person(id, "https://idp", id, "ada@example.com");
    sign_in(
        db,
        &ada,
        &format!("{id} cookie"),
        &format!("ses_{id}"),
        T0,
        0,
    )
    .id
}

fn user_token(id: &str, user_id: &UserId, project_name: &str, created_at: i64) -> TokenRecord {
    TokenRecord::new(
        TokenId::new(id),
        NewToken {
            owner: TokenOwner::User {
                user_id: user_id.clone(),
                created_via: "session".into(),
            },
            project: project(project_name),
            name: format!("{id} name"),
            scope: scope(&["production/*", "staging"]),
            expires_at: None,
            parent: None,
        },
        "eau_abcdefgh",
        created_at,
    )
}

fn service_token(id: &str, project_name: &str, created_at: i64) -> TokenRecord {
    TokenRecord::new(
        TokenId::new(id),
        NewToken {
            owner: TokenOwner::Project {
                created_by: Actor::Service(TokenId::new("st_creator")),
            },
            project: project(project_name),
            name: format!("{id} name"),
            scope: scope(&["production/*"]),
            expires_at: Some(created_at + 60 * MINUTE),
            parent: None,
        },
        "eas_abcdefgh",
        created_at,
    )
}

fn insert(db: &Sqlite, token: &TokenRecord, secret: &str) {
    block_on(token.insert(
        db,
        &hash(secret),
        event("token.create", "t", token.created_at),
    ))
    .unwrap();
}

// --- batches ---------------------------------------------------------------------------

#[test]
fn a_batch_is_all_or_nothing() {
    let db = Sqlite::migrated();
    // No such user: the token's foreign key fails, so its audit event is not kept either.
    let orphan = user_token("ut_orphan", &UserId::new("usr_nobody"), "default", T0);
    let result = block_on(orphan.insert(&db, &hash("secret"), event("token.create", "t", T0)));
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert_eq!(db.count("user_tokens", "1"), 0);
    assert_eq!(audit_count(&db, "token.create"), 0);
}

// --- tokens ----------------------------------------------------------------------------

#[test]
fn a_service_token_is_stored_with_its_audit_event_and_found_by_hash() {
    let db = Sqlite::migrated();
    let token = service_token("st_1", "default", T0);
    insert(&db, &token, "service secret");
    assert_eq!(audit_count(&db, "token.create"), 1);
    let found = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::ServiceTokens,
        &hash("service secret"),
    ))
    .unwrap();
    assert_eq!(found.as_ref(), Some(&token));
    // Only the hash is stored, and the creator as today's string.
    let (stored_hash, created_by): (String, String) = db
        .conn()
        .query_row(
            "SELECT token_hash, created_by FROM service_tokens WHERE id = 'st_1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored_hash, hash("service secret").as_hex());
    assert_eq!(created_by, "service:st_creator");
}

#[test]
fn a_user_token_round_trips_and_each_kind_is_looked_up_only_in_its_table() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let token = user_token("ut_1", &ada, "default", T0);
    insert(&db, &token, "user secret");
    let found = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::UserTokens,
        &hash("user secret"),
    ))
    .unwrap();
    // Read for verification, a user token comes with its owner's teams (which decide roles).
    let with_teams = TokenRecord {
        owner_teams: Some(vec!["edgeauth-team".into()]),
        ..token.clone()
    };
    assert_eq!(found.as_ref(), Some(&with_teams));
    let elsewhere = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::ServiceTokens,
        &hash("user secret"),
    ))
    .unwrap();
    assert_eq!(elsewhere, None);
    let unknown = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::UserTokens,
        &hash("other"),
    ))
    .unwrap();
    assert_eq!(unknown, None);
}

#[test]
fn find_answers_only_for_the_owner() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let bob = with_user(&db, "usr_bob");
    insert(&db, &user_token("ut_ada", &ada, "default", T0), "a");
    insert(&db, &service_token("st_p", "default", T0), "s");
    let find = |of, id| {
        block_on(TokenRecord::find(&db, of, id))
            .unwrap()
            .map(|t| t.id)
    };
    assert_eq!(
        find(TokensOf::User(&ada), "ut_ada"),
        Some(TokenId::new("ut_ada"))
    );
    assert_eq!(find(TokensOf::User(&bob), "ut_ada"), None);
    let default = project("default");
    let other = project("other");
    assert_eq!(
        find(TokensOf::Project(&default), "st_p"),
        Some(TokenId::new("st_p"))
    );
    assert_eq!(find(TokensOf::Project(&other), "st_p"), None);
    // A user token is not a project's service token, whatever its project.
    assert_eq!(find(TokensOf::Project(&default), "ut_ada"), None);
}

#[test]
fn list_active_is_the_owners_live_tokens_newest_first() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let bob = with_user(&db, "usr_bob");
    insert(&db, &user_token("ut_old", &ada, "default", T0), "1");
    insert(&db, &user_token("ut_new", &ada, "other", T0 + MINUTE), "2");
    let revoked = user_token("ut_gone", &ada, "default", T0 + 2 * MINUTE);
    insert(&db, &revoked, "3");
    insert(&db, &user_token("ut_bob", &bob, "default", T0), "4");
    assert!(
        block_on(revoked.revoke(&db, T0 + 3 * MINUTE, "rev_x", event("r", "ut_gone", T0))).unwrap()
    );
    let listed: Vec<TokenId> = block_on(TokenRecord::list_active(&db, TokensOf::User(&ada)))
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [TokenId::new("ut_new"), TokenId::new("ut_old")]);

    insert(&db, &service_token("st_a", "default", T0), "5");
    insert(&db, &service_token("st_b", "default", T0 + MINUTE), "6");
    insert(&db, &service_token("st_c", "other", T0), "7");
    let default = project("default");
    let listed: Vec<TokenId> = block_on(TokenRecord::list_active(&db, TokensOf::Project(&default)))
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [TokenId::new("st_b"), TokenId::new("st_a")]);
}

#[test]
fn a_token_is_revoked_once() {
    let db = Sqlite::migrated();
    let token = service_token("st_1", "default", T0);
    insert(&db, &token, "s");
    assert!(
        block_on(token.revoke(&db, T0 + MINUTE, "rev_a", event("token.revoke", "st_1", T0)))
            .unwrap()
    );
    // A concurrent revocation that lost, even in the same millisecond, finds nothing left to
    // revoke and records nothing.
    assert!(
        !block_on(token.revoke(&db, T0 + MINUTE, "rev_b", event("token.revoke", "st_1", T0)))
            .unwrap()
    );
    assert_eq!(audit_count(&db, "token.revoke"), 1);
    let stored = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::ServiceTokens,
        &hash("s"),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(stored.revoked_at, Some(T0 + MINUTE));
    // Revocation is bound to the owner: another project's row of the same id is untouched.
    let ada = with_user(&db, "usr_ada");
    let mine = user_token("ut_1", &ada, "default", T0);
    insert(&db, &mine, "u");
    let bob = with_user(&db, "usr_bob");
    let forged = TokenRecord {
        owner: TokenOwner::User {
            user_id: bob,
            created_via: "session".into(),
        },
        ..mine.clone()
    };
    assert!(!block_on(forged.revoke(&db, T0, "rev_c", event("token.revoke", "ut_1", T0))).unwrap());
    assert_eq!(db.count("user_tokens", "revoked_at IS NULL"), 1);
}

#[test]
fn a_token_expires_at_its_expiry() {
    let token = service_token("st_1", "default", T0);
    let expiry = token.expires_at.unwrap();
    assert!(!token.is_expired(expiry - 1));
    assert!(token.is_expired(expiry));
    assert!(!TokenRecord {
        expires_at: None,
        ..token
    }
    .is_expired(i64::MAX));
}

#[test]
fn a_use_is_recorded_at_most_every_five_minutes() {
    let db = Sqlite::migrated();
    let token = service_token("st_1", "default", T0);
    insert(&db, &token, "s");
    let stored = || {
        block_on(TokenRecord::find_by_hash(
            &db,
            TokenTable::ServiceTokens,
            &hash("s"),
        ))
        .unwrap()
        .unwrap()
    };
    // Never used: the first use is written.
    let first = token
        .use_statement(T0 + MINUTE)
        .expect("a first use is written");
    assert_eq!(block_on(db.run(first)).unwrap(), 1);
    assert_eq!(stored().last_used_at, Some(T0 + MINUTE));
    // Within five minutes of it: nothing to write, so verification stays a read.
    let fresh = stored();
    assert_eq!(
        fresh.use_statement(T0 + MINUTE + LAST_USED_GRANULARITY_MS),
        None
    );
    // Later: written again, once, even by two verifications that read the same stale row.
    let later = T0 + 2 * MINUTE + LAST_USED_GRANULARITY_MS;
    let a = fresh.use_statement(later).expect("stale");
    let b = fresh.use_statement(later + 1).expect("stale");
    assert_eq!(block_on(db.run(a)).unwrap(), 1);
    assert_eq!(block_on(db.run(b)).unwrap(), 0);
    assert_eq!(stored().last_used_at, Some(later));
}

#[test]
fn a_user_tokens_use_is_recorded_in_its_own_table() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let token = user_token("ut_1", &ada, "default", T0);
    insert(&db, &token, "u");
    assert_eq!(
        block_on(db.run(token.use_statement(T0).unwrap())).unwrap(),
        1
    );
    assert_eq!(db.count("user_tokens", &format!("last_used_at = {T0}")), 1);
}

#[test]
fn bad_stored_values_are_store_errors() {
    let db = Sqlite::migrated();
    let token = service_token("st_1", "default", T0);
    insert(&db, &token, "s");
    let find = || {
        block_on(TokenRecord::find_by_hash(
            &db,
            TokenTable::ServiceTokens,
            &hash("s"),
        ))
    };
    for (column, value) in [
        ("workspaces", "'not json'"),
        ("workspaces", "'[\"Not A Pattern\"]'"),
        ("workspaces", "'[]'"),
        ("project", "'Not_A_Project'"),
        ("created_by", "'somebody'"),
    ] {
        let original: String = db
            .conn()
            .query_row(
                &format!("SELECT {column} FROM service_tokens WHERE id = 'st_1'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        db.conn()
            .execute(&format!("UPDATE service_tokens SET {column} = {value}"), [])
            .unwrap();
        let result = find();
        assert!(
            matches!(result, Err(StoreError::BadRecord(_))),
            "{column} = {value}: {result:?}"
        );
        db.conn()
            .execute(
                &format!("UPDATE service_tokens SET {column} = ?1"),
                [original],
            )
            .unwrap();
        assert!(find().unwrap().is_some());
    }
    let ada = with_user(&db, "usr_ada");
    db.conn()
        .execute("UPDATE users SET teams = '{' WHERE id = 'usr_ada'", [])
        .unwrap();
    let result = block_on(UserRecord::find(&db, &ada));
    assert!(
        matches!(result, Err(StoreError::BadRecord(_))),
        "{result:?}"
    );
}

// --- audit -----------------------------------------------------------------------------

#[test]
fn actors_are_named_as_the_audit_log_names_them() {
    let cases = [
        (Actor::User(UserId::new("usr_1")), "user:usr_1"),
        (Actor::Service(TokenId::new("st_1")), "service:st_1"),
        (Actor::Super, "super"),
        (Actor::Anonymous, "anonymous"),
        (Actor::RefreshReuse, "refresh_reuse"),
    ];
    for (actor, name) in cases {
        assert_eq!(actor.to_string(), name);
        assert_eq!(Actor::parse(name), Ok(actor));
    }
    for bad in ["", "user:", "service:", "admin", "session:ses_1"] {
        assert!(Actor::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_principals_actor_is_its_person_its_service_token_or_its_kind() {
    let p = project("default");
    let session = Principal {
        credential: Credential::Session(BrowserSession {
            session_id: SessionId::new("ses_1"),
            user_id: UserId::new("usr_1"),
            name: "Ada".into(),
            cookie_hash: hash("cookie"),
        }),
        ..Principal::super_token(p.clone())
    };
    let service = Principal {
        credential: Credential::Service {
            token_id: TokenId::new("st_1"),
            name: "CI".into(),
        },
        ..Principal::super_token(p.clone())
    };
    for (principal, actor) in [
        (session, "user:usr_1"),
        (service, "service:st_1"),
        (Principal::super_token(p.clone()), "super"),
        (Principal::anonymous(p), "anonymous"),
    ] {
        assert_eq!(Actor::of(&principal).to_string(), actor);
    }
}

#[test]
fn an_audit_event_is_stored_as_given() {
    let db = Sqlite::migrated();
    let event = AuditEvent {
        at: T0,
        project: None,
        actor: Actor::User(UserId::new("usr_1")),
        action: "cli_login.deny",
        subject: "usr_1",
        detail: r#"{"name":"laptop"}"#.into(),
        person: None,
        trace: &Trace::NONE,
    };
    block_on(event.record(&db)).unwrap();
    let row: (i64, Option<String>, String, String, String, String) = db
        .conn()
        .query_row(
            "SELECT at, project, actor, action, subject, detail FROM audit_events",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            T0,
            None,
            "user:usr_1".into(),
            "cli_login.deny".into(),
            "usr_1".into(),
            r#"{"name":"laptop"}"#.into()
        )
    );
}

#[test]
fn an_event_keeps_its_request_and_the_person_it_concerns() {
    let db = Sqlite::migrated();
    let trace = Trace {
        ip: Some("203.0.113.7".into()),
        colo: Some("AMS".into()),
        user_agent: Some("edgeauth-cli/0.1".into()),
        request_id: Some("8c1d-AMS".into()),
        credential_hash: Some(hash("eas_leaked").as_hex().to_owned()),
        credential_prefix: Some("eas_leakedAB".into()),
    };
    let owner = UserId::new("usr_owner");
    block_on(
        AuditEvent {
            person: Some(&owner),
            trace: &trace,
            ..event("user_token.revoke", "ut_1", T0)
        }
        .record(&db),
    )
    .unwrap();
    let page = block_on(StoredEvent::page(
        &db,
        &everything(&AuditQuery::default_page()),
    ))
    .unwrap();
    assert_eq!(page.len(), 1);
    let stored = &page[0];
    assert_eq!(stored.person.as_deref(), Some("usr_owner"));
    assert_eq!(stored.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(stored.colo.as_deref(), Some("AMS"));
    assert_eq!(stored.user_agent.as_deref(), Some("edgeauth-cli/0.1"));
    assert_eq!(stored.request_id.as_deref(), Some("8c1d-AMS"));
    assert_eq!(stored.credential_hash, trace.credential_hash);
    assert_eq!(stored.credential_prefix.as_deref(), Some("eas_leakedAB"));
    assert_eq!(stored.count, 1);
    // Without a person given, a person actor's own.
    block_on(
        AuditEvent {
            actor: Actor::User(UserId::new("usr_actor")),
            ..event("session.delete", "ses_1", T0)
        }
        .record(&db),
    )
    .unwrap();
    assert_eq!(db.count("audit_events", "person = 'usr_actor'"), 1);
}

fn everything(query: &AuditQuery) -> EventFilter<'_> {
    EventFilter {
        project: None,
        deployment: false,
        person: None,
        query,
    }
}

trait DefaultPage {
    fn default_page() -> AuditQuery;
    fn with(pairs: &str) -> AuditQuery;
}

impl DefaultPage for AuditQuery {
    fn default_page() -> AuditQuery {
        Self::with("")
    }
    fn with(pairs: &str) -> AuditQuery {
        AuditQuery::parse(
            pairs
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap()),
        )
        .unwrap()
    }
}

#[test]
fn refusals_are_counted_one_row_per_kind_and_minute() {
    let db = Sqlite::migrated();
    let refusal = |reason: &str, at: i64| {
        block_on(event("sign_in.refuse", "-", at).record_refusals(&db, reason, 1)).unwrap()
    };
    for i in 0..50 {
        refusal("invalid_state", T0 + i);
    }
    refusal("login_expired", T0);
    refusal("invalid_state", T0 + MINUTE);
    let counts: Vec<(String, i64)> = db
        .conn()
        .prepare("SELECT bucket, count FROM audit_events ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(counts[0].1, 50);
    assert_eq!((counts[1].1, counts[2].1), (1, 1));
    // What an isolate counted between two writes, added at once.
    block_on(event("sign_in.refuse", "-", T0 + 2).record_refusals(&db, "invalid_state", 7))
        .unwrap();
    assert_eq!(db.count("audit_events", "count = 57"), 1);
}

#[test]
fn a_page_is_what_its_reader_may_see_filtered_newest_first() {
    let db = Sqlite::migrated();
    let ada = UserId::new("usr_ada");
    let leaked = hash("eau_leaked");
    let by_leaked = Trace {
        credential_hash: Some(leaked.as_hex().to_owned()),
        ..Trace::NONE
    };
    // A user token whose hash is `leaked`, so that what was done to it is found by the hash.
    let person_row = person("usr_ada", "https://idp.test", "ada", "ada@example.test");
    sign_in(&db, &person_row, "cookie", "ses_1", T0, MINUTE);
    let token = user_token("ut_leaked", &ada, "alpha", T0);
    let created = AuditEvent {
        project: Some("alpha"),
        ..event("user_token.create", "ut_leaked", T0)
    };
    block_on(token.insert(&db, &leaked, created)).unwrap();
    let record = |e: AuditEvent<'_>| block_on(e.record(&db)).unwrap();
    record(AuditEvent {
        project: Some("alpha"),
        ..event("service_token.create", "st_1", T0 + 1)
    });
    record(AuditEvent {
        project: Some("alpha"),
        actor: Actor::User(ada.clone()),
        trace: &by_leaked,
        ..event("service_token.revoke", "st_1", T0 + 2)
    });
    record(AuditEvent {
        project: Some("beta"),
        ..event("service_token.create", "st_2", T0 + 3)
    });
    record(AuditEvent {
        project: None,
        ..event("config.problem", "-", T0 + 4)
    });
    record(AuditEvent {
        project: Some("alpha"),
        actor: Actor::LeakReport,
        person: Some(&ada),
        ..event("user_token.revoke", "ut_leaked", T0 + 5)
    });
    let page = |filter: EventFilter<'_>| -> Vec<String> {
        block_on(StoredEvent::page(&db, &filter))
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.action, e.subject))
            .collect()
    };
    let all = AuditQuery::default_page();
    let alpha = EventFilter {
        project: Some("alpha"),
        ..everything(&all)
    };
    assert_eq!(
        page(alpha.clone()),
        [
            "user_token.revoke ut_leaked",
            "service_token.revoke st_1",
            "service_token.create st_1",
            "user_token.create ut_leaked",
        ]
    );
    // The deployment's own events (no project) too, for the operator.
    let operator = page(EventFilter {
        deployment: true,
        ..alpha.clone()
    });
    assert!(
        operator.contains(&"config.problem -".to_owned()),
        "{operator:?}"
    );
    assert!(
        operator.contains(&"session.create ses_1".to_owned()),
        "{operator:?}"
    );
    assert!(
        !operator.iter().any(|e| e.ends_with("st_2")),
        "{operator:?}"
    );
    // A person's own: what they did and what was done to what is theirs, in any project.
    let own = page(EventFilter {
        person: Some("usr_ada"),
        ..everything(&all)
    });
    assert_eq!(
        own,
        [
            "user_token.revoke ut_leaked",
            "service_token.revoke st_1",
            "session.create ses_1",
        ]
    );
    // The token's hash finds what it did and what was done to it.
    let by_hash = AuditQuery::with(&format!("token_hash={}", leaked.as_hex()));
    assert_eq!(
        page(everything(&by_hash)),
        [
            "user_token.revoke ut_leaked",
            "service_token.revoke st_1",
            "user_token.create ut_leaked",
        ]
    );
    // A family of actions; `_` is no wildcard.
    let family = AuditQuery::with("action=service_token");
    assert_eq!(page(everything(&family)).len(), 3);
    let exact = AuditQuery::with("action=user_token.revoke&actor=leak_report");
    assert_eq!(page(everything(&exact)), ["user_token.revoke ut_leaked"]);
    let time = AuditQuery::with("since=1970-01-01T00:00:00Z&until=1970-01-01T00:00:00Z");
    assert!(page(everything(&time)).is_empty());
    // Pages: `limit` newest, then older than the cursor.
    let first = AuditQuery::with("limit=2");
    let first_page = block_on(StoredEvent::page(&db, &everything(&first))).unwrap();
    assert_eq!(first_page.len(), 2);
    let cursor = first_page.last().unwrap().id;
    let second = AuditQuery::with(&format!("limit=2&cursor={cursor}"));
    let second_page = block_on(StoredEvent::page(&db, &everything(&second))).unwrap();
    assert_eq!(second_page.len(), 2);
    assert!(second_page.iter().all(|e| e.id < cursor));
}

// --- CLI login codes -------------------------------------------------------------------

fn redeem(db: &Sqlite, code: &str, token: &TokenRecord, secret: &str, now: i64) -> bool {
    block_on(ConsumedCode::redeem_once(
        db,
        &hash(code),
        token,
        &hash(secret),
        event("user_token.create", token.id.as_str(), now),
        now,
    ))
    .unwrap()
}

#[test]
fn a_code_is_redeemed_exactly_once() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let first = user_token("ut_first", &ada, "default", T0);
    let second = user_token("ut_second", &ada, "default", T0);
    assert!(redeem(&db, "code", &first, "secret 1", T0));
    // The loser of the race stores no token and no audit event.
    assert!(!redeem(&db, "code", &second, "secret 2", T0));
    assert_eq!(db.count("user_tokens", "1"), 1);
    assert_eq!(db.count("user_tokens", "id = 'ut_first'"), 1);
    assert_eq!(audit_count(&db, "user_token.create"), 1);
    assert_eq!(
        db.count("audit_events", "subject = 'ut_second'"),
        0,
        "the loser's audit event"
    );
    assert_eq!(
        db.count(
            "consumed_codes",
            &format!(
                "code_hash = '{}' AND token_id = 'ut_first'",
                hash("code").as_hex()
            )
        ),
        1
    );
    // Another code is its own.
    assert!(redeem(&db, "other code", &second, "secret 2", T0));
}

#[test]
fn a_burned_code_cannot_be_redeemed() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    block_on(ConsumedCode::burn(
        &db,
        &hash("code"),
        event("cli_login.burn", "code", T0),
        T0,
    ))
    .unwrap();
    assert_eq!(audit_count(&db, "cli_login.burn"), 1);
    let token = user_token("ut_1", &ada, "default", T0);
    assert!(!redeem(&db, "code", &token, "secret", T0));
    assert_eq!(db.count("user_tokens", "1"), 0);
    assert_eq!(audit_count(&db, "user_token.create"), 0);
    // Burning a redeemed code changes nothing: its token stays.
    assert!(redeem(&db, "code 2", &token, "secret", T0));
    block_on(ConsumedCode::burn(
        &db,
        &hash("code 2"),
        event("cli_login.burn", "code 2", T0),
        T0,
    ))
    .unwrap();
    assert_eq!(db.count("consumed_codes", "token_id = 'ut_1'"), 1);
    assert_eq!(db.count("user_tokens", "1"), 1);
}

#[test]
fn a_redemption_sweeps_ledger_rows_older_than_an_hour() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    assert!(redeem(
        &db,
        "old",
        &user_token("ut_1", &ada, "default", T0),
        "1",
        T0
    ));
    let later = T0 + 61 * MINUTE;
    assert!(redeem(
        &db,
        "new",
        &user_token("ut_2", &ada, "default", later),
        "2",
        later
    ));
    assert_eq!(db.count("consumed_codes", "1"), 1);
    assert_eq!(db.count("consumed_codes", "token_id = 'ut_2'"), 1);
}

// --- approved CLI login codes (pending_codes) --------------------------------------------

const CODE_TTL_MS: i64 = CODE_TTL_S * 1000;

/// What an approval at `now` by `user` stores about its code.
fn pending_login(user: &UserId, now: i64) -> PendingLogin {
    PendingLogin {
        user_id: user.as_str().into(),
        project: "default".into(),
        name: "edgeauth CLI on laptop".into(),
        redirect_uri: "http://127.0.0.1:53682/callback".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        expires_at: now + CODE_TTL_MS,
    }
}

fn approve(db: &Sqlite, code: &str, pending: &PendingLogin, now: i64) -> Result<(), StoreError> {
    let subject = hash(code).as_hex().to_owned();
    block_on(PendingCode::approve(
        db,
        &hash(code),
        pending,
        event("cli_login.approve", &subject, now),
        now,
    ))
}

fn find_pending(db: &Sqlite, code: &str, now: i64) -> Option<PendingLogin> {
    block_on(PendingCode::find(db, &hash(code), now)).unwrap()
}

#[test]
fn an_approved_code_is_stored_by_its_hash_with_its_audit_event_and_read_back() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let pending = pending_login(&ada, T0);
    approve(&db, "the code", &pending, T0).unwrap();
    assert_eq!(find_pending(&db, "the code", T0), Some(pending.clone()));
    assert_eq!(find_pending(&db, "another code", T0), None);
    assert_eq!(
        db.count(
            "audit_events",
            &format!(
                "action = 'cli_login.approve' AND subject = '{}'",
                hash("the code").as_hex()
            )
        ),
        1
    );
    // Keyed by the code's hash; the code itself is in no column.
    assert_eq!(
        db.count(
            "pending_codes",
            &format!("code_hash = '{}'", hash("the code").as_hex())
        ),
        1
    );
    let plaintext: i64 = db
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM pending_codes WHERE code_hash || user_id || project || name \
             || redirect_uri || code_challenge LIKE '%the code%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plaintext, 0);

    // The row and the event are one batch: an approval that cannot store its row (here the
    // same code again) records no event either.
    assert!(approve(&db, "the code", &pending, T0).is_err());
    assert_eq!(db.count("pending_codes", "1"), 1);
    assert_eq!(audit_count(&db, "cli_login.approve"), 1);
    // And an approval by someone who is not a user stores nothing.
    let stranger = pending_login(&UserId::new("usr_nobody"), T0);
    assert!(approve(&db, "a stranger's code", &stranger, T0).is_err());
    assert_eq!(db.count("pending_codes", "1"), 1);
    assert_eq!(audit_count(&db, "cli_login.approve"), 1);
}

#[test]
fn a_pending_code_is_consumed_by_its_redemption_once() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    approve(&db, "code", &pending_login(&ada, T0), T0).unwrap();
    approve(&db, "other code", &pending_login(&ada, T0), T0).unwrap();
    let first = user_token("ut_first", &ada, "default", T0);
    let second = user_token("ut_second", &ada, "default", T0);
    assert!(redeem(&db, "code", &first, "secret 1", T0 + 1000));
    assert_eq!(find_pending(&db, "code", T0 + 1000), None, "consumed");
    assert!(
        find_pending(&db, "other code", T0 + 1000).is_some(),
        "another code is its own"
    );
    // A second exchange (one that read the row before it went, or KV's copy): refused by the
    // ledger, and it stores nothing.
    assert!(!redeem(&db, "code", &second, "secret 2", T0 + 2000));
    assert_eq!(db.count("user_tokens", "1"), 1);
    assert_eq!(db.count("pending_codes", "1"), 1);
}

#[test]
fn a_burned_code_is_no_longer_pending() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    approve(&db, "code", &pending_login(&ada, T0), T0).unwrap();
    block_on(ConsumedCode::burn(
        &db,
        &hash("code"),
        event("cli_login.burn", "code", T0),
        T0,
    ))
    .unwrap();
    assert_eq!(find_pending(&db, "code", T0), None);
    assert_eq!(db.count("pending_codes", "1"), 0);
    let token = user_token("ut_1", &ada, "default", T0);
    assert!(!redeem(&db, "code", &token, "secret", T0));
}

#[test]
fn a_pending_code_is_not_read_once_expired() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    approve(&db, "code", &pending_login(&ada, T0), T0).unwrap();
    let expiry = T0 + CODE_TTL_MS;
    assert!(find_pending(&db, "code", expiry - 1).is_some());
    assert_eq!(find_pending(&db, "code", expiry), None);
    assert_eq!(find_pending(&db, "code", expiry + MINUTE), None);
}

#[test]
fn expired_pending_codes_are_swept_by_later_approvals_and_redemptions() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    approve(&db, "old", &pending_login(&ada, T0), T0).unwrap();
    approve(&db, "live", &pending_login(&ada, T0 + MINUTE), T0 + MINUTE).unwrap();
    // Two minutes on, `old` has expired (`live` has not): the next approval sweeps it.
    let later = T0 + 2 * MINUTE;
    approve(&db, "new", &pending_login(&ada, later), later).unwrap();
    let left = |db: &Sqlite| -> Vec<String> {
        let mut statement = db
            .conn()
            .prepare("SELECT code_hash FROM pending_codes ORDER BY expires_at")
            .unwrap();
        let rows = statement.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(
        left(&db),
        [hash("live").as_hex(), hash("new").as_hex()],
        "the expired row is swept, the live ones stay"
    );
    // A redemption sweeps too: by now `live` has expired, `new` has not.
    let now = later + MINUTE + 1;
    assert!(redeem(
        &db,
        "another",
        &user_token("ut_1", &ada, "default", now),
        "1",
        now
    ));
    assert_eq!(left(&db), [hash("new").as_hex()]);
}

// --- people ----------------------------------------------------------------------------

#[test]
fn users_are_keyed_by_issuer_and_subject() {
    let db = Sqlite::migrated();
    let first = person("usr_1", "https://idp", "sub", "old@example.com");
    let first = sign_in(&db, &first, "c1", "ses_1", T0, MINUTE);
    assert_eq!(first.id, UserId::new("usr_1"));
    // Signing in again refreshes the person but keeps their id, whatever id was drawn.
    let mut again = person("usr_2", "https://idp", "sub", "new@example.com");
    again.teams = vec!["a".into(), "b".into()];
    again.last_login_at = T0 + MINUTE;
    let again = sign_in(&db, &again, "c2", "ses_2", T0 + MINUTE, MINUTE);
    assert_eq!(again.id, UserId::new("usr_1"));
    assert_eq!(again.email.as_deref(), Some("new@example.com"));
    assert_eq!(again.teams, ["a", "b"]);
    assert_eq!((again.created_at, again.last_login_at), (T0, T0 + MINUTE));
    // The same email from another issuer, or another subject, is another person.
    let other = person("usr_3", "https://other", "sub", "new@example.com");
    let other = sign_in(&db, &other, "c3", "ses_3", T0, MINUTE);
    assert_eq!(other.id, UserId::new("usr_3"));
    assert_eq!(db.count("users", "1"), 2);
    assert_eq!(
        block_on(UserRecord::find(&db, &UserId::new("usr_1"))).unwrap(),
        Some(again)
    );
    assert_eq!(
        block_on(UserRecord::find(&db, &UserId::new("usr_9"))).unwrap(),
        None
    );
}

/// A session of the person whose id and subject are `user`.
#[test]
fn a_sign_in_names_the_stored_person_whatever_id_was_drawn() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    // Signing in again draws a new id; the session and the audit event take the stored one.
    let mut again = person("usr_other", "https://idp", "usr_ada", "ada@example.com");
    again.last_login_at = T0 + MINUTE;
    let stored = sign_in(&db, &again, "ada again", "ses_again", T0 + MINUTE, MINUTE);
    assert_eq!(stored.id, ada);
    let session = block_on(SessionRecord::find_by_hash(&db, &hash("ada again")))
        .unwrap()
        .unwrap();
    assert_eq!(session.user_id, ada);
    assert_eq!(
        db.count(
            "audit_events",
            "action = 'session.create' AND subject = 'ses_again' AND actor = 'user:usr_ada' \
             AND project IS NULL"
        ),
        1
    );
    assert_eq!(db.count("users", "1"), 1);
}

fn start_session(db: &Sqlite, cookie: &str, id: &str, user: &UserId, now: i64, ttl: i64) {
    let person = person(
        user.as_str(),
        "https://idp",
        user.as_str(),
        "ada@example.com",
    );
    sign_in(db, &person, cookie, id, now, ttl);
}

#[test]
fn a_new_session_sweeps_only_its_users_expired_sessions() {
    let db = Sqlite::migrated();
    let (ada, bob) = (UserId::new("usr_ada"), UserId::new("usr_bob"));
    start_session(&db, "ada old", "ses_old", &ada, T0, MINUTE);
    start_session(&db, "ada live", "ses_live", &ada, T0, 60 * MINUTE);
    start_session(&db, "bob old", "ses_bob", &bob, T0, MINUTE);
    start_session(
        &db,
        "ada new",
        "ses_new",
        &ada,
        T0 + 2 * MINUTE,
        60 * MINUTE,
    );
    let mut ids: Vec<String> = db
        .conn()
        .prepare("SELECT id FROM sessions ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids.sort();
    assert_eq!(ids, ["ses_bob", "ses_live", "ses_new"]);
    assert_eq!(audit_count(&db, "session.create"), 4);
}

#[test]
fn a_session_is_found_by_its_cookie_with_its_user_and_deleted_once() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    start_session(&db, "cookie", "ses_1", &ada, T0, MINUTE);
    let found = block_on(SessionRecord::find_by_hash(&db, &hash("cookie")))
        .unwrap()
        .unwrap();
    assert_eq!(
        found,
        SessionRecord {
            id: SessionId::new("ses_1"),
            user_id: ada,
            expires_at: T0 + MINUTE,
            last_seen_at: None,
            user_name: Some("Ada".into()),
            user_email: Some("ada@example.com".into()),
            user_teams: vec!["edgeauth-team".into()],
        }
    );
    assert_eq!(
        block_on(SessionRecord::find_by_hash(&db, &hash("other"))).unwrap(),
        None
    );
    let delete = || {
        block_on(SessionRecord::delete(
            &db,
            &hash("cookie"),
            &SessionId::new("ses_1"),
            event("session.delete", "ses_1", T0),
            T0,
        ))
        .unwrap()
    };
    assert!(delete());
    assert!(!delete());
    assert_eq!(db.count("sessions", "1"), 0);
}

// --- device grants ---------------------------------------------------------------------

const GRANT_TTL: i64 = 15 * MINUTE;

fn grant(code: &str, user_code: &str, now: i64) -> DeviceGrantRecord {
    DeviceGrantRecord {
        device_code_hash: hash(code).as_hex().to_owned(),
        user_code: user_code.into(),
        project: project("default"),
        client_name: "edgeauth CLI on laptop".into(),
        status: GrantStatus::Pending,
        user_id: None,
        created_at: now,
        expires_at: now + GRANT_TTL,
        interval_s: 5,
        last_polled_at: None,
    }
}

/// A cap no test but the cap's own reaches.
const CAP: u32 = 1000;

fn store_grant(db: &Sqlite, g: &DeviceGrantRecord, now: i64) -> GrantInsert {
    block_on(g.insert(db, now, CAP)).unwrap()
}

fn stored_grant(db: &Sqlite, code: &str) -> DeviceGrantRecord {
    block_on(DeviceGrantRecord::find_by_hash(db, &hash(code)))
        .unwrap()
        .expect("the grant")
}

fn decide(db: &Sqlite, g: &DeviceGrantRecord, user: &UserId, approve: bool, now: i64) -> bool {
    block_on(g.decide(db, user, approve, now, event("device.decide", "g", now))).unwrap()
}

fn family_redeem(db: &Sqlite, g: &DeviceGrantRecord, family: &str, token: &str, now: i64) -> bool {
    block_on(g.redeem(
        db,
        &NewFamily {
            id: &FamilyId::new(family),
            scope: &Scope::all(),
            created_at: now,
            expires_at: now + 30 * 24 * 60 * MINUTE,
        },
        &hash(token),
        event("refresh_family.create", family, now),
    ))
    .unwrap()
}

#[test]
fn a_grant_is_stored_pending_and_its_user_code_is_unique() {
    let db = Sqlite::migrated();
    let new = grant("device code", "BCDF-GHJK", T0);
    assert_eq!(store_grant(&db, &new, T0), GrantInsert::Stored);
    let stored = stored_grant(&db, "device code");
    assert_eq!(stored, new);
    assert_eq!(
        stored.state(),
        GrantState::Open(edgeauth_core::device::DeviceStatus::Pending)
    );
    // A clash of user codes stores nothing: the caller draws again.
    assert_eq!(
        store_grant(&db, &grant("other code", "BCDF-GHJK", T0), T0),
        GrantInsert::CodeTaken
    );
    assert_eq!(db.count("device_grants", "1"), 1);
}

#[test]
fn a_project_holds_at_most_the_cap_of_live_pending_grants() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let cap = 3;
    let insert = |g: &DeviceGrantRecord, now: i64| block_on(g.insert(&db, now, cap)).unwrap();
    let codes = ["BCDF-BCDF", "CDFG-CDFG", "DFGH-DFGH"];
    for (i, user_code) in codes.iter().enumerate() {
        let at = T0 + i as i64 * 1000;
        let g = grant(&format!("code {i}"), user_code, at);
        assert_eq!(insert(&g, at), GrantInsert::Stored, "grant {i}");
    }
    // Full: nothing is stored, and the answer says when the first place frees up.
    let extra = grant("extra", "FGHJ-FGHJ", T0 + 5000);
    assert_eq!(
        insert(&extra, T0 + 5000),
        GrantInsert::Full {
            next_expiry_ms: T0 + GRANT_TTL
        }
    );
    assert_eq!(db.count("device_grants", "1"), 3);
    // The cap is per project.
    let elsewhere = DeviceGrantRecord {
        project: project("other"),
        ..grant("elsewhere", "GHJK-GHJK", T0 + 5000)
    };
    assert_eq!(insert(&elsewhere, T0 + 5000), GrantInsert::Stored);
    // A decided grant no longer counts.
    assert!(decide(
        &db,
        &stored_grant(&db, "code 1"),
        &ada,
        true,
        T0 + 6000
    ));
    assert_eq!(insert(&extra, T0 + 6000), GrantInsert::Stored);
    let late = grant("late", "HJKL-HJKL", T0 + 7000);
    assert!(matches!(insert(&late, T0 + 7000), GrantInsert::Full { .. }));
    // Nor does an expired one (kept an hour for late polls): at T0 + 15 min the first expires.
    assert_eq!(insert(&late, T0 + GRANT_TTL), GrantInsert::Stored);
    assert_eq!(
        db.count(
            "device_grants",
            "project = 'default' AND status = 'pending'"
        ),
        4,
        "three live and one expired"
    );
}

#[test]
fn a_full_project_refuses_before_a_code_clash_is_considered() {
    let db = Sqlite::migrated();
    let g = grant("code", "BCDF-GHJK", T0);
    assert_eq!(block_on(g.insert(&db, T0, 1)).unwrap(), GrantInsert::Stored);
    // The same user code again: with room it is a clash (draw again); without, full.
    let again = grant("other code", "BCDF-GHJK", T0);
    assert_eq!(
        block_on(again.insert(&db, T0, 2)).unwrap(),
        GrantInsert::CodeTaken
    );
    assert!(matches!(
        block_on(again.insert(&db, T0, 1)).unwrap(),
        GrantInsert::Full { .. }
    ));
}

#[test]
fn the_status_column_decodes_into_its_enum() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(&db, &g, T0);
    assert_eq!(stored_grant(&db, "code").status, GrantStatus::Pending);
    assert!(decide(&db, &g, &ada, false, T0));
    let denied = stored_grant(&db, "code");
    assert_eq!(denied.status, GrantStatus::Denied);
    assert_eq!(denied.user_id, Some(ada));
    assert_eq!(
        denied.state(),
        GrantState::Open(edgeauth_core::device::DeviceStatus::Denied)
    );
}

#[test]
fn inserting_a_grant_sweeps_what_is_stale() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let old = grant("old", "BCDF-BCDF", T0);
    store_grant(&db, &old, T0);
    assert!(decide(&db, &old, &ada, true, T0));
    assert!(family_redeem(&db, &old, "fam_old", "old refresh", T0));
    block_on(CodeLookups::lookup(
        &db,
        &["session:s".into(), "user:u".into()],
        None,
        T0,
    ))
    .unwrap();
    // Just before the sweeps' cut-offs, everything stays.
    let g = GRANT_TTL + 60 * MINUTE;
    store_grant(&db, &grant("a", "CDFG-CDFG", T0 + g), T0 + g);
    assert_eq!(db.count("device_grants", "1"), 2);
    assert_eq!(db.count("device_code_attempts", "1"), 0, "its window ended");
    // An hour after it expired, a grant goes; a day after its cap, a family and its tokens.
    store_grant(&db, &grant("b", "DFGH-DFGH", T0 + g + 1), T0 + g + 1);
    let old = format!("device_code_hash = '{}'", hash("old").as_hex());
    assert_eq!(db.count("device_grants", &old), 0);
    assert_eq!(db.count("refresh_families", "1"), 1);
    let past_cap = T0 + 31 * 24 * 60 * MINUTE + 1;
    store_grant(&db, &grant("c", "FGHJ-FGHJ", past_cap), past_cap);
    assert_eq!(db.count("refresh_families", "1"), 0);
    assert_eq!(db.count("refresh_tokens", "1"), 0);
}

#[test]
fn a_grant_is_decided_once_while_pending_and_live() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let bob = with_user(&db, "usr_bob");
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(&db, &g, T0);
    assert!(decide(&db, &g, &ada, true, T0 + MINUTE));
    // A second decision (another tab, another person) changes nothing and records nothing.
    assert!(!decide(&db, &g, &bob, false, T0 + 2 * MINUTE));
    let stored = stored_grant(&db, "code");
    assert_eq!(stored.status, GrantStatus::Approved);
    assert_eq!(stored.user_id, Some(ada.clone()));
    assert_eq!(audit_count(&db, "device.decide"), 1);
    // An expired grant cannot be decided.
    let late = grant("late", "CDFG-HJKL", T0);
    store_grant(&db, &late, T0);
    assert!(!decide(&db, &late, &ada, true, T0 + GRANT_TTL));
    assert_eq!(stored_grant(&db, "late").status, GrantStatus::Pending);
    assert_eq!(audit_count(&db, "device.decide"), 1);
}

#[test]
fn two_polls_of_an_approved_grant_start_one_family() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(&db, &g, T0);
    // Not approved yet: nothing to redeem.
    assert!(!family_redeem(&db, &g, "fam_early", "early", T0));
    assert!(decide(&db, &g, &ada, true, T0));
    assert!(family_redeem(&db, &g, "fam_a", "refresh a", T0 + 1));
    assert!(!family_redeem(&db, &g, "fam_b", "refresh b", T0 + 2));
    assert_eq!(db.count("refresh_families", "1"), 1);
    assert_eq!(
        db.count("refresh_families", "id = 'fam_a' AND user_id = 'usr_ada'"),
        1
    );
    assert_eq!(db.count("refresh_tokens", "1"), 1);
    assert_eq!(audit_count(&db, "refresh_family.create"), 1);
    let stored = stored_grant(&db, "code");
    assert_eq!(stored.state(), GrantState::Consumed);
    assert_eq!(stored.last_polled_at, Some(T0 + 1));
    let first = block_on(RefreshTokenRecord::find_by_hash(&db, &hash("refresh a")))
        .unwrap()
        .unwrap();
    assert_eq!(first.family_id, FamilyId::new("fam_a"));
    assert_eq!(first.user_id, ada);
    assert_eq!(first.project, project("default"));
    assert_eq!(first.scope, Scope::all());
}

#[test]
fn an_expired_approved_grant_is_not_redeemed() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(&db, &g, T0);
    assert!(decide(&db, &g, &ada, true, T0));
    assert!(!family_redeem(&db, &g, "fam_a", "refresh", T0 + GRANT_TTL));
    assert_eq!(db.count("refresh_families", "1"), 0);
    assert_eq!(audit_count(&db, "refresh_family.create"), 0);
}

#[test]
fn a_poll_is_recorded_with_its_interval() {
    let db = Sqlite::migrated();
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(&db, &g, T0);
    block_on(g.record_poll(&db, T0 + 3000, 10)).unwrap();
    let stored = stored_grant(&db, "code");
    assert_eq!(
        (stored.last_polled_at, stored.interval_s),
        (Some(T0 + 3000), 10)
    );
}

// --- user-code lookups -----------------------------------------------------------------

fn subjects() -> [String; 2] {
    ["session:ses_1".into(), "user:usr_1".into()]
}

fn look_up(db: &Sqlite, code: Option<&str>, now: i64) -> (Vec<LookupFailures>, Option<String>) {
    let (before, found) = block_on(CodeLookups::lookup(db, &subjects(), code, now)).unwrap();
    (before, found.map(|g| g.user_code))
}

fn failures(db: &Sqlite) -> Vec<(i64, u32)> {
    let mut rows: Vec<(i64, u32)> = block_on(CodeLookups::failures(db, &subjects()))
        .unwrap()
        .into_iter()
        .map(|f| (f.window_start_ms, f.failures))
        .collect();
    rows.sort();
    rows
}

#[test]
fn failed_lookups_are_counted_per_subject_and_reported_as_before() {
    let db = Sqlite::migrated();
    let (before, found) = look_up(&db, Some("BCDF-GHJK"), T0);
    assert!(before.is_empty());
    assert_eq!(found, None);
    assert_eq!(failures(&db), [(T0, 1), (T0, 1)]);
    // Not a user code at all is a failure too.
    let (before, _) = look_up(&db, None, T0 + 1000);
    assert_eq!(
        before.iter().map(|f| f.failures).collect::<Vec<_>>(),
        [1, 1],
        "the counts before this lookup"
    );
    assert_eq!(failures(&db), [(T0, 2), (T0, 2)]);
    for i in 2..MAX_FAILED_LOOKUPS {
        look_up(&db, None, T0 + i64::from(i) * 1000);
    }
    let (before, _) = look_up(&db, None, T0 + 10_000);
    assert_eq!(
        LookupFailures::most_limiting(&before, T0 + 10_000),
        Some(LOOKUP_WINDOW_S - 10)
    );
}

#[test]
fn a_lookup_of_a_live_pending_code_finds_it_and_counts_nothing() {
    let db = Sqlite::migrated();
    let ada = with_user(&db, "usr_ada");
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(&db, &g, T0);
    assert_eq!(
        look_up(&db, Some("BCDF-GHJK"), T0),
        (vec![], Some("BCDF-GHJK".into()))
    );
    assert!(failures(&db).is_empty());
    // Once decided, or expired, it is a failed lookup.
    assert!(decide(&db, &g, &ada, true, T0));
    assert_eq!(look_up(&db, Some("BCDF-GHJK"), T0).1, None);
    let expired = grant("other", "CDFG-HJKL", T0 - GRANT_TTL);
    store_grant(&db, &expired, T0);
    assert_eq!(look_up(&db, Some("CDFG-HJKL"), T0).1, None);
    assert_eq!(failures(&db), [(T0, 2), (T0, 2)]);
}

#[test]
fn the_lookup_window_starts_again_once_it_has_ended() {
    let db = Sqlite::migrated();
    look_up(&db, None, T0);
    look_up(&db, None, T0 + 1000);
    let window = i64::from(LOOKUP_WINDOW_S) * 1000;
    // Still inside the window: one more.
    look_up(&db, None, T0 + window - 1);
    assert_eq!(failures(&db), [(T0, 3), (T0, 3)]);
    // At its end: a new window with one failure.
    look_up(&db, None, T0 + window);
    assert_eq!(failures(&db), [(T0 + window, 1), (T0 + window, 1)]);
}

// --- refresh tokens --------------------------------------------------------------------

/// A user with an approved, redeemed device grant: family `fam_1`, first token `refresh 0`.
fn family(db: &Sqlite) {
    let ada = with_user(db, "usr_ada");
    let g = grant("code", "BCDF-GHJK", T0);
    store_grant(db, &g, T0);
    assert!(decide(db, &g, &ada, true, T0));
    assert!(family_redeem(db, &g, "fam_1", "refresh 0", T0));
}

#[test]
fn a_persons_logins_are_listed_and_end_with_what_was_made_with_them() {
    let db = Sqlite::migrated();
    family(&db);
    let ada = UserId::new("usr_ada");
    start_session(&db, "cookie 2", "ses_2", &ada, T0, 60 * MINUTE);
    let mut child = user_token("ut_child", &ada, "default", T0);
    child.parent = Some(Login::Session(SessionId::new("ses_2")));
    insert(&db, &child, "child secret");
    let bob = with_user(&db, "usr_bob");
    start_session(&db, "bob cookie", "ses_bob", &bob, T0, 60 * MINUTE);

    let logins = block_on(LoginRecord::of_person(&db, &ada, T0 + 1)).unwrap();
    let listed: Vec<(&str, &str, Option<i64>)> = logins
        .iter()
        .map(|l| (l.id.as_str(), l.kind.as_str(), l.last_seen_at))
        .collect();
    // The expired session of `with_user` is not listed; the device login was last seen at
    // its last refresh token.
    assert_eq!(
        listed,
        [("ses_2", "browser", None), ("fam_1", "device", Some(T0))]
    );
    assert_eq!(
        logins[1].client_name.as_deref(),
        Some("edgeauth CLI on laptop")
    );
    assert_eq!(logins[1].project.as_deref(), Some("default"));

    // A session's use is written at most every five minutes.
    let seen = logins::session_seen(&SessionId::new("ses_2"), None, T0 + 1).unwrap();
    assert_eq!(block_on(db.run(seen)).unwrap(), 1);
    assert!(logins::session_seen(&SessionId::new("ses_2"), Some(T0 + 1), T0 + 2).is_none());
    let later = T0 + logins::LAST_SEEN_GRANULARITY_MS + 1;
    assert!(logins::session_seen(&SessionId::new("ses_2"), Some(T0 + 1), later).is_some());
    let logins = block_on(LoginRecord::of_person(&db, &ada, T0 + 2)).unwrap();
    assert_eq!(logins[0].last_seen_at, Some(T0 + 1));

    // Ending one: the device login, with an event in its project.
    let model = event("", "", T0 + 3);
    let family = Login::Device(FamilyId::new("fam_1"));
    let one = logins::Which::One(&family);
    let ended = block_on(logins::end_logins(&db, &ada, one, "rev_1", &model, T0 + 3));
    assert_eq!(ended.unwrap(), 1);
    assert_eq!(
        db.count(
            "audit_events",
            "action = 'refresh_family.revoke' AND subject = 'fam_1' AND project = 'default'"
        ),
        1
    );
    // Every other one, however many (more than a listing shows), but the one kept; each with
    // what it made, each event once, however often it runs.
    for i in 0..logins::LIST_LIMIT + 1 {
        let (cookie, id) = (format!("another cookie {i}"), format!("ses_x{i}"));
        start_session(&db, &cookie, &id, &ada, T0, 60 * MINUTE);
    }
    let keep = Login::Session(SessionId::new("ses_x0"));
    let others = logins::Which::AllBut(Some(&keep));
    let ended = block_on(logins::end_logins(
        &db,
        &ada,
        others,
        "rev_2",
        &model,
        T0 + 3,
    ));
    // ses_2 and ses_x1 … ses_x100.
    assert_eq!(ended.unwrap(), logins::LIST_LIMIT as usize + 1);
    let again = block_on(logins::end_logins(
        &db,
        &ada,
        others,
        "rev_2",
        &model,
        T0 + 3,
    ));
    assert_eq!(again.unwrap(), 0);
    assert_eq!(
        db.count("sessions", "user_id = 'usr_ada' AND expires_at > 0"),
        1
    );
    assert_eq!(audit_count(&db, "session.delete"), logins::LIST_LIMIT + 1);
    assert_eq!(audit_count(&db, "refresh_family.revoke"), 1);
    assert_eq!(
        db.count("user_tokens", "id = 'ut_child' AND revoked_at IS NOT NULL"),
        1
    );
    // The kept one too, with all but none.
    let all = logins::Which::AllBut(None);
    let ended = block_on(logins::end_logins(&db, &ada, all, "rev_3", &model, T0 + 4));
    assert_eq!(ended.unwrap(), 1);
    assert!(block_on(LoginRecord::of_person(&db, &ada, T0 + 4))
        .unwrap()
        .is_empty());
    // Another person's are theirs still.
    assert_eq!(
        block_on(LoginRecord::of_person(&db, &bob, T0 + 4))
            .unwrap()
            .len(),
        1
    );
}

/// Runs the rotation batch of `old` for the successor `new` at `now`, settled as the Worker
/// settles it.
fn rotate(db: &Sqlite, old: &str, new: &str, now: i64) -> RefreshDecision {
    let audit = event("refresh_token.rotate", "fam_1", now);
    let rotation = block_on(RefreshTokenRecord::rotate(
        db,
        &hash(old),
        &hash(new),
        now,
        audit,
    ));
    let rotation = rotation.unwrap();
    refresh::arbitrate(rotation.spent, rotation.answerable)
}

fn refresh(db: &Sqlite, token: &str) -> Option<RefreshTokenRecord> {
    block_on(RefreshTokenRecord::find_by_hash(db, &hash(token))).unwrap()
}

/// What the Worker decides from the stored state, `new` being the presented token's derived
/// successor.
fn decided(db: &Sqlite, token: &str, new: &str, now: i64) -> RefreshDecision {
    let stored = refresh(db, token).map(|r| r.stored());
    refresh::decide(stored.as_ref(), &hash(new), now)
}

const WINDOW: i64 = refresh::REPLAY_WINDOW_MS;

#[test]
fn a_refresh_token_rotates_once_and_a_replay_gets_the_same_successor() {
    let db = Sqlite::migrated();
    family(&db);
    assert_eq!(
        decided(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    let spent = refresh(&db, "refresh 0").unwrap();
    assert_eq!(
        spent.stored(),
        StoredRefresh {
            used_at_ms: Some(T0 + MINUTE),
            replaced_by: Some(hash("refresh 1")),
            successor_spent: false,
            revoked_at_ms: None,
            family_revoked_at_ms: None,
            family_expires_at_ms: T0 + 30 * 24 * 60 * MINUTE,
        }
    );
    // Two identical requests at once (the same millisecond), or a retry moments later whose
    // first answer was lost: the same successor, and nothing more is written.
    for now in [T0 + MINUTE, T0 + MINUTE + 1, T0 + MINUTE + WINDOW - 1] {
        assert_eq!(
            decided(&db, "refresh 0", "refresh 1", now),
            RefreshDecision::Replay
        );
        assert_eq!(
            rotate(&db, "refresh 0", "refresh 1", now),
            RefreshDecision::Replay,
            "{} ms after the spend",
            now - T0 - MINUTE
        );
    }
    assert_eq!(refresh(&db, "refresh 0").unwrap(), spent, "unchanged");
    assert_eq!(db.count("refresh_tokens", "1"), 2, "one successor");
    // One audit event, by the run that spent the token; none for the replays.
    assert_eq!(audit_count(&db, "refresh_token.rotate"), 1);
    assert_eq!(db.count("refresh_families", "revoked_at IS NULL"), 1);
    let successor = refresh(&db, "refresh 1").unwrap();
    assert_eq!(successor.family_id, FamilyId::new("fam_1"));
    assert_eq!(successor.used_at, None);
    // The login lives on: the successor rotates.
    assert_eq!(
        rotate(&db, "refresh 1", "refresh 2", T0 + 2 * MINUTE),
        RefreshDecision::Rotate
    );
    assert!(refresh(&db, "refresh 0").unwrap().stored().successor_spent);
    assert_eq!(audit_count(&db, "refresh_token.rotate"), 2);
}

#[test]
fn a_replay_after_the_window_is_reuse() {
    let db = Sqlite::migrated();
    family(&db);
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    // At the window's end exactly, and later: reuse, in the Worker's read and in the batch.
    for now in [
        T0 + MINUTE + WINDOW,
        T0 + MINUTE + WINDOW + 1,
        T0 + 9 * MINUTE,
    ] {
        assert_eq!(
            decided(&db, "refresh 0", "refresh 1", now),
            RefreshDecision::Reuse
        );
        assert_eq!(
            rotate(&db, "refresh 0", "refresh 1", now),
            RefreshDecision::Reuse
        );
    }
    assert_eq!(db.count("refresh_tokens", "1"), 2);
}

#[test]
fn a_replay_after_the_successor_was_used_is_reuse_even_within_the_window() {
    let db = Sqlite::migrated();
    family(&db);
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    assert_eq!(
        rotate(&db, "refresh 1", "refresh 2", T0 + MINUTE + 1),
        RefreshDecision::Rotate
    );
    let now = T0 + MINUTE + 2;
    assert!(refresh(&db, "refresh 0").unwrap().stored().successor_spent);
    assert_eq!(
        decided(&db, "refresh 0", "refresh 1", now),
        RefreshDecision::Reuse
    );
    // Decided by the batch too (a read taken before the successor's use is stale).
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", now),
        RefreshDecision::Reuse
    );
    assert_eq!(db.count("refresh_tokens", "1"), 3);
}

#[test]
fn a_token_spent_for_another_successor_is_not_replayed() {
    let db = Sqlite::migrated();
    family(&db);
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    // Any other successor (a token spent before successors were derived had a random one).
    assert_eq!(
        decided(&db, "refresh 0", "refresh 9", T0 + MINUTE + 1),
        RefreshDecision::Reuse
    );
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 9", T0 + MINUTE + 1),
        RefreshDecision::Reuse
    );
    assert!(refresh(&db, "refresh 9").is_none(), "no second successor");
}

#[test]
fn a_revoked_or_capped_family_does_not_rotate_or_replay() {
    let db = Sqlite::migrated();
    family(&db);
    let cap = refresh(&db, "refresh 0").unwrap().family_expires_at;
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", cap),
        RefreshDecision::Reuse
    );
    assert!(refresh(&db, "refresh 1").is_none());
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    block_on(RefreshTokenRecord::revoke_family(
        &db,
        &FamilyId::new("fam_1"),
        T0 + MINUTE + 1,
        "rev_1",
        event("refresh_family.revoke", "fam_1", T0 + MINUTE + 1),
    ))
    .unwrap();
    // Within the window, the successor unused, but the family revoked: no answer.
    assert_eq!(
        decided(&db, "refresh 0", "refresh 1", T0 + MINUTE + 2),
        RefreshDecision::FamilyRevoked
    );
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE + 2),
        RefreshDecision::Reuse
    );
    assert_eq!(
        rotate(&db, "refresh 1", "refresh 2", T0 + MINUTE + 2),
        RefreshDecision::Reuse
    );
    assert_eq!(
        refresh(&db, "refresh 0").unwrap().family_revoked_at,
        Some(T0 + MINUTE + 1)
    );
}

#[test]
fn reuse_revokes_the_family_with_one_audit_event_even_if_revoked_twice() {
    let db = Sqlite::migrated();
    family(&db);
    assert_eq!(
        rotate(&db, "refresh 0", "refresh 1", T0 + MINUTE),
        RefreshDecision::Rotate
    );
    let revoke = |now, revocation: &str| {
        block_on(RefreshTokenRecord::revoke_family(
            &db,
            &FamilyId::new("fam_1"),
            now,
            revocation,
            event("refresh_family.revoke", "fam_1", now),
        ))
        .unwrap()
    };
    // Requests present the spent token: the first revokes, the others find it done, even in
    // the same millisecond (their audit events must not be recorded).
    assert!(revoke(T0 + 2 * MINUTE, "rev_1"));
    assert!(!revoke(T0 + 2 * MINUTE, "rev_2"));
    assert!(!revoke(T0 + 2 * MINUTE + 1, "rev_3"));
    // The revoking batch run again, as after a transient failure that hid its commit: it
    // records no second event.
    assert!(!revoke(T0 + 2 * MINUTE, "rev_1"));
    assert_eq!(audit_count(&db, "refresh_family.revoke"), 1);
    assert_eq!(
        refresh(&db, "refresh 1").unwrap().family_revoked_at,
        Some(T0 + 2 * MINUTE)
    );
}

#[test]
fn tokens_created_with_a_device_login_are_revoked_with_it() {
    let db = Sqlite::migrated();
    family(&db);
    let ada = with_user(&db, "usr_ada");
    let mut of_login = user_token("ut_f", &ada, "default", T0);
    of_login.parent = Some(Login::Device(FamilyId::new("fam_1")));
    insert(&db, &of_login, "f");
    let mut service = service_token("st_f", "default", T0);
    service.parent = Some(Login::Device(FamilyId::new("fam_1")));
    insert(&db, &service, "s");
    let independent = user_token("ut_i", &ada, "default", T0);
    insert(&db, &independent, "i");
    // The parent is stored and read back.
    let stored = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::UserTokens,
        &hash("f"),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(stored.parent, Some(Login::Device(FamilyId::new("fam_1"))));

    assert!(block_on(RefreshTokenRecord::revoke_family(
        &db,
        &FamilyId::new("fam_1"),
        T0 + 3,
        "rev_1",
        event("refresh_family.revoke", "fam_1", T0 + 3),
    ))
    .unwrap());
    for (table, id) in [("user_tokens", "ut_f"), ("service_tokens", "st_f")] {
        assert_eq!(
            db.count(table, &format!("id = '{id}' AND revoked_at = {}", T0 + 3)),
            1,
            "{id} ends with its device login"
        );
    }
    // A token created otherwise (by a token, the super token, the CLI login) is its own.
    assert_eq!(
        db.count("user_tokens", "id = 'ut_i' AND revoked_at IS NULL"),
        1
    );
    // The family as the creation path sees it: revoked, so no longer live.
    let found = block_on(FamilyRecord::find(&db, &FamilyId::new("fam_1")))
        .unwrap()
        .unwrap();
    assert!(!found.is_live(T0 + 4));
}

#[test]
fn a_token_of_a_device_login_is_stored_only_while_the_login_lives() {
    let db = Sqlite::migrated();
    family(&db);
    let ada = with_user(&db, "usr_ada");
    let mut live = user_token("ut_live", &ada, "default", T0);
    live.parent = Some(Login::Device(FamilyId::new("fam_1")));
    assert!(block_on(live.insert_created(
        &db,
        &hash("live"),
        event("user_token.create", "ut_live", T0),
        T0
    ))
    .unwrap());
    block_on(RefreshTokenRecord::revoke_family(
        &db,
        &FamilyId::new("fam_1"),
        T0 + 1,
        "rev_1",
        event("refresh_family.revoke", "fam_1", T0 + 1),
    ))
    .unwrap();
    // Created while (or after) the login was revoked: nothing stored, no audit event.
    let mut late = user_token("ut_late", &ada, "default", T0 + 2);
    late.parent = Some(Login::Device(FamilyId::new("fam_1")));
    assert!(!block_on(late.insert_created(
        &db,
        &hash("late"),
        event("user_token.create", "ut_late", T0 + 2),
        T0 + 2
    ))
    .unwrap());
    assert_eq!(db.count("user_tokens", "id = 'ut_late'"), 0);
    assert_eq!(audit_count(&db, "user_token.create"), 1);
    // A token of no login is stored as ever.
    let own = user_token("ut_own", &ada, "default", T0 + 2);
    assert!(block_on(own.insert_created(
        &db,
        &hash("own"),
        event("user_token.create", "ut_own", T0 + 2),
        T0 + 2
    ))
    .unwrap());
}

#[test]
fn tokens_created_with_a_session_end_with_it_and_only_while_it_lives() {
    let db = Sqlite::migrated();
    let ada = UserId::new("usr_ada");
    start_session(&db, "cookie", "ses_1", &ada, T0, 60 * MINUTE);
    start_session(&db, "other", "ses_2", &ada, T0, 60 * MINUTE);
    let of_session = |id: &str, session: &str, at: i64| {
        let mut token = user_token(id, &ada, "default", at);
        token.parent = Some(Login::Session(SessionId::new(session)));
        token
    };
    let create = |token: &TokenRecord, secret: &str, at: i64| {
        block_on(token.insert_created(
            &db,
            &hash(secret),
            event("user_token.create", token.id.as_str(), at),
            at,
        ))
        .unwrap()
    };
    assert!(create(&of_session("ut_a", "ses_1", T0), "a", T0));
    let mut service = service_token("st_a", "default", T0);
    service.parent = Some(Login::Session(SessionId::new("ses_1")));
    assert!(create(&service, "s", T0));
    assert!(create(&of_session("ut_b", "ses_2", T0), "b", T0));
    let stored = block_on(TokenRecord::find_by_hash(
        &db,
        TokenTable::UserTokens,
        &hash("a"),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(stored.parent, Some(Login::Session(SessionId::new("ses_1"))));
    assert_eq!(
        block_on(SessionRecord::live_until(&db, &SessionId::new("ses_1"), T0)).unwrap(),
        Some(T0 + 60 * MINUTE)
    );

    // Signing out of ses_1 revokes its tokens of both kinds, and only its.
    assert!(block_on(SessionRecord::delete(
        &db,
        &hash("cookie"),
        &SessionId::new("ses_1"),
        event("session.delete", "ses_1", T0 + 1),
        T0 + 1,
    ))
    .unwrap());
    for (table, id) in [("user_tokens", "ut_a"), ("service_tokens", "st_a")] {
        assert_eq!(
            db.count(
                table,
                &format!(
                    "id = '{id}' AND revoked_at = {} AND revocation_id = 'parent_ended'",
                    T0 + 1
                )
            ),
            1,
            "{id} ends with its session"
        );
    }
    assert_eq!(
        db.count("user_tokens", "id = 'ut_b' AND revoked_at IS NULL"),
        1
    );
    // An ended session is not live, and a token created with it is not stored.
    assert_eq!(
        block_on(SessionRecord::live_until(
            &db,
            &SessionId::new("ses_1"),
            T0 + 2
        ))
        .unwrap(),
        None
    );
    assert!(!create(
        &of_session("ut_late", "ses_1", T0 + 2),
        "late",
        T0 + 2
    ));
    assert_eq!(db.count("user_tokens", "id = 'ut_late'"), 0);
    // Nor one created with an expired session.
    assert_eq!(
        block_on(SessionRecord::live_until(
            &db,
            &SessionId::new("ses_2"),
            T0 + 60 * MINUTE
        ))
        .unwrap(),
        None
    );
    assert!(!create(
        &of_session("ut_expired", "ses_2", T0 + 60 * MINUTE),
        "expired",
        T0 + 60 * MINUTE
    ));
    assert_eq!(audit_count(&db, "user_token.create"), 3);
}

#[test]
fn a_projects_roles_are_set_replaced_and_removed_with_their_audit_events() {
    use super::ProjectRoles;
    use edgeauth_core::{ProjectName, TeamRoles};
    let db = Sqlite::migrated();
    let project = ProjectName::parse("alpha").unwrap();
    assert_eq!(block_on(ProjectRoles::find(&db, &project)).unwrap(), None);
    let event = |action| AuditEvent {
        at: T0,
        project: Some("alpha"),
        actor: Actor::Super,
        action,
        subject: "roles",
        detail: "{}".into(),
        person: None,
        trace: &Trace::NONE,
    };
    let roles = TeamRoles {
        admin_teams: vec!["ops".into()],
        member_teams: vec![],
    };
    block_on(ProjectRoles::set(&db, &project, &roles, event("roles.set"))).unwrap();
    let again = TeamRoles {
        admin_teams: vec!["sre".into()],
        member_teams: vec!["dev".into(), "qa".into()],
    };
    block_on(ProjectRoles::set(&db, &project, &again, event("roles.set"))).unwrap();
    let stored = block_on(ProjectRoles::find(&db, &project))
        .unwrap()
        .unwrap();
    assert_eq!(stored.teams(), again);
    assert_eq!(stored.updated_by, "super");
    // A person in `dev` has a role in alpha; a person in none of its teams has none there.
    let granting = |teams: &[&str]| {
        let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
        block_on(ProjectRoles::granting(&db, &teams)).unwrap()
    };
    assert_eq!(granting(&["dev"]), std::slice::from_ref(&project));
    assert_eq!(granting(&["sre"]), std::slice::from_ref(&project));
    assert!(granting(&["ops"]).is_empty());
    assert!(granting(&[]).is_empty());
    // Another project is untouched.
    let beta = ProjectName::parse("beta").unwrap();
    assert_eq!(block_on(ProjectRoles::find(&db, &beta)).unwrap(), None);
    assert!(block_on(ProjectRoles::remove(&db, &project, event("roles.reset"))).unwrap());
    assert_eq!(block_on(ProjectRoles::find(&db, &project)).unwrap(), None);
    // Removing what is not there changes nothing and records nothing.
    assert!(!block_on(ProjectRoles::remove(&db, &project, event("roles.reset"))).unwrap());
    let mut statement = db
        .conn()
        .prepare("SELECT action FROM audit_events WHERE subject = 'roles' ORDER BY id")
        .unwrap();
    let actions: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions, ["roles.set", "roles.set", "roles.reset"]);
}

#[test]
fn a_projects_lifetime_policy_is_set_replaced_and_removed_with_its_audit_events() {
    use edgeauth_core::lifetime::{KindLimits, LifetimePolicy};
    let db = Sqlite::migrated();
    let alpha = project("alpha");
    assert_eq!(block_on(ProjectLifetime::find(&db, &alpha)).unwrap(), None);
    let event = |action| AuditEvent {
        at: T0,
        project: Some("alpha"),
        actor: Actor::Super,
        action,
        subject: "lifetime_policy",
        detail: "{}".into(),
        person: None,
        trace: &Trace::NONE,
    };
    let policy = LifetimePolicy {
        service_tokens: KindLimits {
            max_days: Some(90),
            default_days: Some(30),
        },
        user_tokens: KindLimits {
            max_days: Some(365),
            default_days: None,
        },
        unused_days: Some(60),
    };
    block_on(ProjectLifetime::set(
        &db,
        &alpha,
        &policy,
        event("lifetime_policy.set"),
    ))
    .unwrap();
    let stored = block_on(ProjectLifetime::find(&db, &alpha))
        .unwrap()
        .unwrap();
    assert_eq!(stored.policy(), policy);
    assert_eq!(
        (stored.updated_at, stored.updated_by.as_str()),
        (T0, "super")
    );
    // Replaced whole: what the new policy does not set is no longer set.
    let again = LifetimePolicy {
        unused_days: Some(7),
        ..LifetimePolicy::default()
    };
    block_on(ProjectLifetime::set(
        &db,
        &alpha,
        &again,
        event("lifetime_policy.set"),
    ))
    .unwrap();
    let stored = block_on(ProjectLifetime::find(&db, &alpha))
        .unwrap()
        .unwrap();
    assert_eq!(stored.policy(), again);
    // Another project is untouched.
    assert_eq!(
        block_on(ProjectLifetime::find(&db, &project("beta"))).unwrap(),
        None
    );
    assert!(block_on(ProjectLifetime::remove(
        &db,
        &alpha,
        event("lifetime_policy.reset")
    ))
    .unwrap());
    assert_eq!(block_on(ProjectLifetime::find(&db, &alpha)).unwrap(), None);
    // Removing what is not there changes nothing and records nothing.
    assert!(!block_on(ProjectLifetime::remove(
        &db,
        &alpha,
        event("lifetime_policy.reset")
    ))
    .unwrap());
    assert_eq!(audit_count(&db, "lifetime_policy.set"), 2);
    assert_eq!(audit_count(&db, "lifetime_policy.reset"), 1);
}

#[test]
fn a_project_holds_at_most_max_policies_live_found_oldest_first() {
    use edgeauth_core::trust::{NewTrustPolicy, MAX_POLICIES};
    let db = Sqlite::migrated();
    let alpha = project("alpha");
    let issuer = "https://token.actions.githubusercontent.com";
    let new = |name: &str| {
        NewTrustPolicy::from_json(
            &serde_json::json!({"name": name, "issuer": issuer,
                                "conditions": {"repository": "o/r"}, "workspaces": ["*"]}),
            "https://auth.example.com",
        )
        .unwrap()
    };
    let insert = |id: String, at: i64| {
        let record =
            TrustPolicyRecord::new(id.clone(), alpha.clone(), new(&id), "super".into(), at);
        block_on(record.insert(&db, event("trust_policy.create", "p", at))).unwrap()
    };
    for i in 0..MAX_POLICIES {
        assert!(insert(format!("tp_{i:03}"), T0 + i64::from(i)));
    }
    // One more is refused, and nothing of it is written, its audit event included.
    assert!(!insert("tp_over".into(), T0 + 1000));
    assert_eq!(
        audit_count(&db, "trust_policy.create"),
        i64::from(MAX_POLICIES)
    );
    let live = block_on(TrustPolicyRecord::live(&db, &alpha)).unwrap();
    assert_eq!(live.len(), MAX_POLICIES as usize);
    assert_eq!(
        live[0].id, "tp_000",
        "oldest first: the order the exchange tries"
    );
    // Another project has room of its own.
    let beta_record =
        TrustPolicyRecord::new("tp_b".into(), project("beta"), new("b"), "super".into(), T0);
    assert!(block_on(beta_record.insert(&db, event("trust_policy.create", "p", T0))).unwrap());
    // A deleted one is no longer found nor live, and makes room.
    assert!(block_on(TrustPolicyRecord::find(&db, &alpha, "tp_007"))
        .unwrap()
        .is_some());
    assert!(
        block_on(TrustPolicyRecord::find(&db, &project("beta"), "tp_007"))
            .unwrap()
            .is_none()
    );
    assert!(block_on(TrustPolicyRecord::delete(
        &db,
        &alpha,
        "tp_007",
        event("trust_policy.delete", "tp_007", T0),
        T0 + 2000
    ))
    .unwrap());
    assert!(block_on(TrustPolicyRecord::find(&db, &alpha, "tp_007"))
        .unwrap()
        .is_none());
    assert!(insert("tp_after".into(), T0 + 3000));
}

#[test]
fn the_providers_refresh_token_is_kept_per_person_and_renewed_once_per_race() {
    let db = Sqlite::migrated();
    let ada = person("usr_ada", "https://idp.test", "ada", "ada@example.test");
    let session = |id: &'static str, at: i64| NewSession {
        hash: Box::leak(Box::new(hash(id))),
        id: Box::leak(Box::new(SessionId::new(id))),
        created_at: at,
        expires_at: at + MINUTE,
        trace: &Trace::NONE,
    };
    let stored = block_on(ada.sign_in(&db, &session("ses_1", T0), "{}", Some("v1.first"))).unwrap();
    let grant = block_on(ProviderGrant::find(&db, &stored.id))
        .unwrap()
        .unwrap();
    assert_eq!(grant.provider_refresh.as_deref(), Some("v1.first"));
    assert_eq!(grant.teams_checked_at, Some(T0));
    assert_eq!(grant.subject, "ada");
    // The turn to ask is taken once per recheck period: a racing refresh does not ask.
    assert_eq!(
        block_on(ProviderGrant::take_turn(
            &db,
            &stored.id,
            10_000,
            T0 + 5_000
        ))
        .unwrap(),
        None
    );
    let turn = block_on(ProviderGrant::take_turn(
        &db,
        &stored.id,
        10_000,
        T0 + 10_000,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(turn.provider_refresh.as_deref(), Some("v1.first"));
    // Held: another refresh does not ask, however small the recheck period (0 included),
    // until the turn is given back or runs out.
    for recheck in [10_000, 0] {
        assert_eq!(
            block_on(ProviderGrant::take_turn(
                &db,
                &stored.id,
                recheck,
                T0 + 10_001
            ))
            .unwrap(),
            None
        );
    }
    let after_lease = T0 + 10_000 + super::people::TEAMS_LEASE_MS;
    assert!(
        block_on(ProviderGrant::take_turn(&db, &stored.id, 0, after_lease))
            .unwrap()
            .is_some(),
        "a turn never given back runs out"
    );
    // Two refreshes with the same token: the first writes, the second finds it changed.
    let teams = vec!["ops".to_owned()];
    assert!(block_on(ProviderGrant::renewed(
        &db,
        &stored.id,
        "v1.first",
        &teams,
        "v1.second",
        T0 + 5
    ))
    .unwrap());
    assert!(!block_on(ProviderGrant::renewed(
        &db,
        &stored.id,
        "v1.first",
        &[],
        "v1.third",
        T0 + 6
    ))
    .unwrap());
    let grant = block_on(ProviderGrant::find(&db, &stored.id))
        .unwrap()
        .unwrap();
    assert_eq!(grant.provider_refresh.as_deref(), Some("v1.second"));
    assert_eq!(grant.teams, teams);
    assert_eq!(grant.teams_checked_at, Some(T0 + 5));
    // A sign-in with a provider that issued none forgets the one kept.
    let later = UserRecord {
        last_login_at: T0 + 10,
        ..ada
    };
    block_on(later.sign_in(&db, &session("ses_2", T0 + 10), "{}", None)).unwrap();
    let grant = block_on(ProviderGrant::find(&db, &stored.id))
        .unwrap()
        .unwrap();
    assert_eq!(grant.provider_refresh, None);
    assert_eq!(grant.teams_checked_at, Some(T0 + 10));
    assert!(!block_on(ProviderGrant::renewed(
        &db,
        &stored.id,
        "v1.second",
        &teams,
        "v1.x",
        T0 + 11
    ))
    .unwrap());
}

#[test]
fn a_roll_stores_the_successor_and_ends_the_old_secret_only_while_it_is_live() {
    let db = Sqlite::migrated();
    let old = service_token("st_old", "alpha", T0);
    insert(&db, &old, "old secret");
    let expiry = |id: &str| -> Option<i64> {
        db.conn()
            .query_row(
                "SELECT expires_at FROM service_tokens WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    // With a grace: the successor stored with the same expiry, the old one's shortened.
    let successor = service_token("st_new", "alpha", T0);
    let until = Some(T0 + MINUTE);
    assert!(block_on(old.roll(
        &db,
        &successor,
        &hash("new secret"),
        until,
        "rev_1",
        event("service_token.roll", "st_old", T0),
        T0
    ))
    .unwrap());
    assert_eq!(expiry("st_new"), old.expires_at);
    assert_eq!(expiry("st_old"), until);
    assert_eq!(audit_count(&db, "service_token.roll"), 1);
    // At once: revoked with this roll's revocation id.
    let third = service_token("st_third", "alpha", T0);
    assert!(block_on(successor.roll(
        &db,
        &third,
        &hash("third secret"),
        None,
        "rev_2",
        event("service_token.roll", "st_new", T0),
        T0
    ))
    .unwrap());
    assert_eq!(
        db.count(
            "service_tokens",
            "id = 'st_new' AND revocation_id = 'rev_2'"
        ),
        1
    );
    // A revoked token, or one whose secret has run out, rolls into nothing: no row, no event.
    for (gone, at) in [(&successor, T0), (&old, T0 + 2 * MINUTE)] {
        let never = service_token("st_never", "alpha", T0);
        assert!(!block_on(gone.roll(
            &db,
            &never,
            &hash("never"),
            None,
            "rev_3",
            event("service_token.roll", "x", at),
            at
        ))
        .unwrap());
        assert_eq!(db.count("service_tokens", "id = 'st_never'"), 0);
    }
    assert_eq!(audit_count(&db, "service_token.roll"), 2);
}

#[test]
fn retention_deletes_what_ended_long_enough_ago_and_keeps_the_rest() {
    use super::retention::{self, ENDED_GRACE_MS, ENDED_TOKEN_RETENTION_MS};
    const DAY: i64 = 24 * 60 * MINUTE;
    let db = Sqlite::migrated();
    let now = T0 + 400 * DAY;
    // Tokens: ended long ago (revoked; expired), ended lately, live.
    let token = |id: &str, expires_at: Option<i64>| {
        let mut t = service_token(id, "alpha", T0);
        t.expires_at = expires_at;
        insert(&db, &t, id);
        t
    };
    let revoked_long_ago = token("st_revoked_old", None);
    block_on(revoked_long_ago.revoke(&db, T0, "rev", event("r", "x", T0))).unwrap();
    token("st_expired_old", Some(now - ENDED_TOKEN_RETENTION_MS - 1));
    token("st_expired_lately", Some(now - DAY));
    token("st_live", None);
    // Sessions: ended long enough ago, ended lately, live.
    let user = with_user(&db, "usr_r");
    for (id, expires_at) in [
        ("ses_old", now - ENDED_GRACE_MS - 1),
        ("ses_lately", now - 60_000),
        ("ses_live", now + DAY),
    ] {
        db.conn()
            .execute(
                "INSERT INTO sessions (session_hash, id, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![format!("h_{id}"), id, user.as_str(), T0, expires_at],
            )
            .unwrap();
    }
    // Audit events: beyond 30 days' retention, within it.
    for (subject, at) in [("old", now - 31 * DAY), ("recent", now - DAY)] {
        block_on(event("retention.test", subject, at).record(&db)).unwrap();
    }
    let swept = block_on(retention::sweep(&db, now, 30 * DAY)).unwrap();
    let deleted = |table: &str| swept.0.iter().find(|(t, _)| *t == table).map(|(_, n)| *n);
    assert_eq!(deleted("service_tokens"), Some(2));
    assert_eq!(
        db.count("service_tokens", "1"),
        2,
        "the lately expired one is still listed as expired, the live one stays"
    );
    assert_eq!(db.count("service_tokens", "id = 'st_live'"), 1);
    assert_eq!(db.count("sessions", "id IN ('ses_lately', 'ses_live')"), 2);
    assert_eq!(db.count("sessions", "id = 'ses_old'"), 0);
    assert_eq!(db.count("audit_events", "action = 'retention.test'"), 1);
    assert_eq!(db.count("audit_events", "subject = 'recent'"), 1);
    // Again: nothing more to delete.
    let again = block_on(retention::sweep(&db, now, 30 * DAY)).unwrap();
    assert!(again.0.iter().all(|(_, n)| *n == 0), "{again:?}");
}
