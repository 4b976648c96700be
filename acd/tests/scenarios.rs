//! Scenario tests of the ACD engine through its public API: each strategy,
//! each overflow rule, wrap-up cases, announcements, the snapshot and the
//! races between hang-ups and answers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use guichet_acd::stats::Outcome;
use guichet_acd::{
    ABSENT, Acd, AcdConfig, AcdError, Action, AgentStatus, CallId, Event, Priority, RejectReason,
};

struct H {
    acd: Acd,
    t0: DateTime<Utc>,
    now: DateTime<Utc>,
    actions: Vec<Action>,
    events: Vec<Event>,
}

impl H {
    fn new(toml_text: &str) -> Self {
        let cfg: AcdConfig = toml::from_str(toml_text).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        Self {
            acd: Acd::new(&cfg).unwrap(),
            t0,
            now: t0,
            actions: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.acd.poll_action() {
            self.actions.push(a);
        }
        while let Some(e) = self.acd.poll_event() {
            self.events.push(e);
        }
    }

    /// Moves time to t0 + `s` seconds, firing every timer on the way.
    fn at(&mut self, s: i64) -> DateTime<Utc> {
        let target = self.t0 + Duration::seconds(s);
        while let Some(t) = self.acd.poll_timeout() {
            if t > target {
                break;
            }
            self.now = t.max(self.now);
            self.acd.handle_timeout(self.now);
        }
        self.now = target;
        self.drain();
        target
    }

    fn login(&mut self, s: i64, agent: &str) {
        let now = self.at(s);
        self.acd.login(now, agent).unwrap();
        self.drain();
    }

    fn call(&mut self, s: i64, id: u64, queue: &str, p: Priority) {
        let now = self.at(s);
        self.acd.enqueue(now, CallId(id), queue, p, "8585").unwrap();
        self.drain();
    }

    fn answer(&mut self, s: i64, agent: &str, id: u64) -> Result<(), AcdError> {
        let now = self.at(s);
        let r = self.acd.agent_answered(now, agent, CallId(id));
        self.drain();
        r
    }

    fn hangup(&mut self, s: i64, id: u64) -> Result<(), AcdError> {
        let now = self.at(s);
        let r = self.acd.call_ended(now, CallId(id));
        self.drain();
        r
    }

    /// The (call, agent) pairs rung so far, then forgets the actions.
    fn rings(&mut self) -> Vec<(u64, String)> {
        let r = self
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Ring { call, agent, .. } => Some((call.0, agent.0.clone())),
                _ => None,
            })
            .collect();
        self.actions.clear();
        r
    }

    fn status(&self, agent: &str) -> AgentStatus {
        self.acd.agent_status(agent).unwrap().clone()
    }

    fn finished(&self) -> Vec<(u64, Outcome, String)> {
        let mut v = Vec::new();
        for e in &self.events {
            if let Event::CallFinished { facts, .. } = e {
                v.push((0, facts.outcome, facts.queue.clone()));
            }
        }
        v
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.finished().into_iter().map(|f| f.1).collect()
    }
}

fn agents(names: &[&str], queue: &str) -> String {
    names
        .iter()
        .map(|n| format!("[[agents]]\nlogin = \"{n}\"\nqueues = [{{ queue = \"{queue}\" }}]\n"))
        .collect()
}

fn one_queue(extra: &str, names: &[&str]) -> String {
    format!(
        "[[queues]]\nname = \"q\"\nannounce_on_entry = false\n{extra}\n{}",
        agents(names, "q")
    )
}

#[test]
fn longest_idle_is_default() {
    let mut h = H::new(&one_queue("", &["a", "b", "c"]));
    h.login(0, "b");
    h.login(1, "a");
    h.login(2, "c");
    h.call(10, 1, "q", Priority::Normal);
    h.call(11, 2, "q", Priority::Normal);
    assert_eq!(h.rings(), vec![(1, "b".into()), (2, "a".into())]);
    h.answer(12, "b", 1).unwrap();
    h.answer(12, "a", 2).unwrap();
    h.hangup(20, 1).unwrap();
    // b's status bar counts the 30 s wrap-up down; nobody else has a countdown.
    let later = h.at(30);
    let snapshot = h.acd.snapshot(later);
    let left = |name: &str| {
        snapshot
            .agents
            .iter()
            .find(|x| x.agent.0 == name)
            .and_then(|x| x.wrap_up_left_secs)
    };
    assert_eq!((left("b"), left("a")), (Some(20), None));
    // b is in wrap-up (30 s); once back, b is idle since 50 s, after c (2 s).
    h.at(51);
    assert_eq!(h.status("b"), AgentStatus::Available);
    h.call(60, 3, "q", Priority::Normal);
    assert_eq!(h.rings(), vec![(3, "c".into())]);
}

