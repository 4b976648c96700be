//! Dashboards and API tokens against a real `guichet serve`, on SQLite and PostgreSQL: seeded
//! calls and tickets give the hand-computed figures on the page and in the API; every CSV
//! export's cells equal the dashboard's; bearer tokens are accepted with their role, refused
//! once revoked, journaled, and stored hashed; agents cannot reach any of it.

#[path = "support/dashboard_seed.rs"]
mod dashboard_seed;
mod support;
#[path = "support/web.rs"]
mod web;

use chrono::Duration;
use dashboard_seed::{seed, t};
use guichet_tickets::Store;
use serde_json::Value;
use support::*;
use web::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
const ADMIN_PASSWORD: &str = "Guichet-Admin-2026!";

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_exports_and_api_tokens_on_a_real_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "dashboard_api").await {
        let store = Store::open(&db.url()).await.expect("store");
        seed(&store).await;
        store.close().await;
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![],
            },
        );
        check_dashboards(&server).await;
        check_tokens(&server, &db).await;
    }
}

async fn get(url: &str, auth: (&str, &str)) -> reqwest::Response {
    http()
        .get(url)
        .header(auth.0, auth.1)
        .send()
        .await
        .expect("GET")
}

fn row<'a>(table: &'a Value, first: &str) -> &'a Vec<Value> {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap())
        .find(|r| r[0] == first)
        .unwrap_or_else(|| panic!("no row {first} in {table}"))
}

fn nums(r: &[Value]) -> Vec<Option<f64>> {
    r[1..].iter().map(Value::as_f64).collect()
}

