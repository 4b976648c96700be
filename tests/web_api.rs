//! The web room against a real `guichet serve`: login refused and logged, role checks on
//! pages and API, CSRF on form posts, the OpenAPI document, and a report export.

mod support;
#[path = "support/web.rs"]
mod web;

use guichet_tickets::Store;
use support::*;
use web::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";

#[tokio::test(flavor = "multi_thread")]
async fn logins_roles_csrf_and_the_openapi_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "web_api").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![],
            },
        );
        check_server(&server, &db).await;
    }
}

/// Every check, on one server and its database.
async fn check_server(server: &Server, db: &Db) {
    let base = format!("http://{}", server.http);
    let c = http();

    // A wrong password is refused and lands in the security log.
    let wrong = post_login(server, "amelie.martin", "pas-le-bon-mot-de-passe").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Identifiant ou mot de passe incorrect")
    );
    let store = Store::open(&db.url()).await.expect("store");
    let events = store.security_events_for("amelie.martin").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].event.as_str(), events[0].success),
        ("login", false)
    );
    assert_eq!(events[0].remote_addr.as_deref(), Some("127.0.0.1"));

    // Seeded accounts hold argon2 hashes, never the configured password.
    let amelie = store.agent("amelie.martin").await.unwrap().expect("seeded");
    let hash = amelie.password_hash.expect("hash");
    assert!(hash.starts_with("$argon2id$") && !hash.contains(DEMO_PASSWORD));

    // An agent gets 403 on supervisor pages and API routes.
    let agent = session_cookie(server, "amelie.martin", DEMO_PASSWORD).await;
    for path in [
        "/superviseur/messages",
        "/superviseur/mur",
        "/superviseur/mur/flux",
        "/api/v1/snapshot",
        "/api/v1/journal",
        "/api/v1/lines/8585/messages/crise",
        "/api/v1/reports?from=2026-11-01&to=2026-11-25",
    ] {
        let r = c
            .get(format!("{base}{path}"))
            .header(reqwest::header::COOKIE, &agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let desk = c
        .get(format!("{base}/agent"))
        .header(reqwest::header::COOKIE, &agent)
        .send()
        .await
        .unwrap();
    assert_eq!(desk.status(), 200);
    assert!(desk.text().await.unwrap().contains("louvre-hotline"));
    // Without a session: the login page for pages, 401 JSON for the API.
    let anonymous = c
        .get(format!("{base}/superviseur/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/connexion");
    assert_eq!(
        c.get(format!("{base}/api/v1/snapshot"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // A supervisor's form POST without the CSRF token is refused, and nothing changes.
    let supervisor = session_cookie(server, "chloe.durand", DEMO_PASSWORD).await;
    let no_csrf = c
        .post(format!("{base}/superviseur/messages"))
        .header(reqwest::header::COOKIE, &supervisor)
        .form(&[("line", "8585"), ("kind", "crise"), ("text", "Panne")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let no_csrf_api = c
        .delete(format!("{base}/api/v1/lines/8585/messages/crise"))
        .header(reqwest::header::COOKIE, &supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf_api.status(), 403);
    let now = chrono::DateTime::parse_from_rfc3339(OPEN_HOURS)
        .unwrap()
        .to_utc();
    assert!(
        store
            .active_message(
                "8585",
                guichet_tickets::admin::MessageKind::Crisis,
                now + chrono::Duration::hours(1)
            )
            .await
            .unwrap()
            .is_none()
    );

    // The supervisor reads the snapshot and a report; bad parameters get a JSON 400.
    let snapshot: serde_json::Value = c
        .get(format!("{base}/api/v1/snapshot"))
        .header(reqwest::header::COOKIE, &supervisor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        snapshot["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "louvre-hotline")
    );
    let report: serde_json::Value = c
        .get(format!(
            "{base}/api/v1/reports?from=2026-11-01&to=2026-11-25&period=week"
        ))
        .header(reqwest::header::COOKIE, &supervisor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["period"], "week");
    assert!(!report["rows"].as_array().unwrap().is_empty());
    let csv = c
        .get(format!(
            "{base}/api/v1/reports?from=2026-11-01&to=2026-11-25&period=week&format=csv"
        ))
        .header(reqwest::header::COOKIE, &supervisor)
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert_eq!(
        csv.lines().count(),
        report["rows"].as_array().unwrap().len() + 1
    );
    let xlsx = c
        .get(format!(
            "{base}/api/v1/reports?from=2026-11-01&to=2026-11-25&period=week&format=xlsx"
        ))
        .header(reqwest::header::COOKIE, &supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    assert!(
        xlsx.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".xlsx\"")
    );
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));
    let bad = c
        .get(format!(
            "{base}/api/v1/reports?from=2026-11-25&to=2026-11-01"
        ))
        .header(reqwest::header::COOKIE, &supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: serde_json::Value = bad.json().await.unwrap();
    assert!(bad["error"].as_str().unwrap().contains("from"));

    // The OpenAPI document lists every route.
    let doc: serde_json::Value = c
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/snapshot",
        "/lines/{line}/messages/{kind}",
        "/journal",
        "/reports",
        "/session",
        "/messages",
        "/events",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(
        doc["paths"]["/lines/{line}/messages/{kind}"]
            .get("put")
            .is_some()
    );
}