#[test]
fn round_robin_takes_turns() {
    let mut h = H::new(&one_queue(
        "strategy = \"round_robin\"\nwrap_up = 0",
        &["a", "b", "c"],
    ));
    for n in ["c", "b", "a"] {
        h.login(0, n);
    }
    let mut order = Vec::new();
    for i in 0..5 {
        let id = 100 + i;
        h.call(10 + i as i64 * 10, id, "q", Priority::Normal);
        let r = h.rings();
        assert_eq!(r.len(), 1);
        order.push(r[0].1.clone());
        h.answer(11 + i as i64 * 10, &r[0].1, id).unwrap();
        h.hangup(12 + i as i64 * 10, id).unwrap();
    }
    assert_eq!(order, vec!["a", "b", "c", "a", "b"]);
}

#[test]
fn fewest_calls_prefers_the_least_loaded() {
    let mut h = H::new(&one_queue(
        "strategy = \"fewest_calls\"\nwrap_up = 0",
        &["a", "b"],
    ));
    h.login(0, "a");
    h.login(1, "b");
    // a takes two calls, b one.
    for (i, agent) in [(1, "a"), (2, "b"), (3, "a")] {
        h.call(i * 10, i as u64, "q", Priority::Normal);
        let r = h.rings();
        assert_eq!(r, vec![(i as u64, agent.to_string())]);
        h.answer(i * 10 + 1, agent, i as u64).unwrap();
        h.hangup(i * 10 + 2, i as u64).unwrap();
    }
    // b (1 call) is chosen although a has been idle longer... a: 32 s, b: 22 s.
    h.call(100, 9, "q", Priority::Normal);
    assert_eq!(h.rings(), vec![(9, "b".into())]);
}

#[test]
fn skills_first_prefers_the_highest_level() {
    let cfg = "[[queues]]\nname = \"q\"\nstrategy = \"skills_first\"\nannounce_on_entry = false\n\
        [[agents]]\nlogin = \"junior\"\nqueues = [{ queue = \"q\", level = 2 }]\n\
        [[agents]]\nlogin = \"expert\"\nqueues = [{ queue = \"q\", level = 8 }]\n";
    let mut h = H::new(cfg);
    h.login(0, "junior");
    h.login(5, "expert");
    h.call(10, 1, "q", Priority::Normal);
    h.call(11, 2, "q", Priority::Normal);
    assert_eq!(h.rings(), vec![(1, "expert".into()), (2, "junior".into())]);
}

#[test]
fn vip_first_within_the_ageing_rule() {
    let mut h = H::new(&one_queue("ageing = 300", &["a"]));
    h.call(0, 1, "q", Priority::Normal); // waits from 0
    h.call(100, 2, "q", Priority::Normal);
    h.call(200, 3, "q", Priority::Vip); // ranks as 200 - 300 = -100: before 1
    h.call(400, 4, "q", Priority::Vip); // ranks as 100: after 1, tie with 2 → after 2
    let order: Vec<u64> = h.acd.waiting_order("q").iter().map(|c| c.0).collect();
    assert_eq!(order, vec![3, 1, 2, 4]);
    // Priority raised while waiting: 2 becomes P0 and jumps ahead of 1.
    let now = h.at(410);
    h.acd.set_priority(now, CallId(2), Priority::Vip).unwrap();
    let order: Vec<u64> = h.acd.waiting_order("q").iter().map(|c| c.0).collect();
    assert_eq!(order, vec![2, 3, 1, 4]);
    // ... and lowered again.
    h.acd
        .set_priority(now, CallId(3), Priority::Normal)
        .unwrap();
    let order: Vec<u64> = h.acd.waiting_order("q").iter().map(|c| c.0).collect();
    assert_eq!(order, vec![2, 1, 4, 3]);
    h.login(420, "a");
    assert_eq!(h.rings(), vec![(2, "a".into())]);
}

