//! The administration pages in a real headless Chromium against a real `guichet serve`: an
//! admin imports a directory CSV file, watches the progress bar reach 100 % and reads the
//! report of rejected rows; the people are in the store at once. Screenshots go to
//! `docs/screenshots/admin-*.png` with `GUICHET_SCREENSHOTS=1`.

mod support;
#[path = "support/web.rs"]
mod web;

use std::path::Path;
use std::time::Duration;

use guichet_tickets::Store;
use support::*;
use web::*;

const ADMIN_PASSWORD: &str = "Guichet-Admin-2026!";
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/screenshots");

fn screenshot_dir(temp: &Path) -> std::path::PathBuf {
    if std::env::var("GUICHET_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(SCREENSHOTS).to_path_buf()
    } else {
        temp.join("screenshots")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_imports_the_directory_with_progress_and_a_report_of_rejected_rows() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("admin-browser.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![],
        },
    );
    // 250 valid people (three batches) and two rejected rows.
    let mut csv =
        String::from("id,last_name,first_name,entity,site,dependency,vip,phones,p0_windows\n");
    for i in 0..250 {
        csv.push_str(&format!(
            "imp.{i},Nom{i},Prénom{i},Entité {},Site,,non,+3314100{i:04},\n",
            i % 7
        ));
        if i == 10 {
            csv.push_str("imp.bad1,,Sans,Entité,Site,,non,+33141999999,\n");
        }
        if i == 20 {
            csv.push_str("imp.bad2,Faux,Numéro,Entité,Site,,non,12,\n");
        }
    }
    let file = dir.path().join("annuaire-import.csv");
    std::fs::write(&file, &csv).expect("write csv");

    let store = Store::open(&db.url()).await.expect("store");
    let before = store.people_count().await.unwrap();
    let browser = Browser::start().await;
    browser.login(&server, "admin", ADMIN_PASSWORD).await;
    // The login form's navigation must finish before the next page is opened.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while browser.url().await.ends_with("/connexion") {
        assert!(std::time::Instant::now() < deadline, "login did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .goto(&format!("http://{}/admin/annuaire", server.http))
        .await;
    browser
        .type_into("#fichier-annuaire", &file.display().to_string())
        .await;
    browser.click("#importer").await;
    let status = browser
        .wait_text("#import-etat", Duration::from_secs(20), |t| {
            t.starts_with("Import terminé")
        })
        .await;
    assert_eq!(status, "Import terminé (100 %).");
    assert_eq!(
        browser.attribute("#progression", "value").await.as_deref(),
        Some("100")
    );
    let summary = browser.text("#import-resume").await;
    assert_eq!(
        summary,
        "250 personne(s) créée(s), 0 mise(s) à jour, 2 ligne(s) rejetée(s)."
    );
    let report = browser.text("#lignes-rejetees").await;
    assert!(report.contains("13 nom (last_name) manquant"), "{report}");
    assert!(
        report.contains("24 numéro de téléphone invalide « 12 »"),
        "{report}"
    );
    let shots = screenshot_dir(dir.path());
    browser
        .screenshot(&shots.join("admin-annuaire-import.png"))
        .await;

    assert_eq!(store.people_count().await.unwrap(), before + 250);

    // The users page, for the documentation.
    browser
        .goto(&format!("http://{}/admin/utilisateurs", server.http))
        .await;
    let users = browser.text("#utilisateurs").await;
    assert!(users.contains("amelie.martin"), "{users}");
    browser
        .screenshot(&shots.join("admin-utilisateurs.png"))
        .await;

    // The prompts and calendars pages, for the documentation.
    browser
        .goto(&format!("http://{}/admin/annonces", server.http))
        .await;
    let prompts = browser.text("#annonces").await;
    assert!(prompts.contains("au_revoir"), "{prompts}");
    browser.screenshot(&shots.join("admin-annonces.png")).await;
    browser
        .goto(&format!("http://{}/admin/calendriers", server.http))
        .await;
    let configured = browser.text("main").await;
    assert!(
        configured.contains("louvre") && configured.contains("Ajouter une fermeture"),
        "{configured}"
    );
    browser
        .screenshot(&shots.join("admin-calendriers.png"))
        .await;
}
