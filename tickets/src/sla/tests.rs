//! Hand-computed SLA cases for each policy across weekends, holidays, DST and
//! pauses, and one regression per GLPI SLA bug class.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use guichet_calendar::Calendar;

use super::*;
use crate::priority::Priority;

fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Paris
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Louvre and Culture as shipped, plus two variants used by the tests.
fn engine() -> SlaEngine {
    let mut policies = BTreeMap::new();
    policies.insert("louvre".to_owned(), SlaPolicySpec::louvre("louvre"));
    policies.insert(
        "culture".to_owned(),
        SlaPolicySpec::culture_service_desk("culture"),
    );
    let mut strict = SlaPolicySpec::louvre("louvre");
    strict.targets[2].resolve = Some("4h".to_owned());
    policies.insert("louvre_strict".to_owned(), strict);
    let mut proximity = SlaPolicySpec::culture_service_desk("culture");
    proximity.clock_starts = ClockStart::Assignment;
    proximity.allow_due_date_changes = false;
    proximity.allow_priority_changes = false;
    proximity.targets = vec![TargetSpec {
        take_charge: Some("1h".to_owned()),
        resolve: Some("4h".to_owned()),
        ..TargetSpec::default()
    }];
    policies.insert("proximity".to_owned(), proximity);
    let mut calendars = BTreeMap::new();
    calendars.insert("louvre".to_owned(), Calendar::louvre_hotline());
    calendars.insert("culture".to_owned(), Calendar::culture_service_desk());
    SlaEngine::new(&SlaConfigSpec { policies }, calendars).unwrap()
}

fn facts(priority: Priority, nature: Nature) -> TicketFacts {
    TicketFacts {
        priority,
        nature,
        out_of_catalogue: false,
    }
}

fn create(e: &mut SlaEngine, id: TicketId, now: DateTime<Utc>, policy: &str, f: TicketFacts) {
    e.handle(
        id,
        now,
        "agent1",
        SlaInput::Created {
            policy: policy.to_owned(),
            facts: f,
            held_by: None,
        },
    )
    .unwrap();
}

/// Drains events, dropping audit lines.
fn drain(e: &mut SlaEngine) -> Vec<SlaEvent> {
    std::iter::from_fn(|| e.poll_event())
        .filter(|ev| !matches!(ev, SlaEvent::Audit(_)))
        .collect()
}

