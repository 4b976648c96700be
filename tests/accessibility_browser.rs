//! Every page of Guichet in a real headless Chromium at 1280×720, audited in the page:
//! French language, a label on every control, named buttons and links, no positive
//! tabindex, text contrast (WCAG 4.5:1, 3:1 for large text) and no horizontal scrolling.
//! The agent's pages are audited as Amélie, the supervisor's and administrator's as the
//! demo administrator (who is also a supervisor).

mod support;
#[path = "support/web.rs"]
mod web;

use support::*;
use web::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
const ADMIN_PASSWORD: &str = "Guichet-Admin-2026!";

/// Visits each path and collects the audit's findings, prefixed with the path.
async fn audit(browser: &Browser, server: &Server, paths: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for path in paths {
        browser.goto(&format!("http://{}{path}", server.http)).await;
        // Live pages fill themselves from their event stream: let the first frame land.
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let url = browser.url().await;
        assert!(
            *path == "/connexion" || !url.contains("/connexion"),
            "{path} sent the browser back to the login page"
        );
        for p in browser.accessibility_problems().await {
            problems.push(format!("{path}: {p}"));
        }
    }
    problems
}

/// A call answered on the test server's first morning, a degraded caller leg and a clean
/// agent leg stored with it.
async fn audited_call(store: &guichet_tickets::Store) -> i64 {
    use guichet_tickets::call_quality::{LegCounters, LegQuality, MediaLeg};
    let arrived = chrono::DateTime::parse_from_rfc3339(OPEN_HOURS)
        .expect("open hours")
        .with_timezone(&chrono::Utc);
    let call = store
        .open_call(&guichet_tickets::NewCall {
            sip_call_id: "accessibilite@test".into(),
            line: "8585".into(),
            caller_number: VIP_NUMBER.into(),
            caller_name: Some("Claire Lefèvre".into()),
            person_id: None,
            vip: true,
            p0: false,
            arrived_at: arrived,
        })
        .await
        .expect("call");
    store
        .close_call(
            call,
            guichet_tickets::CallOutcome::Answered,
            arrived + chrono::Duration::minutes(3),
            false,
        )
        .await
        .expect("close");
    let leg = |leg, received, lost| {
        LegQuality::estimate(
            leg,
            LegCounters {
                packets_sent: 9000,
                packets_received: received,
                packets_lost: lost,
                late_packets: 4,
                jitter_max_us: 18_250,
                jitter_final_us: 3_125,
                remote_fraction_lost: Some(2),
            },
            60.0,
        )
    };
    store
        .record_call_quality(
            call,
            &[
                leg(MediaLeg::Caller, 8910, 90),
                leg(MediaLeg::Agent, 9000, 0),
            ],
        )
        .await
        .expect("quality");
    call
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_passes_the_accessibility_audit_at_1280_by_720() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("accessibility.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![],
        },
    );
    let mut problems = Vec::new();
    // An open ticket, for the ticket form with its SLA actions and history.
    let store = guichet_tickets::Store::open(&db.url())
        .await
        .expect("store");
    let ticket = amelie_open_ticket(&store, "Messagerie lente", "Julien Moreau").await;
    let ticket_form = format!("/agent/dossier?ticket_id={ticket}");
    // A finished call with its audio quality, for the call log and the call's page.
    let call = audited_call(&store).await;
    let call_page = format!("/superviseur/appels/{call}");

    let browser = Browser::start().await;
    browser.set_window_size(1280, 720).await;
    problems.extend(audit(&browser, &server, &["/connexion"]).await);
    browser.login(&server, "amelie.martin", DEMO_PASSWORD).await;
    problems.extend(
        audit(
            &browser,
            &server,
            &[
                "/agent",
                "/agent/dossier",
                &ticket_form,
                "/agent/rappels",
                "/mon-compte",
            ],
        )
        .await,
    );
    drop(browser);

    let browser = Browser::start().await;
    browser.set_window_size(1280, 720).await;
    browser.login(&server, "admin", ADMIN_PASSWORD).await;
    problems.extend(
        audit(
            &browser,
            &server,
            &[
                "/superviseur/mur",
                "/superviseur/messages",
                "/superviseur/tableaux",
                "/superviseur/agents",
                "/superviseur/incidents",
                "/superviseur/appels?jour=2026-11-24",
                &call_page,
                "/admin",
                "/admin/utilisateurs",
                "/admin/annuaire",
                "/admin/annonces",
                "/admin/calendriers",
                "/admin/sla",
                "/admin/jetons",
                &ticket_form,
            ],
        )
        .await,
    );
    // The ticket form as a refusal leaves it: a due date in the past, its error under the
    // field (the supervisor's page also has « Exclure du SLA »).
    browser
        .script(
            "document.getElementById('echeance_nouvelle').value = '2020-01-06T10:00';\
             document.getElementById('echeance_motif').value = 'Usager absent';",
        )
        .await;
    browser.click("#bouton-echeance").await;
    browser.find("#erreur-echeance_nouvelle").await;
    browser.find("#form-exclusion").await;
    for p in browser.accessibility_problems().await {
        problems.push(format!("{ticket_form} (échéance refusée): {p}"));
    }
    // The audit itself finds what it looks for: an unlabelled field, pale text, a
    // positive tabindex and a too-wide element, injected into the last page.
    browser
        .script(
            "const f = document.createElement('div');\
             f.innerHTML = '<input id=\"sans-etiquette\"><p style=\"color:#bbb\">pâle</p>\
             <button tabindex=\"3\">Ordre</button><div style=\"width:3000px\">large</div>';\
             document.body.appendChild(f);",
        )
        .await;
    let injected = browser.accessibility_problems().await.join("\n");
    for expected in [
        "no label for input#sans-etiquette",
        "contrast",
        "positive tabindex",
        "horizontal scrolling",
    ] {
        assert!(
            injected.contains(expected),
            "audit missed {expected:?}: {injected}"
        );
    }

    assert!(
        problems.is_empty(),
        "{} accessibility problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
