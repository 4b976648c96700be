//! The SLA actions on the ticket form (`/agent/dossier?ticket_id=N`): escalation, due-date
//! change and SLA exclusion posted as forms, with CSRF, French errors naming the field, the
//! exclusion for supervisors only, and each action as a new line of the ticket's history.

use super::*;
use guichet_tickets::ticket::{Nature, NewTicket, Priority, SlaOutcome};

async fn get_page(base: &str, cookie: &str, path: &str) -> String {
    client()
        .get(format!("{base}{path}"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_ticket_form_escalates_moves_the_due_date_and_excludes_for_supervisors() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let store = backend.store.clone();
    let level2 = store
        .create_support_group("Proximité (niveau 2)")
        .await
        .unwrap();
    let draft = NewTicket::simplified(Nature::Incident, "Badge refusé", "Mme Petit");
    let id = store
        .create_ticket(&draft, "agt", Utc::now())
        .await
        .unwrap();
    let (base, stop) = start(backend.clone()).await;
    let (agt, agt_csrf) = desk_session(&base, "agt", "mot-de-passe-agt").await;
    let (sup, sup_csrf) = desk_session(&base, "sup", "mot-de-passe-sup").await;
    let ticket_path = format!("/agent/dossier?ticket_id={id}");
    let post = |cookie: &str, action: &str, fields: Vec<(&str, String)>| {
        client()
            .post(format!("{base}/agent/dossier/{action}"))
            .header(header::COOKIE, cookie)
            .form(&fields)
            .send()
    };
    let id_text = id.to_string();

    // The agent sees escalation and due date, not the exclusion; the supervisor sees all.
    let html = get_page(&base, &agt, &ticket_path).await;
    assert!(html.contains("id=\"form-escalade\"") && html.contains("id=\"form-echeance\""));
    assert!(html.contains("<label for=\"escalade_motif\">Motif de l'escalade *</label>"));
    assert!(html.contains(&format!(
        "<option value=\"{level2}\">Proximité (niveau 2)</option>"
    )));
    assert!(
        !html.contains("id=\"form-exclusion\""),
        "agents have no exclusion button"
    );
    assert!(html.contains("id=\"historique\"") && html.contains("Création du ticket"));
    assert!(
        get_page(&base, &sup, &ticket_path)
            .await
            .contains("id=\"form-exclusion\"")
    );

    // Without the CSRF token: refused, nothing written.
    let r = post(
        &agt,
        "escalade",
        vec![
            ("ticket_id", id_text.clone()),
            ("escalade_groupe", level2.to_string()),
            ("escalade_motif", "panne".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(store.ticket(id).await.unwrap().group_id, None);

    // A missing reason is refused in French next to the field, the choices kept.
    let r = post(
        &agt,
        "escalade",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            ("escalade_groupe", level2.to_string()),
            ("escalade_priorite", "P1".into()),
            ("escalade_motif", "  ".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(
            "<p class=\"champ-erreur\" id=\"erreur-escalade_motif\" role=\"alert\">Motif de \
             l&#39;escalade : le motif de l&#39;escalade est obligatoire.</p>"
        ),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"erreur-escalade_motif\""));
    assert!(html.contains("<option value=\"P1\" selected>P1</option>"));
    // No group chosen: the group field is named.
    let r = post(
        &agt,
        "escalade",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            ("escalade_groupe", String::new()),
            ("escalade_motif", "panne".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("id=\"erreur-escalade_groupe\"")
    );

    // The escalation itself: redirect to the page, which confirms and shows the history line.
    let r = post(
        &agt,
        "escalade",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            ("escalade_groupe", level2.to_string()),
            ("escalade_priorite", "P1".into()),
            ("escalade_motif", "panne générale du bâtiment".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/agent/dossier?ticket_id={id}&sla=escalade")
    );
    let t = store.ticket(id).await.unwrap();
    assert_eq!((t.group_id, t.priority), (Some(level2), Priority::P1));
    let html = get_page(&base, &agt, &location).await;
    assert!(html.contains("Ticket escaladé : le groupe choisi le reprend."));
    assert!(html.contains("Escalade : Proximité (niveau 2)"), "{html}");
    assert!(html.contains("panne générale du bâtiment"));

    // Due date: a date that does not read, or in the past, is refused naming the field.
    let r = post(
        &agt,
        "echeance",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            ("echeance_nouvelle", "demain matin".into()),
            ("echeance_motif", "usager absent".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"erreur-echeance_nouvelle\""), "{html}");
    assert!(
        html.contains("Nouvelle échéance : « demain matin » n&#39;est pas une date lisible"),
        "{html}"
    );
    assert!(html.contains(">usager absent</textarea>"));
    let zone = chrono_tz::Europe::Paris;
    let past = (Utc::now() - chrono::Duration::hours(2)).with_timezone(&zone);
    let r = post(
        &agt,
        "echeance",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            (
                "echeance_nouvelle",
                past.format("%Y-%m-%dT%H:%M").to_string(),
            ),
            ("echeance_motif", "usager absent".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Nouvelle échéance : la nouvelle échéance doit être dans le futur.")
    );
    let future = (Utc::now() + chrono::Duration::days(3)).with_timezone(&zone);
    let r = post(
        &agt,
        "echeance",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            (
                "echeance_nouvelle",
                future.format("%Y-%m-%dT%H:%M").to_string(),
            ),
            ("echeance_motif", String::new()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("id=\"erreur-echeance_motif\"")
    );
    let r = post(
        &agt,
        "echeance",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            (
                "echeance_nouvelle",
                future.format("%Y-%m-%dT%H:%M").to_string(),
            ),
            ("echeance_motif", "date convenue avec l'usager".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let html = get_page(&base, &agt, &format!("{ticket_path}&sla=echeance")).await;
    assert!(html.contains("Échéance modifiée"));
    assert!(
        html.contains(&format!("Échéance : {}", future.format("%d/%m/%Y à %H:%M"))),
        "{html}"
    );

    // Exclusion: an agent's post is refused (403) even with the token; the supervisor's
    // without a justification names the field; then it is saved.
    let r = post(
        &agt,
        "exclusion",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", id_text.clone()),
            ("exclusion_justification", "coupure électrique".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("réservée aux superviseurs")
    );
    let r = post(
        &sup,
        "exclusion",
        vec![
            ("csrf", sup_csrf.clone()),
            ("ticket_id", id_text.clone()),
            ("exclusion_justification", String::new()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Justification : la justification est obligatoire.")
    );
    assert_eq!(store.ticket(id).await.unwrap().sla_outcome, None);
    let r = post(
        &sup,
        "exclusion",
        vec![
            ("csrf", sup_csrf.clone()),
            ("ticket_id", id_text.clone()),
            (
                "exclusion_justification",
                "coupure électrique du site".into(),
            ),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        store.ticket(id).await.unwrap().sla_outcome,
        Some(SlaOutcome::Excluded)
    );
    let html = get_page(&base, &sup, &format!("{ticket_path}&sla=exclusion")).await;
    assert!(html.contains("Ticket exclu des indicateurs de délai (SLA)."));
    assert!(html.contains("Exclusion du SLA validée par sup"));
    assert!(!html.contains("id=\"form-exclusion\""), "already excluded");

    // An unknown ticket is named as such.
    let r = post(
        &agt,
        "echeance",
        vec![
            ("csrf", agt_csrf.clone()),
            ("ticket_id", "999999".into()),
            (
                "echeance_nouvelle",
                future.format("%Y-%m-%dT%H:%M").to_string(),
            ),
            ("echeance_motif", "absent".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    let _ = stop.send(());
}