fn audits(e: &mut SlaEngine) -> Vec<SlaAudit> {
    std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            SlaEvent::Audit(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn due(e: &SlaEngine, id: TicketId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    e.status(id, now).unwrap().resolve.unwrap().due
}

/// Runs the timer table until `until`, like the switchboard would.
fn run_until(e: &mut SlaEngine, until: DateTime<Utc>) -> Vec<SlaEvent> {
    let mut out = Vec::new();
    while let Some(t) = e.poll_timeout() {
        if t > until {
            break;
        }
        e.handle_timeout(t);
        out.extend(drain(e));
    }
    out
}

#[test]
fn louvre_important_over_a_weekend_warns_then_breaches() {
    let mut e = engine();
    // Friday 5 December 2025 16:00: 2 h on Friday, 2 h on Monday.
    create(
        &mut e,
        1,
        paris(2025, 12, 5, 16, 0),
        "louvre",
        facts(Priority::P1, Nature::Incident),
    );
    drain(&mut e);
    assert_eq!(
        due(&e, 1, paris(2025, 12, 5, 16, 0)),
        Some(paris(2025, 12, 8, 11, 0))
    );
    // At risk at 75 % = 3 h: Monday 10:00.
    assert_eq!(e.poll_timeout(), Some(paris(2025, 12, 8, 10, 0)));
    let events = run_until(&mut e, paris(2025, 12, 9, 0, 0));
    assert_eq!(
        events,
        vec![
            SlaEvent::AtRisk {
                ticket: 1,
                target: TargetKind::Resolve,
                at: paris(2025, 12, 8, 10, 0),
                due: Some(paris(2025, 12, 8, 11, 0)),
            },
            SlaEvent::Breached {
                ticket: 1,
                target: TargetKind::Resolve,
                due: paris(2025, 12, 8, 11, 0),
            },
        ]
    );
    assert_eq!(e.verdict(1), Some(SlaVerdict::Breached));
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn louvre_normal_across_christmas_met_when_resolved_in_time() {
    let mut e = engine();
    // Wednesday 24 December 2025 14:00, 8 h: 4 h on the 24th, Christmas
    // closed, 4 h on the 26th -> Friday 26 December 13:00.
    create(
        &mut e,
        2,
        paris(2025, 12, 24, 14, 0),
        "louvre",
        facts(Priority::P2, Nature::Request),
    );
    assert_eq!(
        due(&e, 2, paris(2025, 12, 24, 14, 0)),
        Some(paris(2025, 12, 26, 13, 0))
    );
    e.handle(2, paris(2025, 12, 26, 12, 0), "tech", SlaInput::Resolved)
        .unwrap();
    let events = drain(&mut e);
    // The at-risk warning (6 h: 26th 11:00) fired on the way; no breach.
    assert!(
        matches!(events.as_slice(), [SlaEvent::AtRisk { at, .. }] if *at == paris(2025, 12, 26, 11, 0))
    );
    assert_eq!(e.verdict(2), Some(SlaVerdict::Met));
    assert_eq!(e.poll_timeout(), None);
}

/// GLPI bug class 1: a breach fired while the ticket was waiting.
#[test]
fn regression_no_breach_while_paused() {
    let mut e = engine();
    // VIP, 2 h, Monday 12 January 2026 09:00.
    create(
        &mut e,
        3,
        paris(2026, 1, 12, 9, 0),
        "louvre",
        facts(Priority::P0, Nature::Incident),
    );
    e.handle(
        3,
        paris(2026, 1, 12, 10, 0),
        "tech",
        SlaInput::Paused {
            reason: PauseReason::Appointment,
        },
    )
    .unwrap();
    assert_eq!(e.poll_timeout(), None, "no timer while paused");
    e.handle_timeout(paris(2026, 1, 12, 17, 0));
    assert_eq!(drain(&mut e), vec![]);
    let st = e.status(3, paris(2026, 1, 12, 17, 0)).unwrap();
    assert_eq!(st.paused, Some(PauseReason::Appointment));
    assert_eq!(st.resolve.as_ref().unwrap().consumed, TimeDelta::hours(1));
    assert_eq!(st.resolve.unwrap().due, None);
    // The appointment is Tuesday 09:00: one hour left -> 10:00.
    e.handle(3, paris(2026, 1, 13, 9, 0), "tech", SlaInput::Resumed)
        .unwrap();
    assert_eq!(
        due(&e, 3, paris(2026, 1, 13, 9, 0)),
        Some(paris(2026, 1, 13, 10, 0))
    );
    let events = run_until(&mut e, paris(2026, 1, 14, 0, 0));
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        SlaEvent::Breached {
            ticket: 3,
            target: TargetKind::Resolve,
            due: paris(2026, 1, 13, 10, 0)
        }
    );
}

/// GLPI bug class 2: waiting time lost (counted again) when the policy changes.
#[test]
fn regression_waiting_time_kept_when_policy_changes() {
    let mut e = engine();
    // Normal (8 h), Monday 2 March 2026 09:00; waits for the user 10:00-15:00.
    create(
        &mut e,
        4,
        paris(2026, 3, 2, 9, 0),
        "louvre",
        facts(Priority::P2, Nature::Incident),
    );
    e.handle(
        4,
        paris(2026, 3, 2, 10, 0),
        "tech",
        SlaInput::Paused {
            reason: PauseReason::User,
        },
    )
    .unwrap();
    e.handle(4, paris(2026, 3, 2, 15, 0), "tech", SlaInput::Resumed)
        .unwrap();
    // At 16:00 the ticket moves to a 4 h policy: 2 h consumed, not 7.
    e.handle(
        4,
        paris(2026, 3, 2, 16, 0),
        "chef",
        SlaInput::PolicyChanged {
            policy: "louvre_strict".into(),
        },
    )
    .unwrap();
    let st = e.status(4, paris(2026, 3, 2, 16, 0)).unwrap();
    let r = st.resolve.unwrap();
    assert_eq!(r.consumed, TimeDelta::hours(2));
    assert_eq!(r.limit, TimeDelta::hours(4));
    assert_eq!(r.due, Some(paris(2026, 3, 2, 18, 0)));
    // Moving to a policy on another calendar re-counts the same running
    // intervals in that calendar (Culture opens 8:00-18:30).
    e.handle(
        4,
        paris(2026, 3, 2, 16, 30),
        "chef",
        SlaInput::PolicyChanged {
            policy: "proximity".into(),
        },
    )
    .unwrap();
    let r = e
        .status(4, paris(2026, 3, 2, 16, 30))
        .unwrap()
        .resolve
        .unwrap();
    assert_eq!(r.consumed, TimeDelta::minutes(150));
    assert_eq!(r.due, Some(paris(2026, 3, 2, 18, 0)));
    let a = audits(&mut e);
    assert!(a.iter().any(|a| a.field == "sla_policy"
        && a.old_value.as_deref() == Some("louvre")
        && a.new_value.as_deref() == Some("louvre_strict")));
}

/// GLPI bug class 3: the clock running through a public holiday.
#[test]
fn regression_clock_stops_on_public_holidays() {
    let mut e = engine();
    // Important (4 h) Wednesday 13 May 2026 16:00: 2 h Wednesday, Ascension
    // Thursday closed, 2 h Friday -> Friday 15 May 11:00.
    create(
        &mut e,
        5,
        paris(2026, 5, 13, 16, 0),
        "louvre",
        facts(Priority::P1, Nature::Incident),
    );
    assert_eq!(
        due(&e, 5, paris(2026, 5, 13, 16, 0)),
        Some(paris(2026, 5, 15, 11, 0))
    );
    let events = run_until(&mut e, paris(2026, 5, 14, 23, 0));
    assert_eq!(events, vec![], "nothing happens on Ascension day");
    // Culture incident created Monday 25 May 2026 (Whit Monday) 10:00: the
    // clock starts Tuesday 08:00 and breaches at 08:25.
    create(
        &mut e,
        6,
        paris(2026, 5, 25, 10, 0),
        "culture",
        facts(Priority::P3, Nature::Incident),
    );
    assert_eq!(
        due(&e, 6, paris(2026, 5, 25, 10, 0)),
        Some(paris(2026, 5, 26, 8, 25))
    );
}

/// GLPI bug class 4: automatic closure counted ignoring the calendar.
#[test]
fn regression_auto_close_follows_the_calendar() {
    let e = engine();
    let cal = Calendar::culture_service_desk();
    // Resolved Friday 20 March 2026 10:00 Paris (09:00 UTC).
    let resolved = paris(2026, 3, 20, 10, 0);
    // 14 calendar days: Friday 3 April 10:00 Paris (08:00 UTC, after the DST
    // change), not 14 x 24 h (09:00 UTC = 11:00 Paris).
    let closes = e.auto_close_at("culture", resolved).unwrap();
    assert_eq!(closes, paris(2026, 4, 3, 10, 0));
    assert_eq!(closes, utc(2026, 4, 3, 8, 0));
    assert_ne!(closes, resolved + TimeDelta::days(14));
    // 14 business days skip weekends and Easter Monday (6 April): 10 April.
    assert_eq!(
        auto_close_at(resolved, 14, DayCounting::BusinessDays, &cal),
        Some(paris(2026, 4, 10, 10, 0))
    );
    // Resolved at 02:30 on the day before the change: 14 days later lands in
    // the spring-forward gap of 29 March 2026 only if we count 9 days; the
    // gap resolves to 03:00.
    let r = paris(2026, 3, 20, 2, 30);
    assert_eq!(
        auto_close_at(r, 9, DayCounting::CalendarDays, &cal),
        Some(utc(2026, 3, 29, 1, 0))
    );
}

/// GLPI bug class 5: deadlines wrong across a DST change.
#[test]
fn regression_deadlines_right_across_dst() {
    let mut e = engine();
    // Normal (8 h) Friday 27 March 2026 14:00 CET: 4 h Friday, then Monday
    // 30 March 09:00 CEST + 4 h = 13:00 CEST = 11:00 UTC (a fixed offset
    // would say 12:00 UTC).
    create(
        &mut e,
        7,
        paris(2026, 3, 27, 14, 0),
        "louvre",
        facts(Priority::P2, Nature::Incident),
    );
    assert_eq!(
        due(&e, 7, paris(2026, 3, 27, 14, 0)),
        Some(utc(2026, 3, 30, 11, 0))
    );
    // Autumn 2025: Friday 24 October 14:00 CEST -> Monday 27 13:00 CET = 12:00 UTC.
    create(
        &mut e,
        8,
        paris(2025, 10, 24, 14, 0),
        "louvre",
        facts(Priority::P2, Nature::Incident),
    );
    assert_eq!(
        due(&e, 8, paris(2025, 10, 24, 14, 0)),
        Some(utc(2025, 10, 27, 12, 0))
    );
    // Autumn 2026, Culture: Friday 23 October 18:20 CEST incident -> 10 min
    // Friday, Monday 26 08:00 CET + 15 min = 07:15 UTC.
    create(
        &mut e,
        9,
        paris(2026, 10, 23, 18, 20),
        "culture",
        facts(Priority::P2, Nature::Incident),
    );
    assert_eq!(
        due(&e, 9, paris(2026, 10, 23, 18, 20)),
        Some(utc(2026, 10, 26, 7, 15))
    );
}

#[test]
fn louvre_non_blocking_is_bumped_to_normal_after_two_days() {
    let mut e = engine();
    // Non-blocking, Monday 1 June 2026 09:00. Two business days (18 h) end
    // Tuesday 18:00; then the normal target (8 h) runs from the bump:
    // Wednesday 17:00. At risk at 6 h of it: Wednesday 15:00.
    create(
        &mut e,
        10,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P3, Nature::Incident),
    );
    assert_eq!(
        due(&e, 10, paris(2026, 6, 1, 9, 0)),
        Some(paris(2026, 6, 3, 18, 0))
    );
    let events = run_until(&mut e, paris(2026, 6, 5, 0, 0));
    assert_eq!(
        events,
        vec![
            SlaEvent::PriorityBumped {
                ticket: 10,
                from: Priority::P3,
                to: Priority::P2,
                at: paris(2026, 6, 2, 18, 0),
            },
            SlaEvent::AtRisk {
                ticket: 10,
                target: TargetKind::Resolve,
                at: paris(2026, 6, 3, 15, 0),
                due: Some(paris(2026, 6, 3, 17, 0)),
            },
            SlaEvent::Breached {
                ticket: 10,
                target: TargetKind::Resolve,
                due: paris(2026, 6, 3, 17, 0)
            },
        ]
    );
    assert_eq!(
        e.status(10, paris(2026, 6, 5, 0, 0)).unwrap().priority,
        Priority::P2
    );
}

#[test]
fn an_agreed_due_date_replaces_the_automatic_bump() {
    let mut e = engine();
    create(
        &mut e,
        25,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P3, Nature::Request),
    );
    e.handle(
        25,
        paris(2026, 6, 1, 10, 0),
        "tech",
        SlaInput::DueDateChanged {
            due: paris(2026, 6, 5, 12, 0),
            reason: "livraison du poste prévue vendredi".into(),
        },
    )
    .unwrap();
    let events = run_until(&mut e, paris(2026, 6, 6, 0, 0));
    assert!(
        !events
            .iter()
            .any(|ev| matches!(ev, SlaEvent::PriorityBumped { .. })),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&SlaEvent::Breached {
            ticket: 25,
            target: TargetKind::Resolve,
            due: paris(2026, 6, 5, 12, 0)
        })
    );
}