#[test]
fn ring_timeout_reoffers_and_pauses_absent_agent() {
    let mut h = H::new(&one_queue(
        "ring_timeout = 15\nmax_missed_offers = 2",
        &["a", "b"],
    ));
    h.login(0, "a");
    h.login(1, "b");
    h.call(10, 1, "q", Priority::Normal);
    assert_eq!(h.rings(), vec![(1, "a".into())]);
    h.at(25); // a's phone rang 15 s: re-offered to b
    assert!(h.actions.contains(&Action::CancelRing {
        call: CallId(1),
        agent: guichet_acd::AgentId("a".into())
    }));
    assert_eq!(h.rings(), vec![(1, "b".into())]);
    assert_eq!(h.status("a"), AgentStatus::Available);
    // b misses too; back to a (b declined), a misses a second time → absent.
    h.at(40);
    assert_eq!(h.rings(), vec![(1, "a".into())]);
    h.at(55);
    assert_eq!(
        h.status("a"),
        AgentStatus::Paused {
            reason: ABSENT.into()
        }
    );
    assert_eq!(h.rings(), vec![(1, "b".into())]);
    // An offer refused by the phone counts as a miss too: b is absent now.
    let now = h.at(56);
    h.acd.offer_failed(now, "b", CallId(1)).unwrap();
    h.drain();
    assert_eq!(
        h.status("b"),
        AgentStatus::Paused {
            reason: ABSENT.into()
        }
    );
    assert_eq!(h.acd.waiting_len("q"), Some(1));
    // The call kept its place and the wait continues.
    let now = h.at(60);
    h.acd.unpause(now, "a").unwrap();
    h.drain();
    assert_eq!(h.rings(), vec![(1, "a".into())]);
    h.answer(61, "a", 1).unwrap();
    assert_eq!(h.status("a"), AgentStatus::OnCall { call: CallId(1) });
}