/// The CSV body as rows of fields (no field of these tables holds a comma or a quote).
fn csv_rows(body: &str) -> Vec<Vec<String>> {
    body.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

async fn check_dashboards(server: &Server) {
    let base = format!("http://{}", server.http);
    let supervisor = session_cookie(server, "chloe.durand", DEMO_PASSWORD).await;
    let cookie = ("cookie", supervisor.as_str());

    let json: Value = get(
        &format!("{base}/api/v1/dashboards?periode=aujourdhui"),
        cookie,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(json["granularity"], "hour");
    assert_eq!(json["from"], "2026-11-24");
    let tables = &json["tables"];
    let series = &tables["series"];
    assert_eq!(
        series["rows"].as_array().unwrap().len(),
        25,
        "24 hours and the total"
    );
    let total = row(series, "Total");
    assert_eq!(
        nums(total),
        vec![
            Some(5.0),
            Some(3.0),
            Some(2.0),
            Some(60.0),
            Some(40.0),
            Some(50.0),
            Some(23.3),
            Some(350.0)
        ]
    );
    // Every call entered its queue between 08:00 and 08:10 Paris time.
    assert_eq!(row(series, "2026-11-24 08 h")[1], 5.0);
    let queues = &tables["queues"];
    assert_eq!(
        nums(row(queues, "louvre-hotline")),
        vec![
            Some(3.0),
            Some(2.0),
            Some(1.0),
            Some(66.7),
            Some(33.3),
            Some(100.0),
            Some(12.5),
            Some(390.0)
        ]
    );
    assert_eq!(
        nums(row(queues, "culture-incidents")),
        vec![
            Some(2.0),
            Some(1.0),
            Some(1.0),
            Some(50.0),
            Some(50.0),
            Some(0.0),
            Some(45.0),
            Some(270.0)
        ]
    );
    let agents = &tables["agents"];
    assert_eq!(
        nums(row(agents, "amelie.martin"))[..3],
        [Some(2.0), Some(2.0), Some(0.0)]
    );
    assert_eq!(nums(row(agents, "amelie.martin"))[7], Some(315.0));
    assert_eq!(
        nums(row(agents, "bruno.petit"))[..3],
        [Some(2.0), Some(1.0), Some(1.0)]
    );
    let tickets = tables["tickets"]["rows"].as_array().unwrap();
    let ticket = |group: &str, value: &str| {
        tickets
            .iter()
            .find(|r| r[0] == group && r[1] == value)
            .and_then(|r| r[2].as_f64())
    };
    assert_eq!(ticket("Nature", "incident"), Some(1.0));
    assert_eq!(ticket("Nature", "demande"), Some(1.0));
    assert_eq!(ticket("SLA", "respecté"), Some(1.0));
    assert_eq!(ticket("SLA", "dépassé"), Some(1.0));

    // The page: summary, SVG charts, tables, export links of the same period.
    let page = get(&format!("{base}/superviseur/tableaux"), cookie).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<dd id=\"total-presentes\">5</dd>"), "{html}");
    // No call was refused for overload in this example.
    assert!(html.contains("<dd id=\"total-refuses\">0</dd>"), "{html}");
    assert!(html.contains("<dd id=\"total-decroche\">60\u{a0}%</dd>"));
    assert!(html.contains("<dd id=\"total-ns\">50\u{a0}%</dd>"));
    assert!(html.contains("<dd id=\"total-dmt\">350\u{a0}s</dd>"));
    assert!(
        html.matches("<svg ").count() >= 9,
        "charts rendered server-side"
    );
    assert!(html.contains("<title id=\"graphique-files-titre\">"));
    assert!(html.contains("id=\"definitions\""));
    // Every export link of the page downloads a CSV equal, cell for cell, to the API's table.
    let links: Vec<String> = html
        .split("class=\"export-csv\" href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
        .collect();
    assert_eq!(links.len(), 4);
    for link in &links {
        let name = link
            .split("table=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let resp = get(&format!("{base}{link}"), cookie).await;
        assert_eq!(resp.status(), 200, "{link}");
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(".csv")
        );
        let csv = csv_rows(&resp.text().await.unwrap());
        let table = &tables[name];
        let header: Vec<String> = table["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(csv[0], header, "{name}");
        let rows = table["rows"].as_array().unwrap();
        assert_eq!(csv.len() - 1, rows.len(), "{name}");
        for (csv_row, json_row) in csv[1..].iter().zip(rows) {
            for (field, cell) in csv_row.iter().zip(json_row.as_array().unwrap()) {
                match cell {
                    Value::String(s) => assert_eq!(field, s),
                    Value::Null => assert_eq!(field, ""),
                    n => assert_eq!(field.parse::<f64>().ok(), n.as_f64(), "{name}: {field}"),
                }
            }
        }
        if name == "series" {
            let csv_total = csv.last().unwrap();
            assert_eq!(csv_total[0], "Total");
            assert_eq!(csv_total[1], "5", "the export's total equals the page's");
        }
    }
    let xlsx_link = html
        .split("class=\"export-xlsx\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let xlsx = get(&format!("{base}{xlsx_link}"), cookie).await;
    assert_eq!(xlsx.status(), 200);
    assert!(
        xlsx.bytes().await.unwrap().starts_with(b"PK"),
        "an XLSX is a zip"
    );

    // Changing the period: the week before holds nothing, 7 days hold the same totals by day.
    let week: Value = get(
        &format!("{base}/api/v1/dashboards?periode=7j&table=series"),
        cookie,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(week["granularity"], "day");
    assert_eq!(week["rows"].as_array().unwrap().len(), 8);
    assert_eq!(week["rows"][6][1], 5.0);
    assert_eq!(
        week["rows"][7],
        total.clone().into_iter().collect::<Value>()
    );
    let bad = get(
        &format!("{base}/api/v1/dashboards?periode=personnalisee&du=2026-02-01&au=2026-01-01"),
        cookie,
    )
    .await;
    assert_eq!(bad.status(), 400);
    let custom = get(
        &format!("{base}/superviseur/tableaux?periode=personnalisee&du=2026-11-17&au=2026-11-23"),
        cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(custom.contains("<dd id=\"total-presentes\">0</dd>"));

    // An agent reaches neither the page nor the API.
    let agent = session_cookie(server, "amelie.martin", DEMO_PASSWORD).await;
    for path in [
        "/superviseur/tableaux",
        "/api/v1/dashboards",
        "/admin/jetons",
    ] {
        assert_eq!(
            get(&format!("{base}{path}"), ("cookie", &agent))
                .await
                .status(),
            403,
            "{path}"
        );
    }
    // A supervisor does not manage tokens.
    assert_eq!(
        get(&format!("{base}/admin/jetons"), cookie).await.status(),
        403
    );
}

fn hidden_csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf field")
        .to_owned()
}

async fn create_token(base: &str, admin: &str, name: &str, role: &str) -> String {
    let c = http();
    let page = c
        .get(format!("{base}/admin/jetons"))
        .header("cookie", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = hidden_csrf(&page.text().await.unwrap());
    let created = c
        .post(format!("{base}/admin/jetons"))
        .header("cookie", admin)
        .form(&[("csrf", csrf.as_str()), ("name", name), ("role", role)])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    html.split("<code id=\"nouveau-jeton\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("token shown once")
        .to_owned()
}

async fn check_tokens(server: &Server, db: &Db) {
    let base = format!("http://{}", server.http);
    let admin = session_cookie(server, "admin", ADMIN_PASSWORD).await;
    let statistics = create_token(&base, &admin, "ITSM ministère", "statistics").await;
    let supervisor = create_token(&base, &admin, "Supervision", "supervisor").await;
    assert!(statistics.starts_with("gch_") && statistics.len() > 40);
    let bearer = |t: &str| format!("Bearer {t}");

    // The statistics token reads the statistics, and nothing else.
    let stats_auth = bearer(&statistics);
    let auth = ("authorization", stats_auth.as_str());
    let dash = get(
        &format!("{base}/api/v1/dashboards?periode=aujourdhui&table=series"),
        auth,
    )
    .await;
    assert_eq!(dash.status(), 200);
    let dash: Value = dash.json().await.unwrap();
    assert_eq!(dash["rows"][24][1], 5.0);
    let report = get(
        &format!("{base}/api/v1/reports?from=2026-11-24&to=2026-11-25&format=csv"),
        auth,
    )
    .await;
    assert_eq!(report.status(), 200);
    assert_eq!(
        get(&format!("{base}/api/v1/snapshot"), auth).await.status(),
        403
    );
    let write = http()
        .delete(format!("{base}/api/v1/lines/8585/messages/crise"))
        .header("authorization", &stats_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403, "a read-only token cannot write");

    // The supervisor token reads the live picture and writes without CSRF (no cookie).
    let sup_auth = bearer(&supervisor);
    assert_eq!(
        get(
            &format!("{base}/api/v1/snapshot"),
            ("authorization", &sup_auth)
        )
        .await
        .status(),
        200
    );
    let pause = http()
        .put(format!("{base}/api/v1/agents/amelie.martin/state"))
        .header("authorization", &sup_auth)
        .json(&serde_json::json!({"action": "deconnexion"}))
        .send()
        .await
        .unwrap();
    let status = pause.status().as_u16();
    assert!(
        status == 204 || status == 422,
        "accepted without CSRF (204, or 422 when the state does not allow it), got {status}"
    );

    // The OpenAPI document describes the route and the bearer scheme.
    let doc: Value = get(
        &format!("{base}/api/v1/openapi.json"),
        ("accept", "application/json"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(doc["paths"]["/dashboards"]["get"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Unknown tokens are refused.
    let unknown = get(
        &format!("{base}/api/v1/dashboards"),
        ("authorization", "Bearer gch_nope"),
    )
    .await;
    assert_eq!(unknown.status(), 401);

    // Stored hashed; the uses are journaled; the page lists the tokens with their last use.
    let store = Store::open(&db.url()).await.expect("store");
    let tokens = store.api_tokens().await.unwrap();
    assert_eq!(tokens.len(), 2);
    let stored = tokens.iter().find(|t| t.name == "ITSM ministère").unwrap();
    assert!(statistics.starts_with(&stored.prefix));
    assert!(stored.last_used_at.is_some());
    let hashes: Vec<String> = sqlx_hashes(&db.url()).await;
    assert!(
        hashes
            .iter()
            .all(|h| h.len() == 64 && !h.contains(&statistics[4..20]))
    );
    let uses = store
        .security_events_for("jeton:ITSM ministère")
        .await
        .unwrap();
    assert!(
        uses.iter().any(|e| e.event == "api_token"
            && e.success
            && e.detail.as_deref() == Some("GET /api/v1/dashboards → 200")),
        "{uses:?}"
    );
    assert!(uses.iter().any(|e| !e.success
        && e.detail.as_deref() == Some("DELETE /api/v1/lines/8585/messages/crise → 403")));
    assert_eq!(uses[0].remote_addr.as_deref(), Some("127.0.0.1"));

    // Revoked: refused from then on, and journaled.
    let c = http();
    let page = c
        .get(format!("{base}/admin/jetons"))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("ITSM ministère") && !html.contains(&statistics));
    let csrf = hidden_csrf(&html);
    let revoked = c
        .post(format!("{base}/admin/jetons/{}/revoquer", stored.id))
        .header("cookie", &admin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    assert_eq!(
        get(
            &format!("{base}/api/v1/dashboards"),
            ("authorization", &stats_auth)
        )
        .await
        .status(),
        401
    );
    let journal = store
        .journal_between(t(0), t(0) + Duration::days(2))
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = journal
        .iter()
        .filter(|e| e.action.starts_with("api_token"))
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("admin", "api_token.create"),
            ("admin", "api_token.create"),
            ("admin", "api_token.revoke")
        ]
    );
    store.close().await;
}

async fn sqlx_hashes(url: &str) -> Vec<String> {
    use sqlx::Row as _;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("pool");
    let rows = sqlx::query("SELECT token_hash FROM api_tokens")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}