#[test]
fn culture_incident_escalated_in_time_is_met() {
    let mut e = engine();
    // Monday 1 June 2026 18:20: 10 min Monday, then Tuesday from 08:00.
    // At risk at 75 % of the 20 min escalation window: Tuesday 08:05.
    create(
        &mut e,
        11,
        paris(2026, 6, 1, 18, 20),
        "culture",
        facts(Priority::P3, Nature::Assistance),
    );
    assert_eq!(e.poll_timeout(), Some(paris(2026, 6, 2, 8, 5)));
    e.handle(11, paris(2026, 6, 2, 8, 8), "ait", SlaInput::Escalated)
        .unwrap();
    let events = drain(&mut e);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(e.verdict(11), Some(SlaVerdict::Met));
    assert!(matches!(
        e.status(11, paris(2026, 6, 2, 9, 0))
            .unwrap()
            .resolve
            .unwrap()
            .state,
        TargetState::Met {
            by_escalation: true,
            ..
        }
    ));
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn culture_incident_late_escalation_still_met_if_resolved_within_25_minutes() {
    let mut e = engine();
    create(
        &mut e,
        12,
        paris(2026, 6, 2, 9, 0),
        "culture",
        facts(Priority::P2, Nature::Incident),
    );
    e.handle(12, paris(2026, 6, 2, 9, 22), "ait", SlaInput::Escalated)
        .unwrap();
    assert_eq!(e.verdict(12), Some(SlaVerdict::Running));
    e.handle(12, paris(2026, 6, 2, 9, 24), "n2", SlaInput::Resolved)
        .unwrap();
    assert_eq!(e.verdict(12), Some(SlaVerdict::Met));
    // Neither escalated in 20 min nor resolved in 25: breached at 09:25,
    // reported even though the resolution arrives later.
    create(
        &mut e,
        13,
        paris(2026, 6, 2, 9, 0),
        "culture",
        facts(Priority::P2, Nature::Incident),
    );
    drain(&mut e);
    e.handle(13, paris(2026, 6, 2, 9, 40), "ait", SlaInput::Resolved)
        .unwrap();
    let events = drain(&mut e);
    assert_eq!(
        events.last(),
        Some(&SlaEvent::Breached {
            ticket: 13,
            target: TargetKind::Resolve,
            due: paris(2026, 6, 2, 9, 25)
        })
    );
    assert_eq!(e.verdict(13), Some(SlaVerdict::Breached));
}

#[test]
fn culture_out_of_catalogue_request_ten_minutes() {
    let mut e = engine();
    let mut f = facts(Priority::P3, Nature::Request);
    f.out_of_catalogue = true;
    create(&mut e, 14, paris(2026, 6, 2, 9, 0), "culture", f);
    assert_eq!(
        due(&e, 14, paris(2026, 6, 2, 9, 0)),
        Some(paris(2026, 6, 2, 9, 10))
    );
    e.handle(14, paris(2026, 6, 2, 9, 9), "ait", SlaInput::Escalated)
        .unwrap();
    assert_eq!(e.verdict(14), Some(SlaVerdict::Met));
    // A catalogue request has no target under this policy.
    create(
        &mut e,
        15,
        paris(2026, 6, 2, 9, 0),
        "culture",
        facts(Priority::P3, Nature::Request),
    );
    assert_eq!(e.status(15, paris(2026, 6, 2, 9, 0)).unwrap().resolve, None);
    assert_eq!(e.verdict(15), Some(SlaVerdict::Met));
}

#[test]
fn clock_starting_at_assignment_and_take_charge_target() {
    let mut e = engine();
    // Proximity: take charge 1 h from creation, resolve 4 h from assignment.
    create(
        &mut e,
        16,
        paris(2026, 6, 1, 9, 0),
        "proximity",
        facts(Priority::P2, Nature::Incident),
    );
    assert_eq!(
        due(&e, 16, paris(2026, 6, 1, 9, 0)),
        None,
        "resolution clock not started"
    );
    e.handle(16, paris(2026, 6, 1, 11, 0), "chef", SlaInput::Assigned)
        .unwrap();
    let events = drain(&mut e);
    assert_eq!(
        events.last(),
        Some(&SlaEvent::Breached {
            ticket: 16,
            target: TargetKind::TakeCharge,
            due: paris(2026, 6, 1, 10, 0)
        })
    );
    let st = e.status(16, paris(2026, 6, 1, 11, 0)).unwrap();
    assert_eq!(st.resolve.unwrap().due, Some(paris(2026, 6, 1, 15, 0)));
    // Changes are disabled by this policy (CULTURE 901-909 withdrawal).
    let err = e
        .handle(
            16,
            paris(2026, 6, 1, 12, 0),
            "tech",
            SlaInput::DueDateChanged {
                due: paris(2026, 6, 2, 12, 0),
                reason: "matériel indisponible".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SlaError::NotAllowed { .. }), "{err}");
    let err = e
        .handle(
            16,
            paris(2026, 6, 1, 12, 0),
            "tech",
            SlaInput::PriorityChanged {
                priority: Priority::P3,
                reason: "requalification".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SlaError::NotAllowed { .. }), "{err}");
}

#[test]
fn does_not_start_while_equipment_is_awaited() {
    let mut e = engine();
    e.handle(
        17,
        paris(2026, 6, 1, 9, 0),
        "tech",
        SlaInput::Created {
            policy: "louvre".into(),
            facts: facts(Priority::P1, Nature::Incident),
            held_by: Some(PauseReason::Delivery),
        },
    )
    .unwrap();
    assert_eq!(e.poll_timeout(), None);
    e.handle_timeout(paris(2026, 6, 3, 8, 0));
    assert_eq!(drain(&mut e), vec![]);
    e.handle(17, paris(2026, 6, 3, 9, 0), "tech", SlaInput::Resumed)
        .unwrap();
    assert_eq!(
        due(&e, 17, paris(2026, 6, 3, 9, 0)),
        Some(paris(2026, 6, 3, 13, 0))
    );
    // A reason the Louvre policy does not pause for leaves the clock running.
    create(
        &mut e,
        18,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P1, Nature::Incident),
    );
    e.handle(
        18,
        paris(2026, 6, 1, 10, 0),
        "tech",
        SlaInput::Paused {
            reason: PauseReason::ThirdParty,
        },
    )
    .unwrap();
    assert_eq!(
        due(&e, 18, paris(2026, 6, 1, 10, 0)),
        Some(paris(2026, 6, 1, 13, 0))
    );
}