#[test]
fn wrap_up_ends_by_timer_early_or_extended() {
    let mut h = H::new(&one_queue("wrap_up = 30", &["a"]));
    h.login(0, "a");
    h.call(10, 1, "q", Priority::Normal);
    h.answer(12, "a", 1).unwrap();
    h.hangup(100, 1).unwrap();
    assert_eq!(h.status("a"), AgentStatus::WrapUp { call: CallId(1) });
    // No record yet: it completes when the wrap-up ends.
    assert!(h.outcomes().is_empty());
    h.at(129);
    assert_eq!(h.status("a"), AgentStatus::WrapUp { call: CallId(1) });
    h.at(130);
    assert_eq!(h.status("a"), AgentStatus::Available);
    let facts = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::CallFinished { facts, .. } => Some(facts.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(facts.outcome, Outcome::Answered);
    assert_eq!(facts.wrap_up(), Some(Duration::seconds(30)));
    assert_eq!(facts.talk(), Some(Duration::seconds(88)));
    assert_eq!(facts.wait(), Some(Duration::seconds(2)));
    assert_eq!(facts.agent.as_deref(), Some("a"));

    // Ended early.
    h.call(200, 2, "q", Priority::Normal);
    h.answer(201, "a", 2).unwrap();
    h.hangup(210, 2).unwrap();
    let now = h.at(215);
    h.acd.end_wrap_up(now, "a").unwrap();
    assert_eq!(h.status("a"), AgentStatus::Available);
    assert!(h.acd.end_wrap_up(now, "a").is_err());

    // Extended: 30 s + 60 s.
    h.call(300, 3, "q", Priority::Normal);
    h.answer(301, "a", 3).unwrap();
    h.hangup(310, 3).unwrap();
    let now = h.at(320);
    h.acd
        .extend_wrap_up(now, "a", Duration::seconds(60))
        .unwrap();
    // A call arriving meanwhile waits for the end of the extended wrap-up.
    h.rings();
    h.call(380, 4, "q", Priority::Normal);
    h.at(399);
    assert_eq!(h.status("a"), AgentStatus::WrapUp { call: CallId(3) });
    assert!(h.rings().is_empty());
    h.at(400);
    assert_eq!(h.rings(), vec![(4, "a".into())]);
}

#[test]
fn overflow_wait_above_to_another_queue_keeps_place() {
    let cfg = "[[queues]]\nname = \"q\"\nannounce_on_entry = false\n\
        overflow = [{ wait_above = 60, to_queue = \"renfort\" }]\n\
        [[queues]]\nname = \"renfort\"\nannounce_on_entry = false\n\
        [[agents]]\nlogin = \"r\"\nqueues = [{ queue = \"renfort\" }]\n";
    let mut h = H::new(cfg);
    h.call(0, 1, "q", Priority::Normal);
    h.call(10, 2, "renfort", Priority::Normal);
    h.at(59);
    assert_eq!(h.acd.waiting_len("q"), Some(1));
    h.at(60);
    assert_eq!(h.acd.waiting_len("q"), Some(0));
    // Call 1 arrived first: it keeps its place ahead of call 2.
    assert_eq!(h.acd.waiting_order("renfort"), vec![CallId(1), CallId(2)]);
    assert_eq!(h.outcomes(), vec![Outcome::OverflowedToQueue]);
    h.login(70, "r");
    assert_eq!(h.rings(), vec![(1, "r".into())]);
}

#[test]
fn overflow_length_above_to_external_number() {
    let mut h = H::new(&one_queue(
        "overflow = [{ length_above = 2, to_number = \"0140000000\" }]",
        &["a"],
    ));
    h.call(0, 1, "q", Priority::Normal);
    h.call(1, 2, "q", Priority::Normal);
    h.call(2, 3, "q", Priority::Normal);
    assert!(h.actions.contains(&Action::TransferExternal {
        call: CallId(3),
        number: "0140000000".into()
    }));
    assert_eq!(h.acd.waiting_len("q"), Some(2));
    assert_eq!(h.outcomes(), vec![Outcome::OverflowedExternal]);
}

#[test]
fn overflow_no_agent_to_callback_on_entry_and_on_last_logout() {
    let mut h = H::new(&one_queue(
        "overflow = [{ no_agent_logged_in = true, callback = true }]",
        &["a", "b"],
    ));
    h.call(0, 1, "q", Priority::Normal);
    assert!(h.actions.contains(&Action::Callback {
        call: CallId(1),
        queue: "q".into(),
        waiting_since: h.t0,
        priority: Priority::Normal,
    }));
    h.login(5, "a");
    let now = h.at(6);
    h.acd.pause(now, "a", "déjeuner").unwrap();
    h.drain();
    h.call(10, 2, "q", Priority::Normal);
    h.call(11, 3, "q", Priority::Normal);
    assert_eq!(h.acd.waiting_len("q"), Some(2));
    // The paused agent logs out: nobody logged in, both waiting calls go.
    let now = h.at(20);
    h.acd.logout(now, "a").unwrap();
    h.drain();
    assert_eq!(h.acd.waiting_len("q"), Some(0));
    assert_eq!(h.outcomes(), vec![Outcome::OverflowedCallback; 3]);
}

#[test]
fn overflow_when_closed_and_max_length_and_max_wait() {
    let cfg = "[[queues]]\nname = \"q\"\nannounce_on_entry = false\nmax_length = 1\nmax_wait = 120\n\
        overflow = [{ closed = true, to_queue = \"astreinte\" }]\n\
        [[queues]]\nname = \"astreinte\"\nannounce_on_entry = false\n";
    let mut h = H::new(cfg);
    h.call(0, 1, "q", Priority::Normal);
    h.call(1, 2, "q", Priority::Normal);
    assert!(h.actions.contains(&Action::Reject {
        call: CallId(2),
        reason: RejectReason::QueueFull
    }));
    h.at(120);
    assert!(h.actions.contains(&Action::Callback {
        call: CallId(1),
        queue: "q".into(),
        waiting_since: h.t0,
        priority: Priority::Normal,
    }));
    assert_eq!(
        h.outcomes(),
        vec![Outcome::Rejected, Outcome::OverflowedCallback]
    );
    h.call(200, 3, "q", Priority::Normal);
    let now = h.at(210);
    h.acd.set_queue_open(now, "q", false).unwrap();
    h.drain();
    assert_eq!(h.acd.waiting_order("astreinte"), vec![CallId(3)]);
    h.call(220, 4, "q", Priority::Normal);
    assert_eq!(h.acd.waiting_order("astreinte"), vec![CallId(3), CallId(4)]);
}

#[test]
fn caller_hangs_up_while_ringing_then_late_answer_is_refused() {
    let mut h = H::new(&one_queue("", &["a"]));
    h.login(0, "a");
    h.call(10, 1, "q", Priority::Normal);
    assert_eq!(h.rings(), vec![(1, "a".into())]);
    h.hangup(15, 1).unwrap();
    assert!(h.actions.contains(&Action::CancelRing {
        call: CallId(1),
        agent: guichet_acd::AgentId("a".into())
    }));
    assert_eq!(h.status("a"), AgentStatus::Available);
    // The agent's answer crosses the hang-up: refused, nothing changes.
    assert!(matches!(
        h.answer(15, "a", 1),
        Err(AcdError::NotApplicable { .. })
    ));
    assert_eq!(h.status("a"), AgentStatus::Available);
    // The same hang-up twice.
    assert_eq!(h.hangup(16, 1), Err(AcdError::UnknownCall(CallId(1))));
    assert_eq!(h.outcomes(), vec![Outcome::AbandonedWhileRinging]);
    assert_eq!(h.acd.poll_timeout(), None);
}

#[test]
fn answer_then_duplicate_answer_and_late_timeout() {
    let mut h = H::new(&one_queue("ring_timeout = 10", &["a", "b"]));
    h.login(0, "a");
    h.login(1, "b");
    h.call(10, 1, "q", Priority::Normal);
    h.answer(19, "a", 1).unwrap(); // just before the ring timeout
    assert!(h.answer(19, "a", 1).is_err());
    assert!(h.answer(19, "b", 1).is_err());
    h.at(30);
    assert_eq!(h.status("a"), AgentStatus::OnCall { call: CallId(1) });
    assert_eq!(h.status("b"), AgentStatus::Available);
    // Agent hangs up; both legs report it.
    h.hangup(40, 1).unwrap();
    assert!(h.hangup(40, 1).is_err());
    h.at(1000);
    assert_eq!(h.status("a"), AgentStatus::Available);
    assert_eq!(h.acd.calls_in_progress(), 0);
}

#[test]
fn pause_and_logout_during_call_apply_after_wrap_up() {
    let mut h = H::new(&one_queue("wrap_up = 10", &["a"]));
    h.login(0, "a");
    h.call(1, 1, "q", Priority::Normal);
    h.answer(2, "a", 1).unwrap();
    let now = h.at(3);
    h.acd.pause(now, "a", "formation").unwrap();
    h.hangup(10, 1).unwrap();
    h.at(20);
    assert_eq!(
        h.status("a"),
        AgentStatus::Paused {
            reason: "formation".into()
        }
    );
    let now = h.at(30);
    h.acd.unpause(now, "a").unwrap();
    h.call(31, 2, "q", Priority::Normal);
    h.answer(32, "a", 2).unwrap();
    let now = h.at(33);
    h.acd.logout(now, "a").unwrap();
    assert_eq!(h.status("a"), AgentStatus::OnCall { call: CallId(2) });
    h.hangup(40, 2).unwrap();
    h.at(50);
    assert_eq!(h.status("a"), AgentStatus::LoggedOut);
    // Logging out while ringing puts the call back, first in line.
    h.login(60, "a");
    h.call(61, 3, "q", Priority::Normal);
    let now = h.at(62);
    h.acd.logout(now, "a").unwrap();
    h.drain();
    assert_eq!(h.acd.waiting_order("q"), vec![CallId(3)]);
    assert_eq!(h.status("a"), AgentStatus::LoggedOut);
}

#[test]
fn conversation_safety_limit_frees_the_agent() {
    let cfg = format!(
        "max_call_duration = 3600\n{}",
        one_queue("wrap_up = 0", &["a"])
    );
    let mut h = H::new(&cfg);
    h.login(0, "a");
    h.call(1, 1, "q", Priority::Normal);
    h.answer(2, "a", 1).unwrap();
    h.at(3602);
    assert!(h.actions.contains(&Action::Release {
        call: CallId(1),
        agent: guichet_acd::AgentId("a".into())
    }));
    assert_eq!(h.status("a"), AgentStatus::Available);
    assert_eq!(h.outcomes(), vec![Outcome::Answered]);
}

#[test]
fn announcements_give_position_and_expected_wait() {
    let mut h = H::new(
        "[[queues]]\nname = \"q\"\nannounce_every = 60\ndefault_handle_time = 300\nwrap_up = 0\n\
         [[agents]]\nlogin = \"a\"\nqueues = [{ queue = \"q\" }]\n\
         [[agents]]\nlogin = \"b\"\nqueues = [{ queue = \"q\" }]\n",
    );
    h.login(0, "a");
    h.login(0, "b");
    h.call(1, 1, "q", Priority::Normal);
    h.call(2, 2, "q", Priority::Normal);
    h.answer(2, "a", 1).unwrap();
    h.answer(3, "b", 2).unwrap();
    h.actions.clear();
    // Both agents busy; two agents × 300 s: a release every 150 s.
    h.call(3, 3, "q", Priority::Normal);
    h.call(4, 4, "q", Priority::Normal);
    let ann: Vec<(u64, u32, Option<i64>)> = h
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Announce {
                call,
                position,
                expected_wait_secs,
            } => Some((call.0, *position, *expected_wait_secs)),
            _ => None,
        })
        .collect();
    assert_eq!(ann, vec![(3, 1, Some(150)), (4, 2, Some(300))]);
    h.actions.clear();
    // Periodic: at 63 s call 3 hears it again, and nothing before.
    h.at(62);
    assert!(h.actions.is_empty());
    h.at(63);
    assert!(h.actions.iter().any(|a| matches!(
        a,
        Action::Announce {
            call: CallId(3),
            position: 1,
            expected_wait_secs: Some(150)
        }
    )));
    // Recent handle times replace the default: calls 1 and 2 took 103 s.
    h.hangup(105, 1).unwrap();
    h.hangup(106, 2).unwrap();
    // Calls 3 and 4 now ring at a and b; a new call 5 is first in line with
    // no free agent: 1 × 103 s / 2 agents.
    h.actions.clear();
    h.call(110, 5, "q", Priority::Normal);
    let ann = h.actions.iter().find_map(|a| match a {
        Action::Announce {
            call: CallId(5),
            expected_wait_secs,
            ..
        } => Some(*expected_wait_secs),
        _ => None,
    });
    assert_eq!(ann, Some(Some(51)));
    // Nobody staffed: no estimate.
    let now = h.at(111);
    h.acd.pause(now, "a", "pause").unwrap();
    h.acd.pause(now, "b", "pause").unwrap();
    h.drain();
    h.actions.clear();
    h.call(112, 6, "q", Priority::Normal);
    assert!(h.actions.iter().any(|a| matches!(
        a,
        Action::Announce {
            call: CallId(6),
            position: 4,
            expected_wait_secs: None
        }
    )));
}

