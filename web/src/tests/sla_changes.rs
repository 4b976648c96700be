//! Escalation, due-date change and SLA exclusion through the API: roles and CSRF, French
//! errors, and the audit rows the live SLA runner follows.

use super::*;
use guichet_tickets::ticket::{Nature, NewTicket, Priority, SlaOutcome};

/// A running router with an open ticket, a level-2 support group, and the sessions (cookie,
/// CSRF token) of the agent "agt" and the supervisor "sup".
pub(super) struct SlaFixture {
    pub(super) store: Store,
    pub(super) group: i64,
    pub(super) id: i64,
    pub(super) base: String,
    pub(super) stop: tokio::sync::oneshot::Sender<()>,
    pub(super) agent: (String, String),
    pub(super) supervisor: (String, String),
}

pub(super) async fn sla_fixture(dir: &std::path::Path, group_name: &str) -> SlaFixture {
    let backend = fake(dir, true).await;
    let store = backend.store.clone();
    let group = store.create_support_group(group_name).await.unwrap();
    let draft = NewTicket::simplified(Nature::Incident, "Badge refusé", "Mme Petit");
    let id = store
        .create_ticket(&draft, "agt", Utc::now())
        .await
        .unwrap();
    let (base, stop) = start(backend.clone()).await;
    let agent = desk_session(&base, "agt", "mot-de-passe-agt").await;
    let supervisor = desk_session(&base, "sup", "mot-de-passe-sup").await;
    SlaFixture {
        store,
        group,
        id,
        base,
        stop,
        agent,
        supervisor,
    }
}

#[tokio::test]
async fn tickets_are_escalated_moved_and_excluded_with_audit_rows() {
    let dir = tempfile::tempdir().unwrap();
    let SlaFixture {
        store,
        group,
        id,
        base,
        stop,
        agent: (agt, agt_csrf),
        supervisor: (sup, sup_csrf),
    } = sla_fixture(dir.path(), "Niveau 2").await;
    let post = |cookie: &str, csrf: &str, path: &str, body: serde_json::Value| {
        client()
            .post(format!("{base}/api/v1/tickets/{id}/{path}"))
            .header(header::COOKIE, cookie)
            .header(api::CSRF_HEADER, csrf)
            .json(&body)
            .send()
    };
    let fields = |audit: Vec<guichet_tickets::ticket::AuditEntry>| {
        audit
            .into_iter()
            .filter(|a| a.field != "created")
            .map(|a| (a.actor, a.field, a.new_value, a.reason))
            .collect::<Vec<_>>()
    };

    // Escalation to level 2 as a P1; no reason, or a lower priority, is refused in French.
    let r = post(
        &agt,
        &agt_csrf,
        "escalation",
        serde_json::json!({"group_id": group, "reason": " "}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "le motif de l'escalade est obligatoire", "field": "reason"})
    );
    let r = post(
        &agt,
        &agt_csrf,
        "escalation",
        serde_json::json!({"group_id": group, "priority": "P1", "reason": "panne générale"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    let t = store.ticket(id).await.unwrap();
    assert_eq!((t.group_id, t.priority), (Some(group), Priority::P1));

    // Due date: in the past refused, then moved.
    let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let r = post(
        &agt,
        &agt_csrf,
        "due-date",
        serde_json::json!({"due": past, "reason": "absent"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let due = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r = post(
        &agt,
        &agt_csrf,
        "due-date",
        serde_json::json!({"due": due, "reason": "usager absent"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);

    // Exclusion: agents may not; the supervisor approves it by making it.
    let body = serde_json::json!({"justification": "coupure électrique du site"});
    let r = post(&agt, &agt_csrf, "sla-exclusion", body.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(&sup, "faux", "sla-exclusion", body.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(&sup, &sup_csrf, "sla-exclusion", body.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        store.ticket(id).await.unwrap().sla_outcome,
        Some(SlaOutcome::Excluded)
    );

    let rows = fields(store.ticket_audit(id).await.unwrap());
    let row = |actor: &str, field: &str, new: Option<&str>, reason: &str| {
        (
            actor.to_owned(),
            field.to_owned(),
            new.map(str::to_owned),
            Some(reason.to_owned()),
        )
    };
    let due_text = chrono::DateTime::parse_from_rfc3339(&due)
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339();
    assert_eq!(
        rows,
        vec![
            row(
                "agt",
                "escalation",
                Some(&group.to_string()),
                "panne générale"
            ),
            row("agt", "priority", Some("P1"), "panne générale"),
            row("agt", "due_date", Some(&due_text), "usager absent"),
            row(
                "sup",
                "sla_outcome",
                Some("excluded"),
                "coupure électrique du site"
            ),
            row(
                "sup",
                "sla_exclusion",
                Some("sup"),
                "coupure électrique du site"
            ),
        ]
    );
    let missing = client()
        .post(format!("{base}/api/v1/tickets/999999/due-date"))
        .header(header::COOKIE, &agt)
        .header(api::CSRF_HEADER, &agt_csrf)
        .json(&serde_json::json!({"due": due, "reason": "absent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "ticket n° 999999 introuvable"})
    );
    let doc: serde_json::Value = client()
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["escalation", "due-date", "sla-exclusion"] {
        let path = format!("/tickets/{{id}}/{path}");
        assert!(doc["paths"][&path].get("post").is_some(), "{path} missing");
    }
    let _ = stop.send(());
}
