//! A table of scripted calls (keys with their timings) against the demo flows, and the exact
//! actions and call-log events expected. Prompts last 2 s per item in the simulated media layer.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::{Sim, call, caller, catalogue, louvre, t0};
use guichet_ivr::{
    Actor, CallerContext, DeterrenceController, DeterrenceThresholds, FlowSpec, IvrAction,
    IvrInput, IvrSession, LineEnv, LoadSample, MessageAudio, MessageBoard, MessageDraft,
    MessageKind, OpenState, Role,
};

fn supervisor(name: &str) -> Actor {
    Actor {
        name: name.into(),
        role: Role::Supervisor,
    }
}

fn crisis_board(author: &str, audio: MessageAudio) -> MessageBoard {
    let mut board = MessageBoard::new();
    board
        .set(
            &supervisor(author),
            "8585",
            MessageKind::Crisis,
            MessageDraft {
                text: "Panne de la messagerie.".into(),
                audio,
                starts_at: Some(t0() - TimeDelta::hours(1)),
                ends_at: None,
            },
            t0() - TimeDelta::hours(1),
        )
        .unwrap();
    board
}

fn deterrence_board() -> MessageBoard {
    let mut board = MessageBoard::new();
    board
        .set(
            &supervisor("chef.equipe"),
            "8585",
            MessageKind::Deterrence,
            MessageDraft {
                text: "Forte affluence.".into(),
                audio: MessageAudio::Prompt("dissuasion_defaut".into()),
                starts_at: None,
                ends_at: None,
            },
            t0() - TimeDelta::minutes(5),
        )
        .unwrap();
    board
}

const OPEN_PREFIX: [&str; 4] = [
    "0 hours Open",
    "0 vip false",
    "0 play louvre_accueil (barge-in)",
    "2000 play louvre_menu (barge-in)",
];

fn with_open_prefix(rest: &[&str]) -> Vec<String> {
    OPEN_PREFIX
        .iter()
        .chain(rest)
        .map(|s| s.to_string())
        .collect()
}

struct Case {
    name: &'static str,
    caller: CallerContext,
    hours: OpenState,
    board: MessageBoard,
    digits: Vec<(i64, char)>,
    expected: Vec<String>,
}

