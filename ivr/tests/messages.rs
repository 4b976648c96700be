//! Crisis and deterrence messages: role check, journal, expiry, precedence; and the
//! deterrence controller's thresholds, hold-down and hand override.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use guichet_ivr::{
    Actor, DeterrenceController, DeterrenceDecision, DeterrenceReason, DeterrenceThresholds,
    JournalAction, LoadSample, MessageAudio, MessageBoard, MessageDraft, MessageError, MessageKind,
    Role, ThresholdError,
};

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 14, h, m, 0).unwrap()
}

fn actor(name: &str, role: Role) -> Actor {
    Actor {
        name: name.into(),
        role,
    }
}

fn draft(text: &str, ends_at: Option<DateTime<Utc>>) -> MessageDraft {
    MessageDraft {
        text: text.into(),
        audio: MessageAudio::Prompt("crise_defaut".into()),
        starts_at: None,
        ends_at,
    }
}

#[test]
fn agents_may_not_change_messages() {
    let mut board = MessageBoard::new();
    let agent = actor("paul.agent", Role::Agent);
    let err = board
        .set(
            &agent,
            "8585",
            MessageKind::Crisis,
            draft("Panne", None),
            t(8, 0),
        )
        .unwrap_err();
    assert_eq!(
        err,
        MessageError::Forbidden {
            actor: "paul.agent".into(),
            role: Role::Agent
        }
    );
    assert!(board.active("8585", MessageKind::Crisis, t(8, 0)).is_none());
    let admin = actor("root.admin", Role::Admin);
    board
        .set(
            &admin,
            "8585",
            MessageKind::Crisis,
            draft("Panne", None),
            t(8, 0),
        )
        .unwrap();
    assert!(matches!(
        board.remove(&agent, "8585", MessageKind::Crisis, t(9, 0)),
        Err(MessageError::Forbidden { .. })
    ));
    assert!(board.active("8585", MessageKind::Crisis, t(9, 0)).is_some());
}

#[test]
fn every_change_is_journaled_with_who_when_old_and_new() {
    let mut board = MessageBoard::new();
    let alice = actor("alice", Role::Supervisor);
    let bob = actor("bob", Role::Admin);
    let first = board
        .set(
            &alice,
            "8585",
            MessageKind::Crisis,
            draft("Panne réseau", None),
            t(8, 0),
        )
        .unwrap();
    assert_eq!(first.action, JournalAction::Activated);
    assert_eq!(
        (first.actor.as_str(), first.actor_role),
        ("alice", Some(Role::Supervisor))
    );
    assert_eq!(first.at, t(8, 0));
    assert_eq!(first.line, "8585");
    assert_eq!(first.kind, MessageKind::Crisis);
    assert!(first.old.is_none());
    assert_eq!(first.new.as_ref().unwrap().text, "Panne réseau");

    let second = board
        .set(
            &bob,
            "8585",
            MessageKind::Crisis,
            draft("Réseau rétabli", None),
            t(9, 0),
        )
        .unwrap();
    assert_eq!(second.action, JournalAction::Changed);
    assert_eq!(second.old.as_ref().unwrap().text, "Panne réseau");
    assert_eq!(second.new.as_ref().unwrap().author, "bob");

    let removed = board
        .remove(&alice, "8585", MessageKind::Crisis, t(10, 0))
        .unwrap()
        .unwrap();
    assert_eq!(removed.action, JournalAction::Removed);
    assert_eq!(removed.old.as_ref().unwrap().text, "Réseau rétabli");
    assert!(removed.new.is_none());
    assert_eq!(
        board
            .remove(&alice, "8585", MessageKind::Crisis, t(10, 1))
            .unwrap(),
        None
    );
    // Other lines are independent.
    assert!(
        board
            .active("culture", MessageKind::Crisis, t(8, 30))
            .is_none()
    );
}