#[test]
fn due_date_change_needs_a_reason_is_audited_and_survives_pauses() {
    let mut e = engine();
    create(
        &mut e,
        19,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P0, Nature::Incident),
    );
    audits(&mut e);
    let change = |reason: &str| SlaInput::DueDateChanged {
        due: paris(2026, 6, 2, 12, 0),
        reason: reason.to_owned(),
    };
    let err = e
        .handle(19, paris(2026, 6, 1, 10, 0), "tech", change("  "))
        .unwrap_err();
    assert_eq!(err, SlaError::Required("le motif du changement d'échéance"));
    e.handle(
        19,
        paris(2026, 6, 1, 10, 0),
        "tech",
        change("utilisateur absent, validé par courriel"),
    )
    .unwrap();
    // 1 h used + 8 h Monday + 3 h Tuesday = a 12 h limit, due Tuesday 12:00.
    let r = e
        .status(19, paris(2026, 6, 1, 10, 0))
        .unwrap()
        .resolve
        .unwrap();
    assert_eq!(
        (r.limit, r.due),
        (TimeDelta::hours(12), Some(paris(2026, 6, 2, 12, 0)))
    );
    let a = audits(&mut e);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].field, "due_date");
    assert_eq!(a[0].actor, "tech");
    assert_eq!(
        a[0].old_value.as_deref(),
        Some(paris(2026, 6, 1, 11, 0).to_rfc3339().as_str())
    );
    assert_eq!(
        a[0].new_value.as_deref(),
        Some(paris(2026, 6, 2, 12, 0).to_rfc3339().as_str())
    );
    assert_eq!(
        a[0].reason.as_deref(),
        Some("utilisateur absent, validé par courriel")
    );
    // A one-hour pause later moves it by one hour.
    e.handle(
        19,
        paris(2026, 6, 1, 16, 0),
        "tech",
        SlaInput::Paused {
            reason: PauseReason::User,
        },
    )
    .unwrap();
    e.handle(19, paris(2026, 6, 1, 17, 0), "tech", SlaInput::Resumed)
        .unwrap();
    assert_eq!(
        due(&e, 19, paris(2026, 6, 1, 17, 0)),
        Some(paris(2026, 6, 2, 13, 0))
    );
    // A due date with no business time ahead is refused.
    let err = e
        .handle(
            19,
            paris(2026, 6, 1, 17, 0),
            "tech",
            SlaInput::DueDateChanged {
                due: paris(2026, 6, 1, 17, 0),
                reason: "x".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err, SlaError::DueDateTooEarly);
}

