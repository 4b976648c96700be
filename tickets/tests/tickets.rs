//! Tickets on both backends: creation, lifecycle, audit, tasks, notes,
//! parent/child, automatic closure, and no half ticket on failure.

mod common;

use chrono::Duration;
use common::at;
use guichet_tickets::ticket::{
    Form, Impact, Nature, NewTask, NewTicket, NoteKind, Priority, TicketAction, TicketStatus,
    Urgency, WaitingReason, compute_priority,
};
use guichet_tickets::{CallOutcome, NewCall, StoreError};

fn complete(category: i64) -> NewTicket {
    NewTicket {
        form: Form::Complete,
        entity: Some("DRAC Bretagne".into()),
        site: Some("Rennes".into()),
        symptom: Some("Écran noir".into()),
        diagnosis: Some("Câble vidéo débranché".into()),
        technical_domain: Some("Poste de travail".into()),
        urgency: Some(Urgency::Elevee),
        impact: Some(Impact::Majeur),
        category_id: Some(category),
        ..NewTicket::simplified(Nature::Incident, "Écran noir au démarrage", "Jeanne Martin")
    }
}

#[test]
fn priority_without_qualification_is_p3_unless_vip_or_p0() {
    assert_eq!(
        compute_priority(None, Some(Impact::Critique), false, false),
        Priority::P3
    );
    assert_eq!(compute_priority(None, None, true, false), Priority::P0);
    assert_eq!(
        compute_priority(Some(Urgency::Moyenne), None, false, true),
        Priority::P0
    );
}

#[test]
fn priority_matrix_follows_the_tender() {
    use Impact::*;
    use Priority::*;
    use Urgency::*;
    let expected = [
        (Severe, Critique, P0),
        (Severe, Majeur, P1),
        (Severe, Modere, P2),
        (Elevee, Critique, P1),
        (Elevee, Majeur, P2),
        (Elevee, Modere, P3),
        (Moyenne, Critique, P2),
        (Moyenne, Majeur, P3),
        (Moyenne, Modere, P3),
    ];
    for (u, i, p) in expected {
        assert_eq!(
            compute_priority(Some(u), Some(i), false, false),
            p,
            "{u} x {i}"
        );
        assert_eq!(
            compute_priority(Some(u), Some(i), false, true),
            P0,
            "P0 window {u} x {i}"
        );
        assert_eq!(
            compute_priority(Some(u), Some(i), true, false),
            P0,
            "VIP {u} x {i}"
        );
    }
}