#[test]
fn snapshot_for_the_wallboard() {
    let mut h = H::new(&one_queue("wrap_up = 0", &["a", "b"]));
    h.login(0, "a");
    let now = h.at(1);
    h.acd.pause(now, "a", "déjeuner").unwrap();
    h.call(10, 1, "q", Priority::Normal);
    h.call(20, 2, "q", Priority::Vip);
    h.login(30, "b");
    h.answer(31, "b", 2).unwrap();
    h.hangup(40, 2).unwrap();
    h.call(50, 3, "q", Priority::Normal);
    h.hangup(52, 3).unwrap(); // short abandon
    let snap = h.acd.snapshot(h.t0 + Duration::seconds(100));
    let q = &snap.queues[0];
    assert_eq!(q.waiting.len(), 1);
    assert!(!q.waiting[0].vip);
    // Call 1 is ringing at b now (b freed at 40 s).
    assert_eq!(q.waiting[0].ringing.as_ref().map(|a| a.as_str()), Some("b"));
    assert_eq!(q.longest_wait_secs, 90);
    assert_eq!(
        (q.agents_logged_in, q.agents_paused, q.agents_busy),
        (2, 1, 1)
    );
    assert_eq!(
        (q.today.presented, q.today.answered, q.today.abandoned),
        (2, 1, 1)
    );
    assert_eq!(q.today.short_abandoned, 1);
    assert_eq!(q.today.service_level.to_string(), "100,0 %");
    let a = snap
        .agents
        .iter()
        .find(|a| a.agent.as_str() == "a")
        .unwrap();
    assert_eq!(a.time_in_state_secs, 99);
    assert_eq!(a.status.label_fr(), "en pause");
    // The next day the "today" figures restart from zero.
    let tomorrow = h.acd.snapshot(h.t0 + Duration::days(1));
    assert_eq!(tomorrow.queues[0].today.presented, 0);
}

