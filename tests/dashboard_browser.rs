//! The dashboards in a real headless Chromium against a real `guichet serve` with seeded
//! calls and tickets: a supervisor opens them, sees the figures and the SVG charts, changes
//! the period, and the page follows. Screenshots `docs/screenshots/tableaux-*.png` are
//! rewritten with `GUICHET_SCREENSHOTS=1` only.

#[path = "support/dashboard_seed.rs"]
mod dashboard_seed;
mod support;
#[path = "support/web.rs"]
mod web;

use std::path::Path;
use std::time::Duration;

use guichet_tickets::Store;
use support::*;
use web::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/screenshots");

fn screenshot_dir(temp: &Path) -> std::path::PathBuf {
    if std::env::var("GUICHET_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(SCREENSHOTS).to_path_buf()
    } else {
        temp.join("screenshots")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_reads_the_dashboards_and_changes_the_period() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("dashboard-browser.db"));
    let store = Store::open(&db.url()).await.expect("store");
    dashboard_seed::seed(&store).await;
    store.close().await;
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![],
        },
    );
    let shots = screenshot_dir(dir.path());
    let browser = Browser::start().await;
    browser.login(&server, "chloe.durand", DEMO_PASSWORD).await;
    browser.find("#connexion-flux").await;
    // From the navigation, as a supervisor would.
    browser
        .click("header a[href=\"/superviseur/tableaux\"]")
        .await;
    browser.find("#periode-choisie").await;
    assert!(browser.url().await.ends_with("/superviseur/tableaux"));
    let period = browser.text("#periode-choisie").await;
    assert_eq!(period, "Aujourd'hui (le 24/11/2026), par heure");
    assert_eq!(browser.text("#total-presentes").await, "5");
    assert_eq!(browser.text("#total-decroche").await, "60 %");
    assert_eq!(browser.text("#total-ns").await, "50 %");
    assert_eq!(browser.text("#total-asa").await, "23,3 s");
    // The SVG charts are there, named for screen readers, with one bar per queue and series.
    for chart in [
        "graphique-appels",
        "graphique-taux",
        "graphique-files",
        "graphique-agents",
        "graphique-tickets-3",
    ] {
        assert_eq!(
            browser
                .attribute(&format!("svg#{chart}"), "aria-labelledby")
                .await
                .as_deref(),
            Some(format!("{chart}-titre {chart}-desc").as_str())
        );
    }
    browser.find("svg#graphique-files rect.barre").await;
    let queue_row = browser.text("#tableau-files tbody tr:first-child").await;
    assert!(
        queue_row.starts_with("culture-incidents 2 1 1 50 % 50 % 0 % 45 270"),
        "{queue_row}"
    );
    browser
        .screenshot(&shots.join("tableaux-aujourdhui.png"))
        .await;

    // The last 7 days, by day: the same calls, in today's column.
    browser.click("#periode-7j").await;
    browser
        .wait_text("#periode-choisie", Duration::from_secs(10), |t| {
            t.starts_with("7 derniers jours")
        })
        .await;
    assert_eq!(browser.text("#total-presentes").await, "5");
    let today = browser
        .text("#tableau-periodes tbody tr:nth-child(7)")
        .await;
    assert!(today.starts_with("2026-11-24 5 3 2"), "{today}");
    assert!(
        browser
            .attribute("#periode-7j", "aria-current")
            .await
            .is_some()
    );
    browser
        .screenshot(&shots.join("tableaux-7-jours.png"))
        .await;

    // Yesterday: nothing.
    browser.click("#periode-hier").await;
    browser
        .wait_text("#periode-choisie", Duration::from_secs(10), |t| {
            t.starts_with("Hier")
        })
        .await;
    assert_eq!(browser.text("#total-presentes").await, "0");

    // The agents and tickets sections, and the definitions one click away.
    browser
        .goto(&format!(
            "http://{}/superviseur/tableaux?periode=aujourdhui#section-agents",
            server.http
        ))
        .await;
    browser.find("svg#graphique-agents-durees").await;
    browser.screenshot(&shots.join("tableaux-agents.png")).await;
    browser.click("a[href=\"#definitions\"]").await;
    let definitions = browser.text("#definitions").await;
    assert!(definitions.contains("Niveau de service"), "{definitions}");
}