#[test]
fn priority_change_keeps_the_start_and_needs_a_reason() {
    let mut e = engine();
    create(
        &mut e,
        20,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P2, Nature::Incident),
    );
    let err = e
        .handle(
            20,
            paris(2026, 6, 1, 10, 0),
            "tech",
            SlaInput::PriorityChanged {
                priority: Priority::P0,
                reason: String::new(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SlaError::Required(_)));
    e.handle(
        20,
        paris(2026, 6, 1, 10, 0),
        "tech",
        SlaInput::PriorityChanged {
            priority: Priority::P0,
            reason: "service bloqué pour toute la direction".into(),
        },
    )
    .unwrap();
    // VIP target 2 h counted from creation: 11:00.
    assert_eq!(
        due(&e, 20, paris(2026, 6, 1, 10, 0)),
        Some(paris(2026, 6, 1, 11, 0))
    );
    let a = audits(&mut e);
    assert!(a.iter().any(|a| a.field == "priority"
        && a.old_value.as_deref() == Some("P2")
        && a.new_value.as_deref() == Some("P0")));
}

#[test]
fn exclusion_needs_justification_and_approver_and_stops_everything() {
    let mut e = engine();
    create(
        &mut e,
        21,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P0, Nature::Incident),
    );
    let exclude = |j: &str, a: &str| SlaInput::Excluded {
        justification: j.into(),
        approver: a.into(),
    };
    assert!(
        e.handle(
            21,
            paris(2026, 6, 1, 10, 0),
            "tech",
            exclude("panne EDF", "")
        )
        .is_err()
    );
    assert!(
        e.handle(21, paris(2026, 6, 1, 10, 0), "tech", exclude("", "DSI"))
            .is_err()
    );
    e.handle(
        21,
        paris(2026, 6, 1, 10, 0),
        "tech",
        exclude("coupure électrique du site", "M. Martin (DSI)"),
    )
    .unwrap();
    assert_eq!(e.verdict(21), Some(SlaVerdict::Excluded));
    assert_eq!(e.poll_timeout(), None);
    assert!(matches!(
        e.handle(21, paris(2026, 6, 1, 11, 0), "tech", SlaInput::Resolved),
        Err(SlaError::InvalidState { .. })
    ));
    let a = audits(&mut e);
    assert!(
        a.iter().any(|a| a.field == "sla_exclusion"
            && a.reason.as_deref() == Some("coupure électrique du site"))
    );
}

