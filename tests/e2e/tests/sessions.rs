//! The logins a person controls (docs/api.md, "Sessions"): `GET /api/sessions` lists their
//! browser sessions and device logins with where each was made, `DELETE /api/sessions/{id}`
//! ends one, `DELETE /api/sessions?except_current=true` all the others; each with what was
//! made with it, and audited. (`edgeauth logout --all`: device_login.rs.)

use edgeauth_e2e::credentials::{device_login, sign_in_with_teams};
use edgeauth_e2e::oidc::{Session, MEMBER_TEAM};
use edgeauth_e2e::store::table_rows;
use edgeauth_e2e::*;
use serde_json::{json, Value};

fn sessions(session: &Session) -> Vec<Value> {
    let listed = session.get("/api/sessions").send().expect_json(200);
    listed["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions in {listed}"))
        .clone()
}

fn refresh(instance: &Instance, refresh_token: &str) -> Response {
    instance
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
}

#[test]
fn a_person_lists_their_logins_and_signs_them_out_one_or_all_others() {
    let main = Instance::main();
    let project = unique("sessions");
    let subject = unique("sessions");
    let here = sign_in_with_teams(&main, &subject, &[MEMBER_TEAM]);
    // The same person in another browser, with a token made there, and a device login.
    let there = sign_in_with_teams(&main, &subject, &[MEMBER_TEAM]);
    let made_there = there.create_token(&project, &json!({"name": "made there"}));
    let device = device_login(&here, &project);
    let me = here.me();

    let listed = sessions(&here);
    assert_eq!(listed.len(), 3, "{listed:#?}");
    let browsers: Vec<&Value> = listed.iter().filter(|l| l["kind"] == "browser").collect();
    assert_eq!(browsers.len(), 2, "{listed:#?}");
    let current: Vec<&Value> = listed.iter().filter(|l| l["current"] == true).collect();
    assert_eq!(
        current.len(),
        1,
        "only this browser is current: {listed:#?}"
    );
    assert_eq!(current[0]["kind"], "browser");
    // Where each was made: the sign-in's address (wrangler dev's loopback here).
    assert!(browsers.iter().all(|b| b["ip"].is_string()), "{listed:#?}");
    let device_row = listed
        .iter()
        .find(|l| l["kind"] == "device")
        .unwrap_or_else(|| panic!("no device login in {listed:#?}"));
    assert_eq!(device_row["project"], project.as_str());
    assert_eq!(device_row["client_name"], "edgeauth e2e");
    let other_id = browsers
        .iter()
        .find(|b| b["current"] == false)
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .unwrap();
    // The other browser's list marks its own session instead.
    let seen_there = sessions(&there);
    let there_current = seen_there.iter().find(|l| l["current"] == true).unwrap();
    assert_eq!(there_current["id"], other_id.as_str());

    // Signing the other browser out: its cookie and the token made with it stop.
    here.write("DELETE", &format!("/api/sessions/{other_id}"))
        .send()
        .expect_status(204);
    there
        .get("/api/users/me")
        .send()
        .expect_error(401, "unauthorized");
    whoami(&main, &made_there.token, &project).expect_invalid_token();
    // Gone, unknown and another person's are all 404.
    for id in [other_id.as_str(), "ses_unknown", "fam_unknown"] {
        here.write("DELETE", &format!("/api/sessions/{id}"))
            .send()
            .expect_error(404, "not_found");
    }
    let stranger = sign_in_with_teams(&main, &unique("sessions-stranger"), &[MEMBER_TEAM]);
    let this_browser = current[0]["id"].as_str().unwrap().to_owned();
    for id in [device_row["id"].as_str().unwrap(), this_browser.as_str()] {
        stranger
            .write("DELETE", &format!("/api/sessions/{id}"))
            .send()
            .expect_error(404, "not_found");
    }
    // A narrowed token of the person is not the person: it neither sees nor ends their
    // logins, nor reads their audit trail.
    let narrowed = here.create_token(
        &project,
        &json!({"name": "narrowed", "workspaces": ["staging"]}),
    );
    for (method, path) in [
        ("GET", "/api/sessions"),
        ("DELETE", "/api/sessions"),
        ("DELETE", "/api/sessions/ses_x"),
        ("GET", "/api/audit"),
    ] {
        let refused = main
            .request(method, path)
            .bearer(&narrowed.token)
            .project(&project)
            .send()
            .expect_error(403, "forbidden");
        assert!(
            refused.contains("covers every workspace"),
            "{path}: {refused}"
        );
    }
    assert_eq!(sessions(&here).len(), 2, "nothing was ended");

    // Everywhere else: the device login ends, this browser goes on.
    let ended = here
        .write("DELETE", "/api/sessions?except_current=true")
        .send()
        .expect_json(200);
    assert_eq!(ended, json!({"ended": 1}));
    let description = refresh(&main, &device.refresh_token).json()["error"].clone();
    assert_eq!(description, "invalid_grant");
    assert_eq!(here.me()["id"], me["id"]);
    assert_eq!(sessions(&here).len(), 1);
    // Audited, as the person's own.
    let events: Vec<_> = table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| {
            row["person"] == me["id"]
                && matches!(
                    row["action"].as_str(),
                    Some("session.delete" | "refresh_family.revoke")
                )
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events
        .iter()
        .all(|e| e["detail"].as_str().unwrap().contains("signed_out")));

    // What it says to fix.
    here.write("DELETE", "/api/sessions?except_current=maybe")
        .send()
        .expect_error(400, "bad_request");
    let service = mint_service_token(&main, &super_token(), &project, "svc", &["*"]);
    main.get("/api/sessions")
        .bearer(&service.token)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    main.get("/api/sessions")
        .send()
        .expect_error(401, "unauthorized");
}
