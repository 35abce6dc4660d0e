//! Retention (README, "Retention"): the Cron Trigger's handler deletes what ended long enough
//! ago and keeps everything else. Run here as `wrangler dev --test-scheduled` runs it
//! (`GET /__scheduled`), on PRIVATE (whose D1 few tests write to), after aging rows directly in
//! its D1 (the test also holds `exclusive()`).

use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::{exclusive, ADMIN_TEAM};
use edgeauth_e2e::store::{set_integer, table_rows};
use edgeauth_e2e::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[test]
fn the_scheduled_retention_deletes_what_ended_long_ago_and_nothing_else() {
    let _alone = exclusive();
    let main = Instance::private();
    let persist = main.persist_dir();
    let project = unique("retention");
    let now = now_ms();

    // A token revoked 91 days ago, and one live.
    let old = mint_service_token(&main, &super_token(), &project, "old", &["*"]);
    main.delete(&format!("/api/service-tokens/{}", old.id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_status(204);
    let live = mint_service_token(&main, &super_token(), &project, "live", &["*"]);
    // A session that ended two days ago, and one live.
    let ended = sign_in_with_teams(&main, &unique("retention-ended"), &[ADMIN_TEAM]);
    let current = sign_in_with_teams(&main, &unique("retention-live"), &[ADMIN_TEAM]);
    let ended_id = ended.me()["id"].as_str().unwrap().to_owned();

    // Aged behind the Worker's back, and the old token's audit events made 400 days old.
    assert_eq!(
        set_integer(
            &persist,
            "service_tokens",
            "revoked_at",
            now - 91 * DAY_MS,
            "id",
            &old.id
        ),
        1
    );
    assert_eq!(
        set_integer(
            &persist,
            "sessions",
            "expires_at",
            now - 2 * DAY_MS,
            "user_id",
            &ended_id
        ),
        1
    );
    assert_eq!(
        set_integer(
            &persist,
            "audit_events",
            "at",
            now - 400 * DAY_MS,
            "subject",
            &old.id
        ),
        2,
        "its create and revoke events"
    );

    main.get("/__scheduled?cron=17+3+*+*+*")
        .send()
        .expect_status(200);

    let tokens = table_rows(&persist, "service_tokens");
    assert!(
        tokens.iter().all(|row| row["id"] != old.id.as_str()),
        "the token revoked 91 days ago is gone"
    );
    assert!(tokens.iter().any(|row| row["id"] == live.id.as_str()));
    assert!(whoami(&main, &live.token, &project).status == 200);
    let sessions = table_rows(&persist, "sessions");
    assert!(
        sessions
            .iter()
            .all(|row| row["user_id"] != ended_id.as_str()),
        "the session that ended two days ago is gone"
    );
    current.me();
    let events = table_rows(&persist, "audit_events");
    assert!(
        events.iter().all(|row| row["subject"] != old.id.as_str()),
        "events older than AUDIT_RETENTION_DAYS are gone"
    );
    assert!(
        events.iter().any(|row| row["subject"] == live.id.as_str()),
        "recent events stay"
    );
}