#[test]
fn reopen_resumes_the_resolution_clock_where_it_stopped() {
    let mut e = engine();
    create(
        &mut e,
        22,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P1, Nature::Incident),
    );
    e.handle(22, paris(2026, 6, 1, 10, 0), "tech", SlaInput::Resolved)
        .unwrap();
    assert_eq!(e.verdict(22), Some(SlaVerdict::Met));
    assert!(
        e.handle(22, paris(2026, 6, 1, 11, 0), "tech", SlaInput::Resolved)
            .is_err()
    );
    e.handle(22, paris(2026, 6, 2, 9, 0), "user", SlaInput::Reopened)
        .unwrap();
    assert_eq!(e.verdict(22), Some(SlaVerdict::Running));
    // 1 h used on Monday; 3 h left from Tuesday 09:00.
    assert_eq!(
        due(&e, 22, paris(2026, 6, 2, 9, 0)),
        Some(paris(2026, 6, 2, 12, 0))
    );
    assert_eq!(e.export(22).unwrap().reopen_count, 1);
}

#[test]
fn persisted_clock_restored_after_a_restart_fires_what_fell_due() {
    let mut e = engine();
    create(
        &mut e,
        23,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P0, Nature::Incident),
    );
    e.handle(
        23,
        paris(2026, 6, 1, 9, 30),
        "tech",
        SlaInput::Paused {
            reason: PauseReason::Appointment,
        },
    )
    .unwrap();
    e.handle(23, paris(2026, 6, 1, 14, 0), "tech", SlaInput::Resumed)
        .unwrap();
    let json = serde_json::to_string(e.export(23).unwrap()).unwrap();
    // The process stops at 14:05 and starts again at 17:00.
    let mut fresh = engine();
    let clock: SlaClock = serde_json::from_str(&json).unwrap();
    fresh.restore(23, clock, paris(2026, 6, 1, 17, 0)).unwrap();
    // 30 min before the pause, then 14:00 + 1 h 30 = 15:30.
    let events = drain(&mut fresh);
    assert_eq!(
        events.last(),
        Some(&SlaEvent::Breached {
            ticket: 23,
            target: TargetKind::Resolve,
            due: paris(2026, 6, 1, 15, 30)
        })
    );
    assert_eq!(fresh.poll_timeout(), None);
    assert!(
        fresh
            .restore(
                23,
                serde_json::from_str(&json).unwrap(),
                paris(2026, 6, 1, 17, 0)
            )
            .is_err()
    );
}

#[test]
fn inputs_in_the_past_are_treated_as_now() {
    let mut e = engine();
    create(
        &mut e,
        24,
        paris(2026, 6, 1, 9, 0),
        "louvre",
        facts(Priority::P0, Nature::Incident),
    );
    e.handle(
        24,
        paris(2026, 6, 1, 10, 0),
        "tech",
        SlaInput::Paused {
            reason: PauseReason::User,
        },
    )
    .unwrap();
    e.handle(24, paris(2026, 6, 1, 9, 30), "tech", SlaInput::Resumed)
        .unwrap();
    let r = e
        .status(24, paris(2026, 6, 1, 10, 0))
        .unwrap()
        .resolve
        .unwrap();
    assert_eq!(r.consumed, TimeDelta::hours(1));
    assert_eq!(r.due, Some(paris(2026, 6, 1, 11, 0)));
}