#[test]
fn agent_in_two_queues_takes_the_call_ranked_first_across_them() {
    let cfg = "[[queues]]\nname = \"n1\"\nannounce_on_entry = false\n\
        [[queues]]\nname = \"n2\"\nannounce_on_entry = false\n\
        [[agents]]\nlogin = \"poly\"\nqueues = [{ queue = \"n1\" }, { queue = \"n2\" }]\n";
    let mut h = H::new(cfg);
    h.call(0, 1, "n1", Priority::Normal);
    h.call(100, 2, "n2", Priority::Normal);
    h.call(150, 3, "n2", Priority::Vip); // ranks as 150 - 300: first of all
    h.login(200, "poly");
    assert_eq!(h.rings(), vec![(3, "poly".into())]);
    h.answer(201, "poly", 3).unwrap();
    h.hangup(210, 3).unwrap();
    h.at(240); // wrap-up over
    assert_eq!(h.rings(), vec![(1, "poly".into())]);
}

#[test]
fn late_refusal_after_the_ring_timeout_changes_nothing() {
    let mut h = H::new(&one_queue(
        "ring_timeout = 10\nmax_missed_offers = 5",
        &["a", "b"],
    ));
    h.login(0, "a");
    h.login(1, "b");
    h.call(10, 1, "q", Priority::Normal);
    h.at(20); // a timed out, b rings now
    assert_eq!(h.rings(), vec![(1, "a".into()), (1, "b".into())]);
    let now = h.at(21);
    assert!(h.acd.offer_failed(now, "a", CallId(1)).is_err());
    assert_eq!(h.status("b"), AgentStatus::Ringing { call: CallId(1) });
    assert_eq!(h.status("a"), AgentStatus::Available);
    // Unknown agents and queues are named in the error.
    assert_eq!(
        h.acd.login(now, "zoe"),
        Err(AcdError::UnknownAgent("zoe".into()))
    );
    assert_eq!(
        h.acd
            .enqueue(now, CallId(9), "nope", Priority::Normal, "8585"),
        Err(AcdError::UnknownQueue("nope".into()))
    );
    assert_eq!(
        h.acd.enqueue(now, CallId(1), "q", Priority::Normal, "8585"),
        Err(AcdError::DuplicateCall(CallId(1)))
    );
}