both_backends!(
    complete_form_requires_every_field_and_computes_priority,
    |store| {
        let logiciels = store.create_category("Logiciels", None).await.unwrap();
        let bureautique = store
            .create_category("Bureautique", Some(logiciels))
            .await
            .unwrap();
        let mut t = complete(bureautique);
        t.diagnosis = None;
        let err = store
            .create_ticket(&t, "alice", at("2026-03-02T09:00:00Z"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Invalid {
                    field: "diagnosis",
                    ..
                }
            ),
            "{err}"
        );

        let t = complete(bureautique);
        let id = store
            .create_ticket(&t, "alice", at("2026-03-02T09:00:00Z"))
            .await
            .unwrap();
        let got = store.ticket(id).await.unwrap();
        assert_eq!(got.priority, Priority::P2, "Élevée x Majeur = P2");
        assert_eq!(got.status, TicketStatus::New);
        assert_eq!(got.form, Form::Complete);
        assert_eq!(got.category_id, Some(bureautique));

        let mut vip = complete(bureautique);
        vip.vip = true;
        let id = store
            .create_ticket(&vip, "alice", at("2026-03-02T09:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            store.ticket(id).await.unwrap().priority,
            Priority::P0,
            "VIP goes to P0"
        );

        // The simplified form only needs identity, nature and title.
        let simple = NewTicket::simplified(Nature::Assistance, "Question sur Teams", "Paul Durand");
        let id = store
            .create_ticket(&simple, "alice", at("2026-03-02T09:00:00Z"))
            .await
            .unwrap();
        assert_eq!(store.ticket(id).await.unwrap().nature, Nature::Assistance);

        // Typologies are editable.
        store
            .update_category(bureautique, "Bureautique et messagerie", true)
            .await
            .unwrap();
        let cats = store.categories().await.unwrap();
        assert_eq!(cats.len(), 2);
        assert!(
            cats.iter()
                .any(|c| c.name == "Bureautique et messagerie" && c.parent_id == Some(logiciels))
        );
    }
);

both_backends!(lifecycle_is_enforced_and_audited, |store| {
    let group = store.create_support_group("Proximité").await.unwrap();
    let t0 = at("2026-03-02T09:00:00Z");
    let id = store
        .create_ticket(
            &NewTicket::simplified(Nature::Incident, "Imprimante", "Paul"),
            "alice",
            t0,
        )
        .await
        .unwrap();
    // Illegal: cannot resume what is not waiting, cannot close an open ticket.
    let err = store
        .transition_ticket(id, &TicketAction::Resume, "alice", t0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: TicketStatus::New,
                to: TicketStatus::InProgress
            }
        ),
        "{err}"
    );
    let err = store
        .transition_ticket(id, &TicketAction::Close, "alice", t0)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IllegalTransition {
            from: TicketStatus::New,
            to: TicketStatus::Closed
        }
    ));

    store
        .assign_ticket(
            id,
            Some(group),
            Some("bob"),
            "alice",
            t0 + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(
        store.ticket(id).await.unwrap().status,
        TicketStatus::Assigned
    );
    store
        .transition_ticket(id, &TicketAction::Start, "bob", t0 + Duration::minutes(2))
        .await
        .unwrap();
    let w = store
        .transition_ticket(
            id,
            &TicketAction::Wait(WaitingReason::Delivery),
            "bob",
            t0 + Duration::minutes(3),
        )
        .await
        .unwrap();
    assert_eq!(
        (w.status, w.waiting_reason),
        (TicketStatus::Waiting, Some(WaitingReason::Delivery))
    );
    store
        .transition_ticket(id, &TicketAction::Resume, "bob", t0 + Duration::hours(1))
        .await
        .unwrap();
    let r = store
        .transition_ticket(id, &TicketAction::Resolve, "bob", t0 + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(r.resolved_at, Some(t0 + Duration::hours(2)));
    assert_eq!(r.waiting_reason, None);
    let err = store
        .assign_ticket(id, Some(group), None, "alice", t0 + Duration::hours(3))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IllegalTransition {
            from: TicketStatus::Resolved,
            ..
        }
    ));
    let re = store
        .transition_ticket(
            id,
            &TicketAction::Reopen("toujours en panne".into()),
            "paul",
            t0 + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!((re.status, re.reopen_count), (TicketStatus::InProgress, 1));
    store
        .transition_ticket(id, &TicketAction::Resolve, "bob", t0 + Duration::days(2))
        .await
        .unwrap();
    store
        .change_priority(
            id,
            Priority::P1,
            "utilisateur bloqué",
            "sup",
            t0 + Duration::days(2),
        )
        .await
        .unwrap();
    let err = store
        .change_priority(id, Priority::P0, "  ", "sup", t0)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "reason",
            ..
        }
    ));

    let trail = store.ticket_audit(id).await.unwrap();
    let statuses: Vec<(Option<String>, Option<String>)> = trail
        .iter()
        .filter(|a| a.field == "status")
        .map(|a| (a.old_value.clone(), a.new_value.clone()))
        .collect();
    let s = |a: &str, b: &str| (Some(a.to_owned()), Some(b.to_owned()));
    assert_eq!(
        statuses,
        [
            s("new", "assigned"),
            s("assigned", "in_progress"),
            s("in_progress", "waiting"),
            s("waiting", "in_progress"),
            s("in_progress", "resolved"),
            s("resolved", "in_progress"),
            s("in_progress", "resolved"),
        ]
    );
    let reopen = trail
        .iter()
        .find(|a| a.old_value.as_deref() == Some("resolved"))
        .unwrap();
    assert_eq!(
        (reopen.actor.as_str(), reopen.reason.as_deref()),
        ("paul", Some("toujours en panne"))
    );
    let prio = trail.iter().find(|a| a.field == "priority").unwrap();
    assert_eq!(prio.old_value.as_deref(), Some("P3"));
    assert_eq!(prio.reason.as_deref(), Some("utilisateur bloqué"));
    assert_eq!(trail[0].field, "created");
});

