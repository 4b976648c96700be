//! The agent's desk in a real headless Chromium against a real `guichet serve`: Amélie's SIP
//! desk phone (SIPp) is registered, the VIP Claire Lefèvre (SIPp) calls the Louvre line, the
//! screen pop shows her name and the VIP badge, the ticket form is filled (a reload keeps
//! what was typed), saved, and the ticket is in the store at P0 with the call linked and no
//! second ticket once the call ends. Then « Rappeler » on a callback request rings Amélie's
//! phone and, once she answers, the caller through the trunk (a SIPp UAS). On an open ticket,
//! « Escalader » and « Modifier l'échéance » are used through the form and show in its history.
//! Screenshots go to `docs/screenshots/` with `GUICHET_SCREENSHOTS=1`.

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
async fn a_vip_call_pops_up_its_ticket_is_saved_at_p0_and_a_callback_reaches_the_caller() {
    if !have_browser() || !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("desk-browser.db"));
    let trunk_port = free_udp_port();
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![
                md5_only(),
                (
                    "shutdown_grace_secs = 30",
                    format!(
                        "shutdown_grace_secs = 30\n\n[sip.trunk]\naddress = \"127.0.0.1:{trunk_port}\"\ncaller_id = \"8585\""
                    ),
                ),
            ],
        },
    );
    let base = format!("http://{}", server.http);
    let store = Store::open(&db.url()).await.expect("store");
    let browser = Browser::start().await;
    browser.set_window_size(1280, 720).await;
    browser.login(&server, "amelie.martin", DEMO_PASSWORD).await;
    browser.find("#poste").await;

    // Amélie's desk phone registers (she becomes available), answers the next call and
    // hangs up after a while.
    let phone_port = free_udp_port();
    let phone = answering_desk_phone(dir.path(), "amelie", phone_port, 12_000);
    register_desk_phone(dir.path(), &server, "1001", "demo-1001-secret", phone_port);
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;

    // The VIP calls; VIPs skip the menu and reach Amélie at once.
    let call = caller(
        dir.path(),
        "vip",
        &server,
        "8585",
        VIP_NUMBER,
        &dtmf_pcap("1"),
        100,
    );
    let pop = browser
        .wait_text("#fiche-appel", Duration::from_secs(15), |t| {
            t.contains("En communication")
        })
        .await;
    assert!(pop.contains("Claire Lefèvre"), "{pop}");
    assert!(
        pop.contains("Cabinet du ministre") && pop.contains("Valois"),
        "{pop}"
    );
    assert_eq!(browser.text("#badge-vip").await, "VIP");
    assert!(
        browser
            .text("#appelant-numero")
            .await
            .contains("+33140158001")
    );
    browser
        .screenshot(&screenshot_dir(dir.path()).join("poste-fiche-appel.png"))
        .await;

    // One click opens the form prefilled, in a tab of its own (the desk page stays open).
    let href = browser
        .attribute("#ouvrir-fiche", "href")
        .await
        .expect("link to the form");
    let call_id: i64 = href
        .rsplit("call_id=")
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no call id in {href}"));
    let form_url = format!("{base}/agent/dossier?call_id={call_id}");
    browser.click("#ouvrir-fiche").await;
    let desk_window = browser.switch_to_new_window().await;
    browser.find("#form-ticket").await;
    assert_eq!(browser.url().await, form_url);
    assert_eq!(
        browser
            .attribute("#requester_name", "value")
            .await
            .as_deref(),
        Some("Claire Lefèvre")
    );
    browser.find("#form-ticket #badge-vip").await;
    browser.clear("#title").await;
    browser.type_into("#title", "Messagerie inaccessible").await;
    let symptom = "Outlook refuse la connexion depuis ce matin.";
    browser.type_into("#symptom", symptom).await;
    browser.click("#urgency option[value=\"moyenne\"]").await;
    browser.click("#impact option[value=\"modere\"]").await;
    // Moderate × moderate is P3 by the matrix, but the caller is a VIP: P0.
    browser
        .wait_text("#priorite", Duration::from_secs(5), |t| {
            t.starts_with("P0") && t.contains("VIP")
        })
        .await;
    browser.click("#outcome-resolved-online").await;

    // A reload keeps what was typed (draft in the browser).
    browser.goto(&form_url).await;
    browser
        .wait_text("#brouillon-etat", Duration::from_secs(5), |t| {
            t == "Brouillon restauré."
        })
        .await;
    // An empty title is refused in French next to the field, the rest is kept.
    browser.clear("#title").await;
    browser.click("#enregistrer-ticket").await;
    let refused = browser.text("#erreur-title").await;
    assert_eq!(refused, "Le titre est obligatoire.");
    browser.type_into("#title", "Messagerie inaccessible").await;
    browser.click("#enregistrer-ticket").await;
    let saved = browser
        .wait_text("#fiche-enregistree", Duration::from_secs(10), |t| {
            t.contains("enregistré")
        })
        .await;
    let ticket_id: i64 = saved
        .trim_start_matches("Ticket n° ")
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no ticket number in {saved:?}"));

    browser
        .screenshot(&screenshot_dir(dir.path()).join("fiche-ticket.png"))
        .await;
    let ticket = store.ticket(ticket_id).await.expect("ticket");
    assert_eq!(ticket.priority.code(), "P0");
    assert!(ticket.vip);
    assert_eq!(ticket.title, "Messagerie inaccessible");
    assert_eq!(ticket.symptom.as_deref(), Some(symptom));
    assert_eq!(ticket.status.as_str(), "resolved");
    assert_eq!(store.ticket_calls(ticket_id).await.unwrap(), vec![call_id]);
    // The live SLA runner saves the ticket's clock; the form shows it read-only.
    for _ in 0..60 {
        if store.ticket(ticket_id).await.unwrap().sla_state.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .goto(&format!("{base}/agent/dossier?ticket_id={ticket_id}"))
        .await;
    assert_eq!(
        browser.text("#delai-sla").await,
        "Délai de résolution respecté."
    );

    // An open ticket of hers: escalated to level 2, then its due date moved with the
    // caller's agreement, both through the form, each showing in the history at once.
    let open = amelie_open_ticket(
        &store,
        "Imprimante du secrétariat hors service",
        "Claire Lefèvre",
    )
    .await;
    let level2 = store
        .support_groups()
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == "Proximité (niveau 2)")
        .expect("level-2 group of the demo");
    browser
        .goto(&format!("{base}/agent/dossier?ticket_id={open}"))
        .await;
    assert!(
        !browser
            .text("#actions-sla")
            .await
            .contains("Exclure du SLA"),
        "agents have no exclusion"
    );
    browser
        .click(&format!("#escalade_groupe option[value=\"{}\"]", level2.id))
        .await;
    browser
        .click("#escalade_priorite option[value=\"P1\"]")
        .await;
    let why = "Panne matérielle : intervention sur site nécessaire.";
    browser.type_into("#escalade_motif", why).await;
    browser.click("#bouton-escalader").await;
    browser
        .wait_text("#action-sla-resultat", Duration::from_secs(10), |t| {
            t == "Ticket escaladé : le groupe choisi le reprend."
        })
        .await;
    let history = browser.text("#historique").await;
    assert!(
        history.contains("Escalade : Proximité (niveau 2)") && history.contains(why),
        "{history}"
    );
    assert_eq!(browser.text("#groupe-actuel").await, "Proximité (niveau 2)");
    // The date picker is set as a browser does (its typing is locale-dependent).
    let opened_at = store.ticket(open).await.unwrap().created_at;
    let new_due = (opened_at + chrono::Duration::days(3))
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
        .and_hms_opt(15, 0, 0)
        .unwrap();
    browser
        .script(&format!(
            "document.getElementById('echeance_nouvelle').value = '{}';",
            new_due.format("%Y-%m-%dT%H:%M")
        ))
        .await;
    browser
        .type_into("#echeance_motif", "Date convenue avec Mme Lefèvre.")
        .await;
    browser.click("#bouton-echeance").await;
    browser
        .wait_text("#action-sla-resultat", Duration::from_secs(10), |t| {
            t.starts_with("Échéance modifiée")
        })
        .await;
    let shown = new_due.format("%d/%m/%Y à %H:%M").to_string();
    let history = browser.text("#historique").await;
    assert!(
        history.contains(&format!("Échéance : {shown}"))
            && history.contains("Date convenue avec Mme Lefèvre."),
        "{history}"
    );
    // The live SLA runner re-plans the clock on the new date; the form shows it as current.
    let mut current = String::new();
    for _ in 0..50 {
        browser
            .goto(&format!("{base}/agent/dossier?ticket_id={open}"))
            .await;
        current = browser.text("#echeance-actuelle").await;
        if current == shown {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(current, shown);
    browser
        .script("document.getElementById('actions-sla').scrollIntoView();")
        .await;
    browser
        .screenshot(&screenshot_dir(dir.path()).join("fiche-ticket-sla.png"))
        .await;
    let audit = store.ticket_audit(open).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.field == "escalation" && a.reason.as_deref() == Some(why))
    );
    assert_eq!(store.ticket(open).await.unwrap().group_id, Some(level2.id));

    // The call ends: the switchboard keeps the desk's ticket, it opens no second one.
    phone.expect_success(Duration::from_secs(30), &server);
    call.expect_success(Duration::from_secs(30), &server);
    let record = closed_record(&db, VIP_NUMBER).await;
    assert_eq!(record.id, call_id);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.tickets_of_call(call_id).await.unwrap(),
        vec![ticket_id]
    );
    let person = record.person_id.expect("identified caller");
    assert!(
        store
            .open_tickets_of_person(person, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Back on the desk: end the wrap-up, then call back a pending request from the list.
    browser.switch_to_window(&desk_window).await;
    browser.goto(&format!("{base}/agent")).await;
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Post-appel") || t.contains("Disponible")
        })
        .await;
    if browser.text("#etat").await.contains("Post-appel") {
        browser.click("#etat-fin-post-appel").await;
    }
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;
    // Without a call the screen pop empties itself.
    browser
        .wait_text("#fiche-appel", Duration::from_secs(5), str::is_empty)
        .await;
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
        .expect("callback request");
    let customer = answering_desk_phone(dir.path(), "customer", trunk_port, 1000);
    let phone = Sipp::start(
        dir.path(),
        "amelie-rappel",
        "agent_answer_until_bye.xml",
        &["-p".into(), phone_port.to_string()],
    );
    browser.click("#lien-rappels").await;
    let row = format!("tr[data-rappel=\"{request}\"]");
    assert!(browser.text(&row).await.contains("Julien Moreau"));
    browser.click(&format!("{row} button.rappeler")).await;
    let result = browser.text("#rappel-resultat").await;
    browser
        .screenshot(&screenshot_dir(dir.path()).join("rappels.png"))
        .await;
    assert!(
        result.starts_with(&format!("Rappel n° {request} lancé")),
        "{result}"
    );
    customer.expect_success(Duration::from_secs(30), &server);
    phone.expect_success(Duration::from_secs(30), &server);
    let mut done = false;
    for _ in 0..100 {
        if store.pending_callback(request).await.unwrap().is_none() {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "the callback request is still pending");
    let journal = store
        .journal_between(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert!(
        journal
            .iter()
            .any(|e| e.action == "callback.start" && e.actor == "amelie.martin"),
        "{journal:?}"
    );
}