#[test]
fn today_figures_survive_a_restart_through_seed_today() {
    let mut h = H::new(&one_queue("wrap_up = 0\nmax_length = 1", &["a"]));
    h.call(0, 1, "q", Priority::Normal);
    h.call(1, 2, "q", Priority::Normal); // refused: full
    h.login(5, "a");
    h.answer(6, "a", 1).unwrap();
    h.hangup(60, 1).unwrap();
    let records: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CallFinished { facts, .. } => Some((**facts).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 2);
    let before = h.acd.snapshot(h.now).queues[0].today;
    assert_eq!(
        (before.presented, before.answered, before.rejected),
        (1, 1, 1)
    );
    // A fresh engine (after a restart) reloads today's records.
    let cfg: AcdConfig = toml::from_str(&one_queue("", &["a"])).unwrap();
    let mut fresh = Acd::new(&cfg).unwrap();
    let yesterday = records[0].clone();
    let mut old = yesterday.clone();
    old.entered_queue = Some(h.t0 - Duration::days(1));
    fresh.seed_today(h.now, records.into_iter().chain([old]));
    assert_eq!(fresh.snapshot(h.now).queues[0].today, before);
}

#[test]
fn a_supervisor_moves_an_agent_between_queues_live() {
    let text = "[[queues]]\nname = \"q\"\nannounce_on_entry = false\n\
                [[queues]]\nname = \"r\"\nannounce_on_entry = false\n\
                [[agents]]\nlogin = \"a\"\nqueues = [{ queue = \"q\" }]\n\
                [[agents]]\nlogin = \"b\"\nqueues = [{ queue = \"q\" }]\n";
    let mut h = H::new(text);
    h.login(0, "a");
    // A call waits in r, where nobody is a member yet.
    h.call(5, 1, "r", Priority::Normal);
    assert!(h.rings().is_empty());
    // Adding a (available) to r offers the waiting call at once.
    let now = h.at(10);
    h.acd.set_membership(now, "a", "r", Some(2)).unwrap();
    h.drain();
    assert_eq!(h.rings(), vec![(1, "a".to_owned())]);
    h.answer(11, "a", 1).unwrap();
    // Taking a out of r during the call keeps the call; it ends normally.
    let now = h.at(12);
    h.acd.set_membership(now, "a", "r", None).unwrap();
    h.hangup(20, 1).unwrap();
    let later = h.at(100);
    // (The record is complete once the wrap-up ends.)
    assert_eq!(h.outcomes(), vec![Outcome::Answered]);
    let snapshot = h.acd.snapshot(later);
    let a = snapshot.agents.iter().find(|x| x.agent.0 == "a").unwrap();
    assert_eq!(a.queues, vec![("q".to_owned(), 1)]);
    // a is back, but no longer serves r: the next call there waits.
    assert_eq!(h.status("a"), AgentStatus::Available);
    h.call(101, 2, "r", Priority::Normal);
    assert!(h.rings().is_empty());
    // b logs in and joins r with a level: b takes it; levels are reported.
    h.login(102, "b");
    let now = h.at(103);
    h.acd.set_membership(now, "b", "r", Some(3)).unwrap();
    h.drain();
    assert_eq!(h.rings(), vec![(2, "b".to_owned())]);
    let later = h.at(104);
    let snapshot = h.acd.snapshot(later);
    let b = snapshot.agents.iter().find(|x| x.agent.0 == "b").unwrap();
    assert_eq!(b.queues, vec![("q".to_owned(), 1), ("r".to_owned(), 3)]);
    // Unknown names are refused.
    assert!(matches!(
        h.acd.set_membership(now, "zoe", "r", Some(1)),
        Err(AcdError::UnknownAgent(_))
    ));
    assert!(matches!(
        h.acd.set_membership(now, "a", "zz", Some(1)),
        Err(AcdError::UnknownQueue(_))
    ));
}

