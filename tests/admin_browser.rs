//! The administration pages in a real headless Chromium against a real `guichet serve`: an
//! admin imports a directory CSV file, watches the progress bar reach 100 % and reads the
//! report of rejected rows; the people are in the store at once. The weekly hours and an SLA
//! grid are edited in their forms (a malformed duration refused in French first). Screenshots go to
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

    // Saturday mornings opened on the Louvre calendar from the weekly-hours form.
    let saturday = "form[data-calendar=\"louvre\"] input[name=\"saturday\"]";
    browser.type_into(saturday, "09:00-12:00").await;
    browser
        .click("form[data-calendar=\"louvre\"] button[type=\"submit\"]")
        .await;
    let notice = browser
        .wait_text("main", Duration::from_secs(10), |t| {
            t.contains("Modification enregistrée et appliquée.")
        })
        .await;
    assert!(notice.contains("modifiés par admin"), "{notice}");
    assert_eq!(
        browser.attribute(saturday, "value").await.as_deref(),
        Some("09:00-12:00")
    );
    let hours = store
        .current_settings(guichet_tickets::settings::CALENDAR_HOURS)
        .await
        .expect("settings");
    assert!(
        hours
            .iter()
            .any(|h| h.name == "louvre" && h.value.contains("09:00-12:00")),
        "{hours:?}"
    );

    // The SLA grids: a duration the engine cannot read is refused naming the row and the
    // column, the typed grid stays on the page; a readable one is saved.
    browser
        .goto(&format!("http://{}/admin/sla", server.http))
        .await;
    let resolve = "form[data-policy=\"louvre\"] input[name=\"resolve_1\"]";
    assert_eq!(
        browser.attribute(resolve, "value").await.as_deref(),
        Some("4h")
    );
    browser.clear(resolve).await;
    browser.type_into(resolve, "4 heures").await;
    let save = "form[data-policy=\"louvre\"] button[type=\"submit\"]";
    browser.click(save).await;
    let error = browser
        .wait_text("[role=\"alert\"]", Duration::from_secs(10), |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(
        error,
        "Politique louvre non enregistrée : Ligne 2, « Résolution » : durée « 4 heures » \
         illisible (écrivez par exemple 25min, 2h, 1h30min ou 3d ; 3d = trois journées ouvrées)"
    );
    browser.clear(resolve).await;
    browser.type_into(resolve, "6h").await;
    browser.click(save).await;
    let page = browser
        .wait_text("main", Duration::from_secs(10), |t| {
            t.contains("Politique enregistrée")
        })
        .await;
    assert!(page.contains("modifiée par admin"), "{page}");
    assert!(
        page.contains("Lignes : 8585 (Hotline informatique du Louvre)."),
        "{page}"
    );
    assert_eq!(
        browser.attribute(resolve, "value").await.as_deref(),
        Some("6h")
    );
    browser.screenshot(&shots.join("admin-sla.png")).await;
    let grids = store
        .current_settings(guichet_tickets::settings::SLA_POLICY)
        .await
        .expect("settings");
    assert!(
        grids
            .iter()
            .any(|g| g.name == "louvre" && g.author == "admin" && g.value.contains("\"6h\"")),
        "{grids:?}"
    );
}
