//! Agents, versioned live messages, callbacks, journal and security log on
//! both backends.

mod common;

use chrono::Duration;
use common::at;
use guichet_tickets::admin::{Agent, CallbackStatus, MessageKind, NewMessage};
use guichet_tickets::{JournalEntry, SecurityEvent, StoreError};

fn crisis(text: &str, active: bool) -> NewMessage {
    NewMessage {
        line: "8585".into(),
        kind: MessageKind::Crisis,
        text: text.into(),
        audio_path: None,
        starts_at: None,
        ends_at: None,
        active,
    }
}

both_backends!(messages_are_versioned_live_and_journaled, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    assert!(
        store
            .active_message("8585", MessageKind::Crisis, t0)
            .await
            .unwrap()
            .is_none()
    );
    let v1 = store
        .save_message(&crisis("Panne de messagerie en cours.", true), "sup1", t0)
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let live = store
        .active_message("8585", MessageKind::Crisis, t0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.message.text, "Panne de messagerie en cours.");

    // A new active version replaces it at once.
    let mut v2 = crisis("La messagerie est rétablie.", true);
    v2.ends_at = Some(t0 + Duration::hours(2));
    store
        .save_message(&v2, "sup2", t0 + Duration::minutes(30))
        .await
        .unwrap();
    let live = store
        .active_message("8585", MessageKind::Crisis, t0 + Duration::minutes(31))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((live.version, live.author.as_str()), (2, "sup2"));
    // It expires at its end; the older version was deactivated, not revived.
    assert!(
        store
            .active_message("8585", MessageKind::Crisis, t0 + Duration::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    // Other lines and kinds are separate.
    assert!(
        store
            .active_message("8585", MessageKind::Deterrence, t0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .active_message("3939", MessageKind::Crisis, t0)
            .await
            .unwrap()
            .is_none()
    );
    let history = store
        .message_history("8585", MessageKind::Crisis)
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|m| (m.version, m.message.active))
            .collect::<Vec<_>>(),
        [(2, true), (1, false)]
    );

    let mut bad = crisis("x", true);
    bad.starts_at = Some(t0);
    bad.ends_at = Some(t0);
    assert!(matches!(
        store.save_message(&bad, "sup1", t0).await.unwrap_err(),
        StoreError::Invalid {
            field: "ends_at",
            ..
        }
    ));

    let journal = store
        .journal_between(t0, t0 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[1].actor, "sup2");
    assert_eq!(journal[1].subject, "message:8585:crisis");
    assert_eq!(
        journal[1].old_value.as_deref(),
        Some("Panne de messagerie en cours.")
    );
    assert_eq!(
        journal[1].new_value.as_deref(),
        Some("La messagerie est rétablie.")
    );
});

both_backends!(agents_are_upserted_and_journaled_without_hashes, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let mut a = Agent {
        login: "jdupont".into(),
        display_name: "Jean Dupont".into(),
        roles: vec!["agent".into()],
        sip_extension: Some("201".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
        active: true,
    };
    store.upsert_agent(&a, "admin", t0).await.unwrap();
    a.roles.push("supervisor".into());
    store
        .upsert_agent(&a, "admin", t0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(store.agent("jdupont").await.unwrap().unwrap(), a);
    assert_eq!(store.agents().await.unwrap().len(), 1);
    assert!(store.agent("inconnu").await.unwrap().is_none());
    let journal = store
        .journal_between(t0, t0 + Duration::hours(1))
        .await
        .unwrap();
    let actions: Vec<&str> = journal.iter().map(|j| j.action.as_str()).collect();
    assert_eq!(actions, ["agent.create", "agent.update"]);
    assert!(
        journal
            .iter()
            .all(|j| !j.new_value.as_deref().unwrap_or("").contains("argon2"))
    );

    store
        .journal(&JournalEntry {
            at: t0 + Duration::minutes(5),
            actor: "admin".into(),
            action: "config.reload".into(),
            subject: "guichet.toml".into(),
            old_value: None,
            new_value: None,
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .journal_between(t0, t0 + Duration::hours(1))
            .await
            .unwrap()
            .len(),
        3
    );

    for (ok, when) in [(false, 1), (true, 2)] {
        store
            .log_security_event(&SecurityEvent {
                at: t0 + Duration::minutes(when),
                login: "jdupont".into(),
                event: "login".into(),
                success: ok,
                remote_addr: Some("127.0.0.1".into()),
                detail: None,
            })
            .await
            .unwrap();
    }
    let log = store.security_events_for("jdupont").await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.success).collect::<Vec<_>>(),
        [true, false],
        "newest first"
    );
});