both_backends!(resolved_tickets_close_after_the_configured_delay, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let a = store
        .create_ticket(&NewTicket::simplified(Nature::Incident, "A", "X"), "s", t0)
        .await
        .unwrap();
    let b = store
        .create_ticket(&NewTicket::simplified(Nature::Incident, "B", "Y"), "s", t0)
        .await
        .unwrap();
    store
        .transition_ticket(a, &TicketAction::Resolve, "s", t0)
        .await
        .unwrap();
    store
        .transition_ticket(b, &TicketAction::Resolve, "s", t0 + Duration::days(5))
        .await
        .unwrap();
    let delay = Duration::days(14);
    assert!(
        store
            .close_resolved_tickets(t0 + Duration::days(13), delay)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .close_resolved_tickets(t0 + Duration::days(14), delay)
            .await
            .unwrap(),
        [a]
    );
    let closed = store.ticket(a).await.unwrap();
    assert_eq!(
        (closed.status, closed.closed_at),
        (TicketStatus::Closed, Some(t0 + Duration::days(14)))
    );
    assert_eq!(
        store.ticket(b).await.unwrap().status,
        TicketStatus::Resolved
    );
    // A shorter configured delay closes b too.
    assert_eq!(
        store
            .close_resolved_tickets(t0 + Duration::days(14), Duration::days(7))
            .await
            .unwrap(),
        [b]
    );
    let err = store
        .transition_ticket(
            a,
            &TicketAction::Reopen("trop tard".into()),
            "s",
            t0 + Duration::days(20),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IllegalTransition {
            from: TicketStatus::Closed,
            ..
        }
    ));
});

