//! The major-incident log on both backends: declare, update, resolve, close, filters, totals
//! and the journal entries.

mod common;

use chrono::Duration;
use common::at;
use guichet_tickets::StoreError;
use guichet_tickets::incidents::{IncidentFilter, IncidentStatus, NewIncident};

fn outage(title: &str, services: &str) -> NewIncident {
    NewIncident {
        title: title.into(),
        services: services.into(),
        description: "Les agents ne reçoivent plus de courriels.".into(),
        crisis_line: Some("8585".into()),
    }
}

both_backends!(incident_lifecycle_is_logged_and_journaled, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let declared = store
        .declare_incident(
            &outage("Panne de la messagerie", "Messagerie, 8585"),
            "sup1",
            t0,
        )
        .await
        .unwrap();
    assert_eq!(declared.status, IncidentStatus::Open);
    assert_eq!(declared.started_at, t0);
    assert_eq!(declared.ended_at, None);
    assert_eq!(declared.declared.crisis_line.as_deref(), Some("8585"));

    // Validation: no title, no services, a note-less update without status change.
    let mut bad = outage("  ", "Messagerie");
    assert!(matches!(
        store.declare_incident(&bad, "sup1", t0).await,
        Err(StoreError::Invalid { field: "title", .. })
    ));
    bad.title = "Panne".into();
    bad.services = "".into();
    assert!(matches!(
        store.declare_incident(&bad, "sup1", t0).await,
        Err(StoreError::Invalid {
            field: "services",
            ..
        })
    ));
    assert!(matches!(
        store
            .update_incident(declared.id, None, "  ", "sup1", t0)
            .await,
        Err(StoreError::Invalid { field: "note", .. })
    ));
    assert!(matches!(
        store
            .update_incident(9999, Some(IncidentStatus::Resolved), "", "sup1", t0)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let t1 = t0 + Duration::minutes(10);
    let resolving = store
        .update_incident(
            declared.id,
            Some(IncidentStatus::Resolving),
            "Le prestataire redémarre les serveurs.",
            "sup2",
            t1,
        )
        .await
        .unwrap();
    assert_eq!(resolving.status, IncidentStatus::Resolving);
    assert_eq!(resolving.ended_at, None);
    // A note alone keeps the status.
    let t2 = t0 + Duration::minutes(20);
    store
        .update_incident(declared.id, None, "Retour progressif.", "sup2", t2)
        .await
        .unwrap();
    let t3 = t0 + Duration::minutes(45);
    let resolved = store
        .update_incident(declared.id, Some(IncidentStatus::Resolved), "", "sup2", t3)
        .await
        .unwrap();
    assert_eq!(resolved.ended_at, Some(t3));
    assert_eq!(
        resolved.duration(t3 + Duration::hours(5)),
        Duration::minutes(45)
    );
    // Closing later keeps the end at the resolution.
    let t4 = t0 + Duration::hours(2);
    let closed = store
        .update_incident(
            declared.id,
            Some(IncidentStatus::Closed),
            "Accord des groupes support.",
            "sup1",
            t4,
        )
        .await
        .unwrap();
    assert_eq!(closed.status, IncidentStatus::Closed);
    assert_eq!(closed.ended_at, Some(t3));
    assert_eq!(closed.closed_at, Some(t4));
    assert_eq!(closed.closed_by.as_deref(), Some("sup1"));
    // A closed incident is frozen.
    assert!(matches!(
        store
            .update_incident(declared.id, Some(IncidentStatus::Open), "", "sup1", t4)
            .await,
        Err(StoreError::Invalid {
            field: "status",
            ..
        })
    ));

    let (incident, updates) = store.incident(declared.id).await.unwrap().unwrap();
    assert_eq!(incident, closed);
    let steps: Vec<_> = updates
        .iter()
        .map(|u| (u.at, u.author.as_str(), u.status_before, u.status_after))
        .collect();
    assert_eq!(
        steps,
        vec![
            (t0, "sup1", None, IncidentStatus::Open),
            (
                t1,
                "sup2",
                Some(IncidentStatus::Open),
                IncidentStatus::Resolving
            ),
            (
                t2,
                "sup2",
                Some(IncidentStatus::Resolving),
                IncidentStatus::Resolving
            ),
            (
                t3,
                "sup2",
                Some(IncidentStatus::Resolving),
                IncidentStatus::Resolved
            ),
            (
                t4,
                "sup1",
                Some(IncidentStatus::Resolved),
                IncidentStatus::Closed
            ),
        ]
    );
    assert_eq!(updates[2].note, "Retour progressif.");

    // The journal: who, when, before and after, every step.
    let journal = store
        .journal_between(t0, t4 + Duration::seconds(1))
        .await
        .unwrap();
    let actions: Vec<_> = journal
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.at))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("incident.declare", "sup1", t0),
            ("incident.update", "sup2", t1),
            ("incident.update", "sup2", t2),
            ("incident.update", "sup2", t3),
            ("incident.close", "sup1", t4),
        ]
    );
    let subject = format!("incident:{}", declared.id);
    assert!(journal.iter().all(|e| e.subject == subject));
    assert_eq!(journal[0].old_value, None);
    assert!(
        journal[1]
            .old_value
            .as_deref()
            .unwrap()
            .contains("statut : ouvert")
    );
    assert!(
        journal[1]
            .new_value
            .as_deref()
            .unwrap()
            .contains("statut : en cours de résolution — Le prestataire redémarre les serveurs.")
    );
    assert!(journal[3].new_value.as_deref().unwrap().contains("fin : "));
});