#[test]
fn start_and_end_are_honoured_by_now_and_expiry_is_journaled() {
    let mut board = MessageBoard::new();
    let alice = actor("alice", Role::Supervisor);
    let scheduled = MessageDraft {
        starts_at: Some(t(12, 0)),
        ..draft("Coupure électrique prévue", Some(t(14, 0)))
    };
    board
        .set(&alice, "8585", MessageKind::Crisis, scheduled, t(8, 0))
        .unwrap();
    assert!(
        board
            .active("8585", MessageKind::Crisis, t(11, 59))
            .is_none()
    );
    assert!(
        board
            .active("8585", MessageKind::Crisis, t(12, 0))
            .is_some()
    );
    assert!(
        board
            .active("8585", MessageKind::Crisis, t(13, 59))
            .is_some()
    );
    assert!(
        board
            .active("8585", MessageKind::Crisis, t(14, 0))
            .is_none()
    );
    assert_eq!(board.next_expiry(), Some(t(14, 0)));
    assert!(board.expire(t(13, 0)).is_empty());
    let expired = board.expire(t(14, 0));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].action, JournalAction::Expired);
    assert_eq!(expired[0].actor, "automatique");
    assert_eq!(board.next_expiry(), None);
    assert!(board.manual("8585", MessageKind::Crisis).is_none());

    assert!(matches!(
        board.set(
            &alice,
            "8585",
            MessageKind::Crisis,
            draft("x", Some(t(7, 0))),
            t(8, 0)
        ),
        Err(MessageError::EndNotAfterStart { .. })
    ));
    assert_eq!(
        board.set(
            &alice,
            "8585",
            MessageKind::Crisis,
            draft("  ", None),
            t(8, 0)
        ),
        Err(MessageError::EmptyText)
    );
}

#[test]
fn a_hand_set_deterrence_wins_over_the_automatic_one() {
    let mut board = MessageBoard::new();
    board.set_automatic_deterrence_template(
        "8585",
        "Affluence".into(),
        MessageAudio::Prompt("dissuasion_defaut".into()),
    );
    let on = board
        .apply_deterrence(
            &DeterrenceDecision::Activate {
                line: "8585".into(),
                reasons: vec![DeterrenceReason::CallsWaiting {
                    value: 9,
                    threshold: 8,
                }],
            },
            t(9, 0),
        )
        .unwrap();
    assert_eq!(on.actor_role, None);
    assert_eq!(
        board
            .active("8585", MessageKind::Deterrence, t(9, 1))
            .unwrap()
            .author,
        "automatique"
    );
    let chef = actor("chef", Role::Supervisor);
    let changed = board
        .set(
            &chef,
            "8585",
            MessageKind::Deterrence,
            draft("Incident messagerie", None),
            t(9, 5),
        )
        .unwrap();
    assert_eq!(changed.action, JournalAction::Changed);
    assert_eq!(changed.old.unwrap().author, "automatique");
    assert_eq!(
        board
            .active("8585", MessageKind::Deterrence, t(9, 6))
            .unwrap()
            .author,
        "chef"
    );
    // Removing by hand removes both.
    board
        .remove(&chef, "8585", MessageKind::Deterrence, t(9, 30))
        .unwrap();
    assert!(
        board
            .active("8585", MessageKind::Deterrence, t(9, 31))
            .is_none()
    );
    assert!(!board.automatic_deterrence_active("8585"));
}

fn controller(thresholds: DeterrenceThresholds) -> DeterrenceController {
    DeterrenceController::new("8585", thresholds).unwrap()
}