both_backends!(an_interrupted_write_leaves_no_half_ticket, |store| {
    let group = store.create_support_group("Réseau").await.unwrap();
    let mut t = NewTicket::simplified(Nature::Request, "Prêt de matériel", "Zoé");
    t.tasks = vec![
        NewTask {
            title: "Préparer le PC".into(),
            group_id: Some(group),
            assignee: None,
        },
        // The second task names a group that does not exist: the foreign key
        // fails after the ticket row and the first task were inserted.
        NewTask {
            title: "Livrer".into(),
            group_id: Some(group + 1000),
            assignee: None,
        },
    ];
    let err = store
        .create_ticket(&t, "alice", at("2026-03-02T09:00:00Z"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    let report = store
        .report(
            at("2026-03-01T00:00:00Z"),
            at("2026-04-01T00:00:00Z"),
            guichet_tickets::reports::ReportPeriod::Month,
            guichet_tickets::reports::default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(report[0].tickets.opened.total, 0, "no ticket row left");
    assert!(matches!(
        store.ticket(1).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store.ticket_tasks(1).await.unwrap().is_empty(),
        "no task row left"
    );
    assert!(
        store.ticket_audit(1).await.unwrap().is_empty(),
        "no audit row left"
    );

    // The same ticket with valid groups goes in whole.
    t.tasks[1].group_id = Some(group);
    let id = store
        .create_ticket(&t, "alice", at("2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.ticket_tasks(id).await.unwrap().len(), 2);
});

both_backends!(tasks_notes_calls_and_mass_incidents, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let incident = store
        .create_ticket(
            &NewTicket::simplified(Nature::Incident, "Messagerie HS", "A"),
            "s",
            t0,
        )
        .await
        .unwrap();
    let err = store
        .add_task(
            incident,
            &NewTask {
                title: "x".into(),
                group_id: None,
                assignee: None,
            },
            "s",
            t0,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { field: "tasks", .. }),
        "an incident has no task"
    );
    let request = store
        .create_ticket(
            &NewTicket::simplified(Nature::Request, "Accès VPN", "B"),
            "s",
            t0,
        )
        .await
        .unwrap();
    store
        .add_task(
            request,
            &NewTask {
                title: "Créer le compte".into(),
                group_id: None,
                assignee: Some("carl".into()),
            },
            "s",
            t0,
        )
        .await
        .unwrap();
    let task = store.ticket_tasks(request).await.unwrap()[0].id;
    store
        .complete_task(task, "carl", t0 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        store.ticket_tasks(request).await.unwrap()[0].done_at,
        Some(t0 + Duration::hours(1))
    );
    assert!(matches!(
        store.complete_task(task, "carl", t0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store.ticket_tasks(request).await.unwrap()[0]
            .assignee
            .as_deref(),
        Some("carl")
    );

    store
        .add_note(
            incident,
            NoteKind::ChaseUp,
            "agent1",
            "L'utilisateur relance",
            t0 + Duration::hours(1),
        )
        .await
        .unwrap();
    store
        .add_note(
            incident,
            NoteKind::Note,
            "agent2",
            "Escaladé N2",
            t0 + Duration::hours(2),
        )
        .await
        .unwrap();
    let notes = store.ticket_notes(incident).await.unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(
        (notes[0].kind, notes[0].author.as_str()),
        (NoteKind::ChaseUp, "agent1")
    );

    // A call creates a ticket; a second call is attached to it.
    let call = |n: &str| NewCall {
        sip_call_id: n.into(),
        line: "8585".into(),
        caller_number: "+33140158000".into(),
        caller_name: None,
        person_id: None,
        vip: false,
        p0: false,
        arrived_at: t0,
    };
    let c1 = store.open_call(&call("c1")).await.unwrap();
    let c2 = store.open_call(&call("c2")).await.unwrap();
    store
        .close_call(c1, CallOutcome::Answered, t0, false)
        .await
        .unwrap();
    let mut from_call = NewTicket::simplified(Nature::Incident, "Messagerie HS aussi", "C");
    from_call.call_id = Some(c1);
    let child = store.create_ticket(&from_call, "s", t0).await.unwrap();
    store.link_call(child, c2, "s", t0).await.unwrap();
    assert_eq!(store.ticket_calls(child).await.unwrap(), [c1, c2]);

    // Mass incident: only the parent is counted.
    store.set_parent(child, incident, "s", t0).await.unwrap();
    let err = store
        .set_parent(incident, child, "s", t0)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "parent_id",
            ..
        }
    ));
    assert_eq!(store.ticket(child).await.unwrap().parent_id, Some(incident));
    let report = store
        .report(
            at("2026-03-01T00:00:00Z"),
            at("2026-04-01T00:00:00Z"),
            guichet_tickets::reports::ReportPeriod::Month,
            guichet_tickets::reports::default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        report[0].tickets.opened.total, 2,
        "incident + request, the child is not counted"
    );
});

both_backends!(duplicates_and_unknown_references_are_recognised, |store| {
    // The web API answers 409 and 422 on these; both engines must say which it is.
    store.create_support_group("Niveau 3").await.unwrap();
    let duplicate = store.create_support_group("Niveau 3").await.unwrap_err();
    assert!(duplicate.is_unique_violation(), "{duplicate}");
    assert!(!duplicate.is_foreign_key_violation(), "{duplicate}");
    let draft = NewTicket::simplified(Nature::Incident, "Badge refusé", "Mme Petit");
    let id = store
        .create_ticket(&draft, "agt", at("2026-11-24T09:00:00Z"))
        .await
        .unwrap();
    let unknown = store
        .escalate_ticket(
            id,
            424_242,
            None,
            "panne",
            "agt",
            at("2026-11-24T09:05:00Z"),
        )
        .await
        .unwrap_err();
    assert!(unknown.is_foreign_key_violation(), "{unknown}");
    assert!(!unknown.is_unique_violation(), "{unknown}");
    let missing = store.ticket(999_999).await.unwrap_err();
    assert!(!missing.is_unique_violation() && !missing.is_foreign_key_violation());
});