both_backends!(incidents_filter_and_total, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let mail = store
        .declare_incident(&outage("Panne de la messagerie", "Messagerie"), "sup1", t0)
        .await
        .unwrap();
    store
        .update_incident(
            mail.id,
            Some(IncidentStatus::Resolved),
            "",
            "sup1",
            t0 + Duration::hours(1),
        )
        .await
        .unwrap();
    let t1 = at("2026-03-03T14:00:00Z");
    let vpn = store
        .declare_incident(
            &NewIncident {
                title: "Accès VPN impossible".into(),
                services: "VPN, télétravail".into(),
                description: "Certificat expiré.".into(),
                crisis_line: None,
            },
            "sup2",
            t1,
        )
        .await
        .unwrap();

    let all = store.incidents(&IncidentFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![vpn.id, mail.id]
    );
    let ongoing = store.ongoing_incidents().await.unwrap();
    assert_eq!(
        ongoing.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![vpn.id]
    );
    let resolved = store
        .incidents(&IncidentFilter {
            status: Some(IncidentStatus::Resolved),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        resolved.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![mail.id]
    );
    // Case does not matter to the text filter, accented letters included; every word must match.
    let text = store
        .incidents(&IncidentFilter {
            text: Some("TÉLÉTRAVAIL vpn".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(text.iter().map(|i| i.id).collect::<Vec<_>>(), vec![vpn.id]);
    // Period: 2 March only holds the mail outage.
    let day = store
        .incidents(&IncidentFilter {
            from: Some(at("2026-03-02T00:00:00Z")),
            to: Some(at("2026-03-03T00:00:00Z")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(day.iter().map(|i| i.id).collect::<Vec<_>>(), vec![mail.id]);

    // Totals: 1 h of mail outage, plus the VPN outage from 14:00 to now (16:30), clipped to
    // the period's end when the period ends first.
    let now = at("2026-03-03T16:30:00Z");
    let totals = store
        .incident_totals(at("2026-03-02T00:00:00Z"), at("2026-03-04T00:00:00Z"), now)
        .await
        .unwrap();
    assert_eq!(totals.count, 2);
    assert_eq!(totals.total_secs, 3600 + 9000);
    let clipped = store
        .incident_totals(at("2026-03-02T09:30:00Z"), at("2026-03-03T15:00:00Z"), now)
        .await
        .unwrap();
    assert_eq!((clipped.count, clipped.total_secs), (2, 1800 + 3600));
});