#[test]
fn each_threshold_switches_deterrence_on() {
    let base = DeterrenceThresholds {
        calls_waiting: None,
        longest_wait_secs: None,
        calls_last_10_min: None,
        clear_after_secs: 600,
    };
    // Calls waiting.
    let mut c = controller(DeterrenceThresholds {
        calls_waiting: Some(8),
        ..base.clone()
    });
    c.observe(
        LoadSample {
            calls_waiting: 7,
            longest_wait_secs: 0,
        },
        t(9, 0),
    );
    assert_eq!(c.poll_decision(), None);
    c.observe(
        LoadSample {
            calls_waiting: 8,
            longest_wait_secs: 0,
        },
        t(9, 1),
    );
    assert_eq!(
        c.poll_decision(),
        Some(DeterrenceDecision::Activate {
            line: "8585".into(),
            reasons: vec![DeterrenceReason::CallsWaiting {
                value: 8,
                threshold: 8
            }]
        })
    );
    // Still high: no second decision.
    c.observe(
        LoadSample {
            calls_waiting: 12,
            longest_wait_secs: 0,
        },
        t(9, 2),
    );
    assert_eq!(c.poll_decision(), None);

    // Longest wait.
    let mut c = controller(DeterrenceThresholds {
        longest_wait_secs: Some(300),
        ..base.clone()
    });
    c.observe(
        LoadSample {
            calls_waiting: 1,
            longest_wait_secs: 299,
        },
        t(9, 0),
    );
    assert_eq!(c.poll_decision(), None);
    c.observe(
        LoadSample {
            calls_waiting: 1,
            longest_wait_secs: 300,
        },
        t(9, 0),
    );
    assert!(matches!(
        c.poll_decision(),
        Some(DeterrenceDecision::Activate { .. })
    ));

    // Calls in the last 10 minutes: 20 arrivals in 9 min 30 s.
    let mut c = controller(DeterrenceThresholds {
        calls_last_10_min: Some(20),
        ..base
    });
    for i in 0..19 {
        c.record_arrival(t(9, 0) + TimeDelta::seconds(30 * i));
    }
    assert_eq!(c.poll_decision(), None);
    c.record_arrival(t(9, 9) + TimeDelta::seconds(30));
    match c.poll_decision() {
        Some(DeterrenceDecision::Activate { reasons, .. }) => assert_eq!(
            reasons,
            vec![DeterrenceReason::RecentCalls {
                value: 20,
                threshold: 20
            }]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn arrivals_leave_the_window_and_calm_must_last_before_clearing() {
    let mut c = controller(DeterrenceThresholds {
        calls_waiting: None,
        longest_wait_secs: None,
        calls_last_10_min: Some(3),
        clear_after_secs: 300,
    });
    for s in [0, 10, 20] {
        c.record_arrival(t(9, 0) + TimeDelta::seconds(s));
    }
    assert!(matches!(
        c.poll_decision(),
        Some(DeterrenceDecision::Activate { .. })
    ));
    // The first arrival leaves the 10-minute window at 9:10:00.
    assert_eq!(c.poll_timeout(), Some(t(9, 10)));
    c.handle_timeout(t(9, 10));
    assert_eq!(c.poll_decision(), None, "calm has only just begun");
    assert!(c.is_active());
    // A burst during the calm period restarts it.
    for _ in 0..3 {
        c.record_arrival(t(9, 12));
    }
    assert_eq!(c.poll_decision(), None, "already on");
    // The burst leaves the window at 9:22; calm must then last 300 s, until 9:27.
    assert_eq!(c.poll_timeout(), Some(t(9, 22)));
    c.handle_timeout(t(9, 22));
    assert_eq!(c.poll_timeout(), Some(t(9, 27)));
    c.handle_timeout(t(9, 26));
    assert_eq!(c.poll_decision(), None);
    c.handle_timeout(t(9, 27));
    assert_eq!(
        c.poll_decision(),
        Some(DeterrenceDecision::Clear {
            line: "8585".into()
        })
    );
    assert!(!c.is_active());
}

#[test]
fn a_hand_removal_is_not_overridden_while_load_stays_high() {
    let mut c = controller(DeterrenceThresholds {
        calls_waiting: Some(5),
        longest_wait_secs: None,
        calls_last_10_min: None,
        clear_after_secs: 60,
    });
    let high = LoadSample {
        calls_waiting: 9,
        longest_wait_secs: 0,
    };
    let low = LoadSample {
        calls_waiting: 1,
        longest_wait_secs: 0,
    };
    c.observe(high, t(9, 0));
    assert!(c.poll_decision().is_some());
    c.cleared_by_hand(t(9, 5));
    c.observe(high, t(9, 6));
    assert_eq!(c.poll_decision(), None, "the supervisor's removal stands");
    c.observe(low, t(9, 7));
    c.observe(high, t(9, 8));
    assert!(
        matches!(c.poll_decision(), Some(DeterrenceDecision::Activate { .. })),
        "re-armed once load fell back"
    );
}

#[test]
fn thresholds_are_validated_by_field() {
    let zero = DeterrenceThresholds {
        longest_wait_secs: Some(0),
        ..DeterrenceThresholds::default()
    };
    assert_eq!(
        DeterrenceController::new("8585", zero).unwrap_err(),
        ThresholdError::Zero {
            field: "longest_wait_secs"
        }
    );
    let none = DeterrenceThresholds {
        calls_waiting: None,
        longest_wait_secs: None,
        calls_last_10_min: None,
        clear_after_secs: 10,
    };
    assert_eq!(
        DeterrenceController::new("8585", none).unwrap_err(),
        ThresholdError::NoThreshold
    );
    let parsed: DeterrenceThresholds = toml::from_str("calls_waiting = 12").unwrap();
    assert_eq!(parsed.calls_waiting, Some(12));
    assert_eq!(parsed.longest_wait_secs, Some(300));
    assert_eq!(parsed.clear_after_secs, 600);
    assert!(toml::from_str::<DeterrenceThresholds>("calls = 12").is_err());
}