#[test]
fn many_tickets_share_one_timer_table_in_time_order() {
    let mut e = engine();
    // 300 VIP tickets opened every 7 minutes from Monday 1 June 2026 09:00.
    let start = paris(2026, 6, 1, 9, 0);
    for i in 0..300 {
        create(
            &mut e,
            1000 + i,
            start + TimeDelta::minutes(7 * i),
            "louvre",
            facts(Priority::P0, Nature::Incident),
        );
    }
    drain(&mut e);
    let events = run_until(&mut e, paris(2026, 7, 1, 0, 0));
    let breaches: Vec<_> = events
        .iter()
        .filter_map(|ev| match ev {
            SlaEvent::Breached { ticket, due, .. } => Some((*ticket, *due)),
            _ => None,
        })
        .collect();
    assert_eq!(breaches.len(), 300);
    assert!(breaches.windows(2).all(|w| w[0].1 <= w[1].1));
    let cal = Calendar::louvre_hotline();
    for (ticket, due) in breaches {
        let created = start + TimeDelta::minutes(7 * (ticket - 1000));
        assert_eq!(
            cal.business_duration(created, due),
            TimeDelta::hours(2),
            "ticket {ticket}"
        );
    }
    assert_eq!(events.len(), 600, "one at-risk and one breach each");
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn config_errors_name_the_field() {
    let calendars = || {
        let mut c = BTreeMap::new();
        c.insert("louvre".to_owned(), Calendar::louvre_hotline());
        c
    };
    let build = |spec: SlaPolicySpec| {
        let mut policies = BTreeMap::new();
        policies.insert("p".to_owned(), spec);
        SlaEngine::new(&SlaConfigSpec { policies }, calendars())
            .unwrap_err()
            .to_string()
    };
    let mut s = SlaPolicySpec::louvre("louvre");
    s.targets[1].resolve = Some("4 heures".into());
    assert!(build(s).starts_with("policies.p.targets[1].resolve: "));
    let mut s = SlaPolicySpec::louvre("louvre");
    s.at_risk = 1.5;
    assert_eq!(
        build(s),
        "policies.p.at_risk: 1.5 must be strictly between 0 and 1"
    );
    let s = SlaPolicySpec::louvre("nowhere");
    assert_eq!(
        build(s),
        "policies.p.calendar: no calendar named \"nowhere\""
    );
    let mut s = SlaPolicySpec::louvre("louvre");
    s.targets[3].bump_to = Some(Priority::P3);
    assert!(build(s).starts_with("policies.p.targets[3].bump_to: "));
    let mut s = SlaPolicySpec::louvre("louvre");
    s.targets[0].escalate_within = Some("20min".into());
    s.targets[0].resolve = None;
    s.targets[0].take_charge = Some("1h".into());
    assert!(build(s).starts_with("policies.p.targets[0].escalate_within: "));
    let mut s = SlaPolicySpec::louvre("louvre");
    s.targets[2].resolve = None;
    assert_eq!(
        build(s),
        "policies.p.targets[2]: needs take_charge or resolve"
    );
    // Unknown fields are refused when deserialising.
    let bad =
        serde_json::from_str::<SlaPolicySpec>(r#"{"calendar":"louvre","targets":[],"pause":[]}"#);
    assert!(bad.is_err());
    let good: SlaPolicySpec = serde_json::from_str(
        r#"{"calendar":"louvre","targets":[{"priority":"p1","resolve":"4h","take_charge":"30min"}]}"#,
    )
    .unwrap();
    assert_eq!(good.at_risk, 0.75);
    assert_eq!(good.auto_close.after_days, 14);
    assert_eq!(good.pause_reasons.len(), 5);
}

#[test]
fn durations_parse_with_units_and_business_days() {
    let day = Some(TimeDelta::hours(9));
    assert_eq!(parse_duration("25min", day), Ok(TimeDelta::minutes(25)));
    assert_eq!(parse_duration("1h30min", day), Ok(TimeDelta::minutes(90)));
    assert_eq!(parse_duration("3d", day), Ok(TimeDelta::hours(27)));
    assert!(parse_duration("3d", None).is_err());
    assert!(parse_duration("0h", day).is_err());
    assert!(parse_duration("h", day).is_err());
    assert!(parse_duration("10", day).is_err());
    assert!(parse_duration("2 weeks", day).is_err());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Whatever the pauses, the breach instant is where the running
        /// intervals hold exactly the limit in business time, the at-risk
        /// instant where they hold 75 % of it, and neither lies inside a pause.
        #[test]
        fn breach_and_at_risk_instants_match_the_running_intervals(
            start in 1_735_689_600i64..1_798_761_600i64, // 2025-01-01 .. 2027-01-01
            p in 0usize..3,
            gaps in proptest::collection::vec(1i64..4000, 0..7),
        ) {
            let priority = [Priority::P0, Priority::P1, Priority::P2][p];
            let limit = TimeDelta::hours([2, 4, 8][p]);
            let cal = Calendar::louvre_hotline();
            let mut e = engine();
            let created = DateTime::<Utc>::from_timestamp(start, 0).unwrap();
            create(&mut e, 1, created, "louvre", facts(priority, Nature::Incident));
            let mut events = Vec::new();
            let mut now = created;
            let mut running = vec![(created, None::<DateTime<Utc>>)];
            for (i, gap) in gaps.iter().enumerate() {
                now += TimeDelta::minutes(*gap);
                events.extend(run_until(&mut e, now));
                if i % 2 == 0 {
                    e.handle(1, now, "t", SlaInput::Paused { reason: PauseReason::Appointment }).unwrap();
                    if let Some(last) = running.last_mut() { last.1 = Some(now); }
                } else {
                    e.handle(1, now, "t", SlaInput::Resumed).unwrap();
                    running.push((now, None));
                }
                events.extend(drain(&mut e));
            }
            if running.last().is_some_and(|r| r.1.is_some()) {
                now += TimeDelta::minutes(1);
                e.handle(1, now, "t", SlaInput::Resumed).unwrap();
                running.push((now, None));
            }
            events.extend(run_until(&mut e, now + TimeDelta::days(400)));
            let held = |upto: DateTime<Utc>| -> TimeDelta {
                running.iter().map(|&(s, end)| {
                    let e = end.unwrap_or(upto).min(upto);
                    if e > s { cal.business_duration(s, e) } else { TimeDelta::zero() }
                }).sum()
            };
            let inside_pause = |t: DateTime<Utc>| {
                running.windows(2).any(|w| w[0].1.is_some_and(|paused| paused < t && t < w[1].0))
            };
            let breach = events.iter().find_map(|ev| match ev {
                SlaEvent::Breached { due, .. } => Some(*due),
                _ => None,
            });
            let breach = breach.expect("every ticket left running breaches eventually");
            prop_assert_eq!(held(breach), limit);
            prop_assert!(!inside_pause(breach));
            let at_risk = events.iter().find_map(|ev| match ev {
                SlaEvent::AtRisk { at, .. } => Some(*at),
                _ => None,
            }).expect("at-risk precedes breach");
            prop_assert_eq!(held(at_risk), limit * 3 / 4);
            prop_assert!(at_risk < breach);
            prop_assert_eq!(e.poll_timeout(), None);
        }
    }
}

/// Calendar changes count from the instant they are made (docs/sla.md).
mod calendar_changes {
    use super::*;
    use crate::sla::calendar_history::tests::louvre;

    fn may(d: u32, h: u32, min: u32) -> DateTime<Utc> {
        paris(2026, 5, d, h, min)
    }

    /// An engine tracking ticket `id` of `priority` on the Louvre grid, opened at `opened`.
    fn louvre_ticket(id: TicketId, opened: DateTime<Utc>, priority: Priority) -> SlaEngine {
        let mut e = engine();
        create(
            &mut e,
            id,
            opened,
            "louvre",
            facts(priority, Nature::Incident),
        );
        e
    }

    /// Closes the local `day` ("2026-05-19") of the Louvre calendar from `at` on.
    fn close_day(e: &mut SlaEngine, day: &str, at: DateTime<Utc>) {
        e.set_calendar("louvre", louvre("09:00-18:00", &[day]), at);
    }

    fn consumed(e: &SlaEngine, id: TicketId, now: DateTime<Utc>) -> TimeDelta {
        e.status(id, now).unwrap().resolve.unwrap().consumed
    }

    #[test]
    fn hours_changed_mid_day_keep_the_time_counted_before_the_change() {
        // P1 (4 business hours) opened Tuesday 19 May 2026 at 09:00 Paris, due 13:00.
        let mut e = louvre_ticket(1, may(19, 9, 0), Priority::P1);
        assert_eq!(due(&e, 1, may(19, 9, 0)), Some(may(19, 13, 0)));
        // At 11:00 Tuesday becomes 10:00-12:00. The two hours run since 09:00 stay counted
        // (re-read with the new hours they would be one).
        e.set_calendar("louvre", louvre("10:00-12:00", &[]), may(19, 11, 0));
        assert_eq!(consumed(&e, 1, may(19, 11, 0)), TimeDelta::hours(2));
        assert_eq!(consumed(&e, 1, may(19, 15, 0)), TimeDelta::hours(3));
        // Two hours left: 11:00-12:00, then Wednesday 09:00-10:00.
        assert_eq!(due(&e, 1, may(19, 11, 0)), Some(may(20, 10, 0)));
        // The timer table follows: at risk (3 h) at noon, breached Wednesday 10:00.
        assert_eq!(e.poll_timeout(), Some(may(19, 12, 0)));
        assert_eq!(
            run_until(&mut e, may(20, 18, 0)),
            vec![
                SlaEvent::AtRisk {
                    ticket: 1,
                    target: TargetKind::Resolve,
                    at: may(19, 12, 0),
                    due: Some(may(20, 10, 0)),
                },
                SlaEvent::Breached {
                    ticket: 1,
                    target: TargetKind::Resolve,
                    due: may(20, 10, 0),
                },
            ]
        );
    }

    #[test]
    fn a_closure_added_for_today_keeps_the_morning() {
        // P2 (8 business hours) opened Tuesday 19 May at 09:00; at 14:00 an administrator
        // closes today. Five hours have run and stay counted; the clock stops from 14:00.
        let mut e = louvre_ticket(2, may(19, 9, 0), Priority::P2);
        assert_eq!(due(&e, 2, may(19, 9, 0)), Some(may(19, 17, 0)));
        close_day(&mut e, "2026-05-19", may(19, 14, 0));
        assert_eq!(consumed(&e, 2, may(19, 14, 0)), TimeDelta::hours(5));
        assert_eq!(consumed(&e, 2, may(19, 17, 30)), TimeDelta::hours(5));
        // Three hours left on Wednesday: at risk (6 h) 10:00, due 12:00.
        assert_eq!(due(&e, 2, may(19, 14, 0)), Some(may(20, 12, 0)));
        assert_eq!(e.poll_timeout(), Some(may(20, 10, 0)));
        assert!(run_until(&mut e, may(19, 23, 0)).is_empty());
    }

    #[test]
    fn a_closure_added_for_tomorrow_stops_the_clock_that_day() {
        // P2 opened Tuesday 19 May at 15:00 (due Wednesday 14:00); at 16:00 Wednesday is
        // closed: the clock skips it, three hours on Tuesday and five on Thursday.
        let mut e = louvre_ticket(3, may(19, 15, 0), Priority::P2);
        assert_eq!(due(&e, 3, may(19, 15, 0)), Some(may(20, 14, 0)));
        close_day(&mut e, "2026-05-20", may(19, 16, 0));
        assert_eq!(consumed(&e, 3, may(19, 16, 0)), TimeDelta::hours(1));
        assert_eq!(consumed(&e, 3, may(20, 17, 0)), TimeDelta::hours(3));
        assert_eq!(due(&e, 3, may(19, 16, 0)), Some(may(21, 14, 0)));
        assert_eq!(e.poll_timeout(), Some(may(21, 12, 0)));
        // Automatic closure counted in business days skips the closed Wednesday too.
        assert_eq!(
            e.calendar_history("louvre")
                .map(|h| h.is_business_day(chrono::NaiveDate::from_ymd_opt(2026, 5, 20).unwrap())),
            Some(false)
        );
    }

    #[test]
    fn a_restart_with_the_same_history_gives_the_same_figures() {
        let changes = [
            (may(19, 11, 0), louvre("10:00-12:00", &[])),
            (may(19, 11, 30), louvre("10:00-12:00", &["2026-05-20"])),
        ];
        let mut e = louvre_ticket(4, may(19, 9, 0), Priority::P1);
        for (at, calendar) in changes.clone() {
            e.set_calendar("louvre", calendar, at);
        }
        // Two hours before 11:00, one until noon, Wednesday closed, one on Thursday.
        assert_eq!(due(&e, 4, may(19, 11, 30)), Some(may(21, 10, 0)));
        let saved = serde_json::to_string(e.export(4).unwrap()).unwrap();

        // The process stops; the new one rebuilds the history from the stored changes.
        let mut history = CalendarHistory::new(Calendar::louvre_hotline());
        for (at, calendar) in changes {
            history.change(at, calendar);
        }
        let mut fresh = engine();
        fresh.set_calendar_history("louvre", history);
        fresh
            .restore(4, serde_json::from_str(&saved).unwrap(), may(19, 11, 45))
            .unwrap();
        for now in [may(19, 11, 45), may(19, 17, 0), may(21, 9, 30)] {
            assert_eq!(fresh.status(4, now), e.status(4, now), "at {now}");
        }
        assert_eq!(fresh.poll_timeout(), e.poll_timeout());
        assert_eq!(
            run_until(&mut fresh, may(22, 0, 0)),
            run_until(&mut e, may(22, 0, 0))
        );
        assert!(drain(&mut fresh).is_empty());
    }
}
