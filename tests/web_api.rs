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
        check_desk(&server, &db).await;
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
        "/tickets",
        "/tickets/{id}",
        "/callbacks",
        "/callbacks/{id}/call",
        "/calls/{id}/call-back",
        "/agent/call",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(
        doc["paths"]["/lines/{line}/messages/{kind}"]
            .get("put")
            .is_some()
    );
}

/// The agent's desk API on this database: tickets (French field errors, VIP → P0 through the
/// directory, completion without duplicate), callbacks (CSRF, the switchboard's refusal).
async fn check_desk(server: &Server, db: &Db) {
    let base = format!("http://{}", server.http);
    let c = http();
    let store = Store::open(&db.url()).await.expect("store");
    let agent = session_cookie(server, "amelie.martin", DEMO_PASSWORD).await;
    let info: serde_json::Value = c
        .get(format!("{base}/api/v1/session"))
        .header(reqwest::header::COOKIE, &agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = info["csrf_token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: serde_json::Value, token: Option<&str>| {
        let mut r = c
            .post(format!("{base}{path}"))
            .header(reqwest::header::COOKIE, &agent)
            .json(&body);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.send()
    };
    // Nobody on the call: the screen pop is empty.
    let pop: serde_json::Value = c
        .get(format!("{base}/api/v1/agent/call"))
        .header(reqwest::header::COOKIE, &agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(pop.is_null(), "{pop}");
    let body =
        serde_json::json!({"nature": "demande", "title": "", "requester_name": "Jean Dupont"});
    assert_eq!(
        post("/api/v1/tickets", body.clone(), None)
            .await
            .unwrap()
            .status(),
        403
    );
    let bad = post("/api/v1/tickets", body, Some(&csrf)).await.unwrap();
    assert_eq!(bad.status(), 422);
    let bad: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(bad["fields"]["title"], "Le titre est obligatoire.");
    assert_eq!(
        bad["fields"]["nature"],
        "Choisissez la nature : incident, demande ou assistance."
    );
    let created = post(
        "/api/v1/tickets",
        serde_json::json!({"nature": "request", "title": "Nouveau poste", "requester_name": "Jean Dupont", "urgency": "severe", "impact": "critique"}),
        Some(&csrf),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let t: serde_json::Value = created.json().await.unwrap();
    assert_eq!(t["priority"], "P0", "{t}");
    let id = t["id"].as_i64().unwrap();
    let updated = c
        .put(format!("{base}/api/v1/tickets/{id}"))
        .header(reqwest::header::COOKIE, &agent)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"nature": "request", "title": "Nouveau poste", "requester_name": "Jean Dupont", "urgency": "moyenne", "impact": "majeur", "outcome": "resolved_online"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let t = store.ticket(id).await.unwrap();
    assert_eq!(t.priority.code(), "P3");
    assert_eq!(t.status.as_str(), "resolved");

    // Callbacks: listed; the switchboard refuses (Amélie's desk phone is not registered) and
    // says why in French; the attempt is journaled.
    let now = chrono::DateTime::parse_from_rfc3339(OPEN_HOURS)
        .unwrap()
        .to_utc();
    let request = store
        .create_callback(
            None,
            ORDINARY_NUMBER,
            Some("Julien Moreau"),
            "louvre-hotline",
            now,
        )
        .await
        .unwrap();
    let list: serde_json::Value = c
        .get(format!("{base}/api/v1/callbacks"))
        .header(reqwest::header::COOKIE, &agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == request),
        "{list}"
    );
    let path = format!("/api/v1/callbacks/{request}/call");
    assert_eq!(
        post(&path, serde_json::json!({}), None)
            .await
            .unwrap()
            .status(),
        403
    );
    let refused = post(&path, serde_json::json!({}), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert!(!refused["error"].as_str().unwrap().is_empty(), "{refused}");
    assert!(store.pending_callback(request).await.unwrap().is_some());
}