both_backends!(callbacks_are_taken_once, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let a = store
        .create_callback(None, "+33140158000", Some("Jeanne"), "support", t0)
        .await
        .unwrap();
    let b = store
        .create_callback(None, "4521", None, "support", t0 + Duration::minutes(1))
        .await
        .unwrap();
    store
        .create_callback(None, "4522", None, "vip", t0)
        .await
        .unwrap();
    let pending = store.pending_callbacks("support").await.unwrap();
    assert_eq!(pending.iter().map(|c| c.id).collect::<Vec<_>>(), [a, b]);
    store
        .finish_callback(a, CallbackStatus::Done, "alice", t0 + Duration::minutes(5))
        .await
        .unwrap();
    let again = store
        .finish_callback(a, CallbackStatus::Done, "bob", t0 + Duration::minutes(6))
        .await;
    assert!(
        matches!(again, Err(StoreError::NotFound { .. })),
        "taken once"
    );
    assert_eq!(store.pending_callbacks("support").await.unwrap().len(), 1);
});

both_backends!(removing_a_message_and_free_call_events, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    store
        .save_message(&crisis("Panne.", true), "sup1", t0)
        .await
        .unwrap();
    let removed = store
        .deactivate_messages(
            "8585",
            MessageKind::Crisis,
            "sup1",
            t0 + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(
        store
            .active_message("8585", MessageKind::Crisis, t0 + Duration::minutes(2))
            .await
            .unwrap()
            .is_none()
    );
    let journal = store
        .journal_between(t0, t0 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(journal.last().unwrap().action, "message_crisis_removed");

    let call = store
        .open_call(&guichet_tickets::NewCall {
            sip_call_id: "ev".into(),
            line: "8585".into(),
            caller_number: "4521".into(),
            caller_name: None,
            person_id: None,
            vip: false,
            p0: false,
            arrived_at: t0,
        })
        .await
        .unwrap();
    store
        .append_call_event(call, t0 + Duration::seconds(3), "ivr", "menu: 1")
        .await
        .unwrap();
    let events = store.call_events(call).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[1].kind.as_str(), events[1].detail.as_deref()),
        ("ivr", Some("menu: 1"))
    );
});

both_backends!(sessions_expire_and_revoke, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let mut a = Agent {
        login: "alice".into(),
        display_name: "Alice".into(),
        roles: vec!["agent".into()],
        sip_extension: None,
        password_hash: None,
        active: true,
    };
    store.upsert_agent(&a, "admin", t0).await.unwrap();
    assert!(matches!(
        store
            .create_session("s0", "nobody", t0, t0 + Duration::hours(8))
            .await,
        Err(StoreError::Invalid { field: "login", .. })
    ));
    store
        .create_session("s1", "alice", t0, t0 + Duration::hours(8))
        .await
        .unwrap();
    store
        .create_session("s2", "alice", t0, t0 + Duration::hours(8))
        .await
        .unwrap();
    assert_eq!(
        store
            .session_login("s1", t0 + Duration::hours(1))
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        store
            .session_login("s1", t0 + Duration::hours(8))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert!(
        store
            .revoke_session("s1", t0 + Duration::hours(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session("s1", t0 + Duration::hours(2))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .session_login("s1", t0 + Duration::hours(3))
            .await
            .unwrap(),
        None,
        "revoked"
    );
    // Disabling the agent ends their other sessions too.
    a.active = false;
    store
        .upsert_agent(&a, "admin", t0 + Duration::hours(4))
        .await
        .unwrap();
    assert_eq!(
        store
            .session_login("s2", t0 + Duration::hours(5))
            .await
            .unwrap(),
        None
    );
});
