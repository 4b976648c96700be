//! The SLA actions on the ticket form (`/agent/dossier?ticket_id=N`): escalation, due-date
//! change and SLA exclusion posted as forms, with CSRF, French errors naming the field, the
//! exclusion for supervisors only, and each action as a new line of the ticket's history.

use super::sla_changes::{SlaFixture, sla_fixture};
use super::*;
use guichet_tickets::ticket::{Priority, SlaOutcome};

/// A session cookie and its CSRF token (empty: the token left out).
type Who<'a> = (&'a str, &'a str);
/// A form's fields.
type Fields<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn the_ticket_form_escalates_moves_the_due_date_and_excludes_for_supervisors() {
    let dir = tempfile::tempdir().unwrap();
    let SlaFixture {
        store,
        group: level2,
        id,
        base,
        stop,
        agent: (agt, agt_csrf),
        supervisor: (sup, sup_csrf),
    } = sla_fixture(dir.path(), "Proximité (niveau 2)").await;
    let ticket_path = format!("/agent/dossier?ticket_id={id}");
    // Posts an action's form with the ticket id; `csrf` empty leaves the token out.
    let post = |cookie: &str, csrf: &str, action: &str, fields: &[(&str, &str)]| {
        let mut form: Vec<(String, String)> = vec![("ticket_id".into(), id.to_string())];
        if !csrf.is_empty() {
            form.push(("csrf".into(), csrf.to_owned()));
        }
        form.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        client()
            .post(format!("{base}/agent/dossier/{action}"))
            .header(header::COOKIE, cookie)
            .form(&form)
            .send()
    };
    let zone = chrono_tz::Europe::Paris;
    let local = |hours: i64| {
        (Utc::now() + chrono::Duration::hours(hours))
            .with_timezone(&zone)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let (past, future) = (local(-2), local(72));
    let group = level2.to_string();

    // The agent sees escalation and due date, not the exclusion; the supervisor sees all.
    let html = page_text(&base, &agt, &ticket_path).await;
    assert!(html.contains("id=\"form-escalade\"") && html.contains("id=\"form-echeance\""));
    assert!(html.contains("<label for=\"escalade_motif\">Motif de l'escalade *</label>"));
    assert!(html.contains(&format!(
        "<option value=\"{level2}\">Proximité (niveau 2)</option>"
    )));
    assert!(
        !html.contains("id=\"form-exclusion\""),
        "no exclusion for agents"
    );
    assert!(html.contains("id=\"historique\"") && html.contains("Création du ticket"));
    let html = page_text(&base, &sup, &ticket_path).await;
    assert!(html.contains("id=\"form-exclusion\""));

    // Refusals: (who, action, fields, status, what the answer says). Nothing is written.
    let agent = (agt.as_str(), agt_csrf.as_str());
    let supervisor = (sup.as_str(), sup_csrf.as_str());
    let refusals: Vec<(Who, &str, Fields, u16, &str)> = vec![
        (
            (agt.as_str(), ""),
            "escalade",
            vec![("escalade_groupe", &group), ("escalade_motif", "panne")],
            403,
            "",
        ),
        (
            agent,
            "escalade",
            vec![
                ("escalade_groupe", &group),
                ("escalade_priorite", "P1"),
                ("escalade_motif", "  "),
            ],
            422,
            "<p class=\"champ-erreur\" id=\"erreur-escalade_motif\" role=\"alert\">Motif de \
             l&#39;escalade : le motif de l&#39;escalade est obligatoire.</p>",
        ),
        (
            agent,
            "escalade",
            vec![("escalade_groupe", ""), ("escalade_motif", "panne")],
            422,
            "id=\"erreur-escalade_groupe\" role=\"alert\">Groupe : choisissez le groupe",
        ),
        (
            agent,
            "echeance",
            vec![
                ("echeance_nouvelle", "demain matin"),
                ("echeance_motif", "usager absent"),
            ],
            422,
            "id=\"erreur-echeance_nouvelle\" role=\"alert\">Nouvelle échéance : « demain matin » \
             n&#39;est pas une date lisible",
        ),
        (
            agent,
            "echeance",
            vec![
                ("echeance_nouvelle", &past),
                ("echeance_motif", "usager absent"),
            ],
            422,
            "Nouvelle échéance : la nouvelle échéance doit être dans le futur.",
        ),
        (
            agent,
            "echeance",
            vec![("echeance_nouvelle", &future), ("echeance_motif", "")],
            422,
            "id=\"erreur-echeance_motif\" role=\"alert\">Justification : le motif du changement",
        ),
        (
            agent,
            "exclusion",
            vec![("exclusion_justification", "coupure électrique")],
            403,
            "réservée aux superviseurs",
        ),
        (
            supervisor,
            "exclusion",
            vec![("exclusion_justification", "")],
            422,
            "Justification : la justification est obligatoire.",
        ),
    ];
    for ((cookie, csrf), action, fields, status, says) in refusals {
        let r = post(cookie, csrf, action, &fields).await.unwrap();
        assert_eq!(r.status(), status, "{action} {fields:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(says), "{action} {fields:?}: {html}");
    }
    // A refused form keeps what was typed, the field marked invalid.
    let r = post(
        &agt,
        &agt_csrf,
        "echeance",
        &[
            ("echeance_nouvelle", "x"),
            ("echeance_motif", "usager absent"),
        ],
    )
    .await
    .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains(">usager absent</textarea>"));
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"erreur-echeance_nouvelle\""));
    let t = store.ticket(id).await.unwrap();
    assert_eq!((t.group_id, t.sla_outcome), (None, None));
    let rows = store.ticket_audit(id).await.unwrap();
    assert!(rows.iter().all(|a| a.field == "created"), "{rows:?}");

    // Each action: a redirect to the page, which confirms and shows the history line.
    let due_shown = format!(
        "Échéance : {}",
        chrono::NaiveDateTime::parse_from_str(&future, "%Y-%m-%dT%H:%M")
            .unwrap()
            .format("%d/%m/%Y à %H:%M")
    );
    let actions: Vec<(Who, &str, Fields, &str, Vec<&str>)> = vec![
        (
            agent,
            "escalade",
            vec![
                ("escalade_groupe", &group),
                ("escalade_priorite", "P1"),
                ("escalade_motif", "panne générale du bâtiment"),
            ],
            "Ticket escaladé : le groupe choisi le reprend.",
            vec![
                "Escalade : Proximité (niveau 2)",
                "panne générale du bâtiment",
                "Priorité : P3 → P1",
            ],
        ),
        (
            agent,
            "echeance",
            vec![
                ("echeance_nouvelle", &future),
                ("echeance_motif", "date convenue avec l'usager"),
            ],
            "Échéance modifiée : le délai suit la nouvelle date.",
            vec![&due_shown, "date convenue avec l&#39;usager"],
        ),
        (
            supervisor,
            "exclusion",
            vec![("exclusion_justification", "coupure électrique du site")],
            "Ticket exclu des indicateurs de délai (SLA).",
            vec![
                "Exclusion du SLA validée par sup",
                "coupure électrique du site",
            ],
        ),
    ];
    for ((cookie, csrf), action, fields, confirmation, history) in actions {
        let r = post(cookie, csrf, action, &fields).await.unwrap();
        assert_eq!(r.status(), 303, "{action}");
        let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
        assert_eq!(location, format!("{ticket_path}&sla={action}"));
        let html = page_text(&base, cookie, &location).await;
        assert!(html.contains(confirmation), "{action}: {html}");
        for line in history {
            assert!(html.contains(line), "{action}: {line} not in {html}");
        }
    }
    let t = store.ticket(id).await.unwrap();
    assert_eq!((t.group_id, t.priority), (Some(level2), Priority::P1));
    assert_eq!(t.sla_outcome, Some(SlaOutcome::Excluded));
    let html = page_text(&base, &sup, &ticket_path).await;
    assert!(!html.contains("id=\"form-exclusion\""), "already excluded");

    // An unknown ticket is named as such.
    let r = client()
        .post(format!("{base}/agent/dossier/echeance"))
        .header(header::COOKIE, &agt)
        .form(&[
            ("csrf", agt_csrf.as_str()),
            ("ticket_id", "999999"),
            ("echeance_nouvelle", &future),
            ("echeance_motif", "absent"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Ce ticket n&#39;existe pas.")
    );
    let _ = stop.send(());
}