#[test]
fn scripted_calls_on_the_louvre_flow() {
    let holiday = OpenState::Holiday {
        name: "Ascension".into(),
    };
    let p0_caller = CallerContext {
        p0: true,
        ..caller(false)
    };
    let cases = vec![
        Case {
            name: "choice 1 after the menu",
            caller: caller(false),
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![(5_000, '1')],
            expected: with_open_prefix(&[
                "5000 accepted 1 -> dissuasion_incident",
                "5000 queue louvre-hotline p3",
                "5000 left Queued { queue: \"louvre-hotline\", priority: 3 } at file_incident",
            ]),
        },
        Case {
            name: "barge-in on the welcome and on the menu",
            caller: caller(false),
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![(1_000, '2'), (1_500, '2')],
            expected: [
                "0 hours Open",
                "0 vip false",
                "0 play louvre_accueil (barge-in)",
                "1000 stop",
                "1000 barge-in",
                "1000 play louvre_menu (barge-in)",
                "1500 stop",
                "1500 barge-in",
                "1500 accepted 2 -> dissuasion_demande",
                "1500 queue louvre-hotline p5",
                "1500 left Queued { queue: \"louvre-hotline\", priority: 5 } at file_demande",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "no key at all: three timeouts, then the failure branch",
            caller: caller(false),
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![],
            expected: with_open_prefix(&[
                "9000 rejected NoInput #1",
                "9000 play saisie_absente,louvre_menu (barge-in)",
                "18000 rejected NoInput #2",
                "18000 play saisie_absente,louvre_menu (barge-in)",
                "27000 rejected NoInput #3",
                "27000 retries exhausted",
                "27000 play echec_menu",
                "29000 queue louvre-hotline p3",
                "29000 left Queued { queue: \"louvre-hotline\", priority: 3 } at file_incident",
            ]),
        },
        Case {
            name: "invalid key, then a good one barging into the retry",
            caller: caller(false),
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![(5_000, '7'), (6_000, '3')],
            expected: with_open_prefix(&[
                "5000 rejected Invalid { digits: \"7\" } #1",
                "5000 play saisie_invalide,louvre_menu (barge-in)",
                "6000 stop",
                "6000 barge-in",
                "6000 accepted 3 -> dissuasion_suivi",
                "6000 queue louvre-hotline p6",
                "6000 left Queued { queue: \"louvre-hotline\", priority: 6 } at file_suivi",
            ]),
        },
        Case {
            name: "three invalid keys (barging into each retry) exhaust the retries",
            caller: caller(false),
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![(4_500, '8'), (8_500, '9'), (12_500, '0')],
            expected: with_open_prefix(&[
                "4500 rejected Invalid { digits: \"8\" } #1",
                "4500 play saisie_invalide,louvre_menu (barge-in)",
                "8500 stop",
                "8500 barge-in",
                "8500 rejected Invalid { digits: \"9\" } #2",
                "8500 play saisie_invalide,louvre_menu (barge-in)",
                "12500 stop",
                "12500 barge-in",
                "12500 rejected Invalid { digits: \"0\" } #3",
                "12500 retries exhausted",
                "12500 play echec_menu",
                "14500 queue louvre-hotline p3",
                "14500 left Queued { queue: \"louvre-hotline\", priority: 3 } at file_incident",
            ]),
        },
        Case {
            name: "star replays the menu with fresh attempts",
            caller: caller(false),
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![(5_000, '*'), (8_000, '1')],
            expected: with_open_prefix(&[
                "5000 accepted * -> menu",
                "5000 play louvre_menu (barge-in)",
                "8000 accepted 1 -> dissuasion_incident",
                "8000 queue louvre-hotline p3",
                "8000 left Queued { queue: \"louvre-hotline\", priority: 3 } at file_incident",
            ]),
        },
        Case {
            name: "closed: closed message, keys ignored, goodbye, hang up",
            caller: caller(false),
            hours: OpenState::Closed,
            board: MessageBoard::new(),
            digits: vec![(1_000, '1')],
            expected: [
                "0 hours Closed",
                "0 play louvre_ferme,au_revoir",
                "1000 ignored 1",
                "4000 hangup",
                "4000 left HungUp at ferme",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "holiday branch",
            caller: caller(false),
            hours: holiday,
            board: MessageBoard::new(),
            digits: vec![],
            expected: [
                "0 hours Holiday { name: \"Ascension\" }",
                "0 play ferie,louvre_ferme,au_revoir",
                "6000 hangup",
                "6000 left HungUp at ferie",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "exceptional closure takes the closed branch",
            caller: caller(false),
            hours: OpenState::ExceptionalClosure {
                label: "Inventaire".into(),
            },
            board: MessageBoard::new(),
            digits: vec![],
            expected: [
                "0 hours ExceptionalClosure { label: \"Inventaire\" }",
                "0 play louvre_ferme,au_revoir",
                "4000 hangup",
                "4000 left HungUp at ferme",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "VIP skips the menu and the deterrence message",
            caller: caller(true),
            hours: OpenState::Open,
            board: deterrence_board(),
            digits: vec![(500, '1')],
            expected: [
                "0 hours Open",
                "0 vip true",
                "0 play vip_prioritaire",
                "500 ignored 1",
                "2000 queue louvre-hotline p0",
                "2000 left Queued { queue: \"louvre-hotline\", priority: 0 } at file_vip",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "a caller in a P0 period counts as VIP",
            caller: p0_caller,
            hours: OpenState::Open,
            board: MessageBoard::new(),
            digits: vec![],
            expected: [
                "0 hours Open",
                "0 vip true",
                "0 play vip_prioritaire",
                "2000 queue louvre-hotline p0",
                "2000 left Queued { queue: \"louvre-hotline\", priority: 0 } at file_vip",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "crisis message before everything, even when closed",
            caller: caller(false),
            hours: OpenState::Closed,
            board: crisis_board("marie.dupont", MessageAudio::Prompt("crise_defaut".into())),
            digits: vec![],
            expected: [
                "0 message Crisis by marie.dupont",
                "0 play crise_defaut",
                "2000 hours Closed",
                "2000 play louvre_ferme,au_revoir",
                "6000 hangup",
                "6000 left HungUp at ferme",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "crisis message then the menu",
            caller: caller(false),
            hours: OpenState::Open,
            board: crisis_board(
                "marie.dupont",
                MessageAudio::File(PathBuf::from("/var/lib/guichet/crise.wav")),
            ),
            digits: vec![(7_000, '1')],
            expected: [
                "0 message Crisis by marie.dupont",
                "0 play file:/var/lib/guichet/crise.wav",
                "2000 hours Open",
                "2000 vip false",
                "2000 play louvre_accueil (barge-in)",
                "4000 play louvre_menu (barge-in)",
                "7000 accepted 1 -> dissuasion_incident",
                "7000 queue louvre-hotline p3",
                "7000 left Queued { queue: \"louvre-hotline\", priority: 3 } at file_incident",
            ]
            .map(String::from)
            .to_vec(),
        },
        Case {
            name: "deterrence message before queueing; it cannot be cut short",
            caller: caller(false),
            hours: OpenState::Open,
            board: deterrence_board(),
            digits: vec![(5_000, '1'), (6_000, '2')],
            expected: with_open_prefix(&[
                "5000 accepted 1 -> dissuasion_incident",
                "5000 message Deterrence by chef.equipe",
                "5000 play dissuasion_defaut",
                "6000 ignored 2",
                "7000 queue louvre-hotline p3",
                "7000 left Queued { queue: \"louvre-hotline\", priority: 3 } at file_incident",
            ]),
        },
    ];
    for case in cases {
        let trace = call(
            louvre(),
            case.caller.clone(),
            t0(),
            &case.hours,
            &case.board,
            &case.digits,
        );
        assert_eq!(trace, case.expected, "case: {}", case.name);
    }
}

#[test]
fn caller_hanging_up_in_the_menu_ends_the_session() {
    let board = MessageBoard::new();
    let mut sim = Sim::start(louvre(), caller(false), t0(), &OpenState::Open, &board);
    sim.run(&[], 6_000, &board);
    sim.hang_up(&board);
    assert_eq!(
        sim.trace.last().map(String::as_str),
        Some("6000 left CallerHungUp at menu")
    );
    assert!(sim.session.is_finished());
    assert_eq!(sim.session.poll_timeout(), None);
}

fn multi_digit_flow() -> Arc<guichet_ivr::Flow> {
    let spec = FlowSpec::from_toml_str(
        r#"
name = "poste"
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["louvre_menu"]
inter_digit_timeout_ms = 2000
on_failure = "fin"
[nodes.menu.choices]
"1" = "un"
"12" = "douze"
"3" = "fin"
[nodes.un]
kind = "queue"
queue = "a"
[nodes.douze]
kind = "queue"
queue = "b"
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap();
    Arc::new(spec.compile(&catalogue()).unwrap())
}

#[test]
fn multi_key_choices_wait_for_the_inter_digit_timeout_or_hash() {
    let board = MessageBoard::new();
    let hours = OpenState::Open;
    // "1" is a prefix of "12": wait for the inter-digit timeout, then take "1".
    let trace = call(
        multi_digit_flow(),
        caller(false),
        t0(),
        &hours,
        &board,
        &[(2_500, '1')],
    );
    assert_eq!(
        &trace[1..],
        [
            "4500 accepted 1 -> un",
            "4500 queue a p5",
            "4500 left Queued { queue: \"a\", priority: 5 } at un"
        ]
    );
    // "12" is complete: taken at once.
    let trace = call(
        multi_digit_flow(),
        caller(false),
        t0(),
        &hours,
        &board,
        &[(2_500, '1'), (3_000, '2')],
    );
    assert_eq!(trace[1], "3000 accepted 12 -> douze");
    // "#" ends the input at once.
    let trace = call(
        multi_digit_flow(),
        caller(false),
        t0(),
        &hours,
        &board,
        &[(2_500, '1'), (2_700, '#')],
    );
    assert_eq!(trace[1], "2700 accepted 1 -> un");
    // "13" matches nothing: rejected as soon as the 3 is pressed.
    let trace = call(
        multi_digit_flow(),
        caller(false),
        t0(),
        &hours,
        &board,
        &[(2_500, '1'), (2_900, '3')],
    );
    assert_eq!(trace[1], "2900 rejected Invalid { digits: \"13\" } #1");
}

#[test]
fn a_lost_end_of_playback_does_not_leave_the_call_stuck() {
    let board = MessageBoard::new();
    let hours = OpenState::Open;
    let env = LineEnv {
        hours: &hours,
        board: &board,
    };
    let mut session = IvrSession::new(louvre(), caller(false), t0());
    session.handle_input(IvrInput::Started, t0(), env);
    let play = std::iter::from_fn(|| session.poll_action())
        .find_map(|a| match a {
            IvrAction::Play { play, .. } => Some(play),
            _ => None,
        })
        .unwrap();
    let guard = session.poll_timeout().unwrap();
    assert_eq!(
        guard,
        t0() + TimeDelta::minutes(5),
        "default guard is 300 s"
    );
    // Nothing before the guard.
    session.handle_timeout(guard - TimeDelta::milliseconds(1), env);
    assert_eq!(session.poll_action(), None);
    session.handle_timeout(guard, env);
    let actions: Vec<IvrAction> = std::iter::from_fn(|| session.poll_action()).collect();
    assert!(
        actions.iter().any(|a| matches!(a, IvrAction::Play { items, .. } if items[0] == guichet_ivr::PlayItem::Prompt("louvre_menu".into()))),
        "went on to the menu: {actions:?}"
    );
    // A late "finished" for the old playback is ignored.
    session.handle_input(IvrInput::PromptFinished { play }, guard, env);
    assert_eq!(session.poll_action(), None);
}

#[test]
fn opening_hours_are_read_when_the_caller_reaches_the_check() {
    // The crisis message ends 2 s after the call starts, at 18:00:01 Paris, past closing.
    let closing = Utc.with_ymd_and_hms(2026, 4, 14, 16, 0, 0).unwrap();
    let hours = move |now: DateTime<Utc>| {
        if now < closing {
            OpenState::Open
        } else {
            OpenState::Closed
        }
    };
    let board = crisis_board("marie.dupont", MessageAudio::Prompt("crise_defaut".into()));
    let start = closing - TimeDelta::seconds(1);
    let trace = call(louvre(), caller(false), start, &hours, &board, &[]);
    assert_eq!(trace[2], "2000 hours Closed");
}

#[test]
fn a_message_changed_mid_day_is_heard_by_the_next_caller_who_reaches_it() {
    let hours = OpenState::Open;
    let morning = Utc.with_ymd_and_hms(2026, 4, 14, 7, 0, 0).unwrap();
    let mut board = MessageBoard::new();
    board
        .set(
            &supervisor("alice"),
            "8585",
            MessageKind::Crisis,
            MessageDraft {
                text: "Panne de la messagerie.".into(),
                audio: MessageAudio::File("/msg/crise-v1.wav".into()),
                starts_at: None,
                ends_at: None,
            },
            morning,
        )
        .unwrap();
    let at_10 = Utc.with_ymd_and_hms(2026, 4, 14, 8, 0, 0).unwrap();
    let trace = call(
        louvre(),
        caller(false),
        at_10,
        &hours,
        &board,
        &[(9_000, '1')],
    );
    assert_eq!(
        trace[..2],
        ["0 message Crisis by alice", "0 play file:/msg/crise-v1.wav"]
    );

    // A call is in the menu when, at noon, Bob updates the crisis message and deterrence
    // is switched on by hand.
    let noon = Utc.with_ymd_and_hms(2026, 4, 14, 10, 0, 0).unwrap();
    let mut in_menu = Sim::start(
        louvre(),
        caller(false),
        noon - TimeDelta::seconds(7),
        &hours,
        &board,
    );
    in_menu.run(&[], 6_999, &board);
    let entry = board
        .set(
            &supervisor("bob"),
            "8585",
            MessageKind::Crisis,
            MessageDraft {
                text: "La messagerie est rétablie, merci de votre patience.".into(),
                audio: MessageAudio::File("/msg/crise-v2.wav".into()),
                starts_at: None,
                ends_at: None,
            },
            noon,
        )
        .unwrap();
    assert_eq!(entry.action, guichet_ivr::JournalAction::Changed);
    assert_eq!(entry.old.as_ref().map(|m| m.author.as_str()), Some("alice"));
    board
        .set(
            &supervisor("bob"),
            "8585",
            MessageKind::Deterrence,
            MessageDraft {
                text: "Forte affluence.".into(),
                audio: MessageAudio::Prompt("dissuasion_defaut".into()),
                starts_at: None,
                ends_at: None,
            },
            noon,
        )
        .unwrap();
    // The caller already in the menu presses 1 and hears the deterrence set after their
    // call started.
    in_menu.run(&[(9_000, '1')], 60_000, &board);
    assert!(
        in_menu
            .trace
            .iter()
            .any(|l| l == "9000 message Deterrence by bob"),
        "{:#?}",
        in_menu.trace
    );
    // The next caller hears the new crisis message.
    let at_14 = Utc.with_ymd_and_hms(2026, 4, 14, 12, 0, 0).unwrap();
    let trace = call(
        louvre(),
        caller(false),
        at_14,
        &hours,
        &board,
        &[(9_000, '1')],
    );
    assert_eq!(
        trace[..2],
        ["0 message Crisis by bob", "0 play file:/msg/crise-v2.wav"]
    );
}

#[test]
fn deterrence_switched_on_and_off_by_thresholds_is_heard_then_not() {
    let hours = OpenState::Open;
    let mut board = MessageBoard::new();
    let mut controller = DeterrenceController::new(
        "8585",
        DeterrenceThresholds {
            calls_waiting: Some(5),
            longest_wait_secs: None,
            calls_last_10_min: None,
            clear_after_secs: 300,
        },
    )
    .unwrap();
    let start = t0();
    let mut journal = Vec::new();
    let mut apply = |controller: &mut DeterrenceController, board: &mut MessageBoard, now| {
        while let Some(decision) = controller.poll_decision() {
            journal.extend(board.apply_deterrence(&decision, now));
        }
    };
    controller.observe(
        LoadSample {
            calls_waiting: 6,
            longest_wait_secs: 40,
        },
        start,
    );
    apply(&mut controller, &mut board, start);
    let trace = call(
        louvre(),
        caller(false),
        start + TimeDelta::seconds(1),
        &hours,
        &board,
        &[(5_000, '1')],
    );
    assert!(
        trace.contains(&"5000 message Deterrence by automatique".to_string()),
        "{trace:#?}"
    );

    // Load falls; 5 minutes later deterrence goes off.
    let calm = start + TimeDelta::minutes(20);
    controller.observe(
        LoadSample {
            calls_waiting: 1,
            longest_wait_secs: 10,
        },
        calm,
    );
    apply(&mut controller, &mut board, calm);
    assert!(controller.is_active(), "not yet: load must stay low 300 s");
    assert_eq!(
        controller.poll_timeout(),
        Some(calm + TimeDelta::seconds(300))
    );
    controller.handle_timeout(calm + TimeDelta::seconds(300));
    apply(&mut controller, &mut board, calm + TimeDelta::seconds(300));
    let trace = call(
        louvre(),
        caller(false),
        calm + TimeDelta::minutes(6),
        &hours,
        &board,
        &[(5_000, '1')],
    );
    assert!(
        !trace.iter().any(|l| l.contains("message Deterrence")),
        "{trace:#?}"
    );
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].action, guichet_ivr::JournalAction::Activated);
    assert_eq!(
        journal[0].reason.as_deref(),
        Some("seuils franchis : appels en attente 6 (seuil 5)")
    );
    assert_eq!(journal[1].action, guichet_ivr::JournalAction::Removed);
    assert_eq!(journal[1].actor, "automatique");
}

#[test]
fn the_line_calendar_answers_the_hours_check() {
    let calendar = guichet_calendar::Calendar::louvre_hotline();
    let board = MessageBoard::new();
    // Ascension Thursday 14 May 2026, 10:00 Paris.
    let ascension = Utc.with_ymd_and_hms(2026, 5, 14, 8, 0, 0).unwrap();
    let trace = call(louvre(), caller(false), ascension, &calendar, &board, &[]);
    assert_eq!(trace[0], "0 hours Holiday { name: \"Ascension\" }");
    assert_eq!(trace[1], "0 play ferie,louvre_ferme,au_revoir");
    // Tuesday 14 April 2026, 8:59:59 Paris: closed; 9:00:00: open.
    let before = Utc.with_ymd_and_hms(2026, 4, 14, 6, 59, 59).unwrap();
    let trace = call(louvre(), caller(false), before, &calendar, &board, &[]);
    assert_eq!(trace[0], "0 hours Closed");
    let trace = call(
        louvre(),
        caller(false),
        before + TimeDelta::seconds(1),
        &calendar,
        &board,
        &[(5_000, '1')],
    );
    assert_eq!(trace[0], "0 hours Open");
}

#[test]
fn the_accepted_choice_records_where_the_key_came_from() {
    let board = MessageBoard::new();
    let hours = OpenState::Open;
    let env = LineEnv {
        hours: &hours,
        board: &board,
    };
    let mut session = IvrSession::new(multi_digit_flow(), caller(false), t0());
    session.handle_input(IvrInput::Started, t0(), env);
    for (digit, source) in [
        ('1', guichet_ivr::DigitSource::SipInfo),
        ('2', guichet_ivr::DigitSource::WebRtc),
    ] {
        session.handle_input(IvrInput::Digit { digit, source }, t0(), env);
    }
    let accepted = std::iter::from_fn(|| session.poll_action()).find_map(|a| match a {
        IvrAction::Log(guichet_ivr::IvrEvent::ChoiceAccepted { choice, source, .. }) => {
            Some((choice, source))
        }
        _ => None,
    });
    assert_eq!(
        accepted,
        Some(("12".to_string(), guichet_ivr::DigitSource::WebRtc))
    );
}