#[test]
fn the_wallboard_counts_a_call_answered_from_its_answer() {
    let mut h = H::new(&one_queue("wrap_up = 30", &["a"]));
    h.login(0, "a");
    h.call(10, 1, "q", Priority::Normal);
    let today = |h: &H, s: i64| h.acd.snapshot(h.t0 + Duration::seconds(s)).queues[0].today;
    assert_eq!((today(&h, 11).presented, today(&h, 11).answered), (0, 0));
    // In conversation: answered, with its wait, but no talk or handle time yet.
    h.answer(15, "a", 1).unwrap();
    let live = today(&h, 20);
    assert_eq!((live.presented, live.answered), (1, 1));
    assert_eq!(live.asa.mean(), Some(Duration::seconds(5)));
    assert_eq!(live.aht.mean(), None);
    // In wrap-up: still one answered call, still no handle time (the wrap-up is not over).
    h.hangup(75, 1).unwrap();
    let wrapping = today(&h, 80);
    assert_eq!((wrapping.presented, wrapping.answered), (1, 1));
    assert_eq!(wrapping.aht.mean(), None);
    // After the wrap-up: the final record, counted once, with talk + wrap-up.
    h.at(105);
    let done = today(&h, 106);
    assert_eq!((done.presented, done.answered), (1, 1));
    assert_eq!(done.aht.mean(), Some(Duration::seconds(90)));
}
