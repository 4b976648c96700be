//! Property tests: random interleavings of arrivals, hang-ups, answers,
//! misses, pauses, logouts and time never lose or duplicate a call, never
//! give an agent two calls, never leave anything stuck once every timer has
//! fired, and never serve a caller out of rank order (VIP first within the
//! ageing rule).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use crate::stats::Outcome;
use crate::{Acd, AcdConfig, AgentStatus, CallId, Event, Priority};

const CONFIG: &str = r#"
max_call_duration = 3600
[[queues]]
name = "q"
ring_timeout = 10
wrap_up = 5
max_missed_offers = 2
ageing = 60
max_length = 6
announce_every = 30
overflow = [{ wait_above = 300, to_queue = "r" }]
[[queues]]
name = "r"
strategy = "round_robin"
ageing = 120
max_wait = 600
overflow = [{ closed = true, to_number = "0100000000" }, { length_above = 5, callback = true }]
[[agents]]
login = "a0"
queues = [{ queue = "q" }]
[[agents]]
login = "a1"
queues = [{ queue = "q", level = 3 }]
[[agents]]
login = "a2"
queues = [{ queue = "q" }, { queue = "r" }]
[[agents]]
login = "a3"
queues = [{ queue = "r" }]
"#;

const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
const QUEUES: [&str; 2] = ["q", "r"];

#[derive(Debug, Clone)]
enum Op {
    Enqueue(usize, bool),
    Hangup(u64),
    AnswerRinging(usize),
    AnswerAny(usize, u64),
    Fail(usize),
    Pause(usize),
    Unpause(usize),
    Login(usize),
    Logout(usize),
    EndWrap(usize),
    Extend(usize),
    SetPriority(u64, bool),
    SetOpen(usize, bool),
    /// Agent, queue, new level (0 = leave the queue).
    SetMembership(usize, usize, u8),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u64..16;
    let ag = 0usize..4;
    prop_oneof![
        4 => (0usize..2, any::<bool>()).prop_map(|(q, v)| Op::Enqueue(q, v)),
        2 => id.clone().prop_map(Op::Hangup),
        3 => ag.clone().prop_map(Op::AnswerRinging),
        1 => (ag.clone(), id.clone()).prop_map(|(a, i)| Op::AnswerAny(a, i)),
        1 => ag.clone().prop_map(Op::Fail),
        1 => ag.clone().prop_map(Op::Pause),
        1 => ag.clone().prop_map(Op::Unpause),
        2 => ag.clone().prop_map(Op::Login),
        1 => ag.clone().prop_map(Op::Logout),
        1 => ag.clone().prop_map(Op::EndWrap),
        1 => ag.clone().prop_map(Op::Extend),
        1 => (id, any::<bool>()).prop_map(|(i, v)| Op::SetPriority(i, v)),
        1 => (0usize..2, any::<bool>()).prop_map(|(q, o)| Op::SetOpen(q, o)),
        1 => (ag.clone(), 0usize..2, 0u8..4).prop_map(|(a, q, l)| Op::SetMembership(a, q, l)),
        4 => (0i64..90).prop_map(Op::Advance),
    ]
}

/// What the test knows of a call from the event stream.
struct Shadow {
    queue: String,
    first_arrival: DateTime<Utc>,
    vip: bool,
    waiting: bool,
}

struct Model {
    acd: Acd,
    now: DateTime<Utc>,
    shadow: HashMap<CallId, Shadow>,
    enqueued: HashMap<CallId, u32>,
    terminal: HashMap<CallId, u32>,
    next_id: u64,
}

fn ageing(queue: &str) -> Duration {
    Duration::seconds(if queue == "q" { 60 } else { 120 })
}

fn rank(s: &Shadow) -> DateTime<Utc> {
    if s.vip {
        s.first_arrival - ageing(&s.queue)
    } else {
        s.first_arrival
    }
}

impl Model {
    fn new() -> Self {
        let cfg: AcdConfig = toml::from_str(CONFIG).unwrap();
        Self {
            acd: Acd::new(&cfg).unwrap(),
            now: Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap(),
            shadow: HashMap::new(),
            enqueued: HashMap::new(),
            terminal: HashMap::new(),
            next_id: 0,
        }
    }

    fn drain(&mut self) -> Result<(), TestCaseError> {
        while self.acd.poll_action().is_some() {}
        while let Some(e) = self.acd.poll_event() {
            match e {
                Event::CallQueued {
                    call,
                    queue,
                    priority,
                    at,
                } => {
                    let s = self.shadow.entry(call).or_insert(Shadow {
                        queue: queue.clone(),
                        first_arrival: at,
                        vip: priority == Priority::Vip,
                        waiting: true,
                    });
                    s.queue = queue;
                    s.waiting = true;
                }
                Event::PriorityChanged { call, priority, .. } => {
                    if let Some(s) = self.shadow.get_mut(&call) {
                        s.vip = priority == Priority::Vip;
                    }
                }
                Event::CallOffered { call, .. } => {
                    let me = self.shadow.get(&call).map(|s| (rank(s), s.queue.clone()));
                    prop_assert!(me.is_some(), "offer of an unknown call");
                    if let Some((r, q)) = me {
                        for (other, s) in &self.shadow {
                            if *other != call && s.waiting && s.queue == q {
                                prop_assert!(
                                    rank(s) >= r,
                                    "{call:?} served before {other:?} which ranks ahead"
                                );
                            }
                        }
                    }
                    if let Some(s) = self.shadow.get_mut(&call) {
                        s.waiting = false;
                    }
                }
                Event::OfferMissed { call, .. } | Event::OfferWithdrawn { call, .. } => {
                    if let Some(s) = self.shadow.get_mut(&call) {
                        s.waiting = true;
                    }
                }
                Event::CallFinished { call, facts } => {
                    if facts.outcome == Outcome::OverflowedToQueue {
                        if let Some(s) = self.shadow.get_mut(&call) {
                            s.waiting = false;
                        }
                    } else {
                        self.shadow.remove(&call);
                        let n = self.terminal.entry(call).or_default();
                        *n += 1;
                        let enq = self.enqueued.get(&call).copied().unwrap_or(0);
                        prop_assert!(*n <= enq, "{call:?} finished more often than queued");
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn ringing_call(&self, agent: &str) -> Option<CallId> {
        match self.acd.agent_status(agent) {
            Some(AgentStatus::Ringing { call }) => Some(*call),
            _ => None,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        match *op {
            Op::Enqueue(q, vip) => {
                // The switchboard never reuses a call id.
                let id = self.next_id;
                self.next_id += 1;
                let p = if vip { Priority::Vip } else { Priority::Normal };
                // Counted before the call, since an entry overflow finishes
                // the visit within the call.
                *self.enqueued.entry(CallId(id)).or_default() += 1;
                if self
                    .acd
                    .enqueue(now, CallId(id), QUEUES[q], p, "8585")
                    .is_err()
                {
                    *self.enqueued.entry(CallId(id)).or_default() -= 1;
                }
            }
            Op::Hangup(id) => {
                let _ = self.acd.call_ended(now, CallId(id));
            }
            Op::AnswerRinging(a) => {
                if let Some(call) = self.ringing_call(AGENTS[a]) {
                    prop_assert!(self.acd.agent_answered(now, AGENTS[a], call).is_ok());
                    prop_assert_eq!(
                        self.acd.agent_status(AGENTS[a]),
                        Some(&AgentStatus::OnCall { call })
                    );
                }
            }
            Op::AnswerAny(a, id) => {
                let expected = self.ringing_call(AGENTS[a]) == Some(CallId(id));
                let r = self.acd.agent_answered(now, AGENTS[a], CallId(id));
                prop_assert_eq!(r.is_ok(), expected);
            }
            Op::Fail(a) => {
                if let Some(call) = self.ringing_call(AGENTS[a]) {
                    prop_assert!(self.acd.offer_failed(now, AGENTS[a], call).is_ok());
                }
            }
            Op::Pause(a) => {
                let _ = self.acd.pause(now, AGENTS[a], "déjeuner");
            }
            Op::Unpause(a) => {
                let _ = self.acd.unpause(now, AGENTS[a]);
            }
            Op::Login(a) => {
                let _ = self.acd.login(now, AGENTS[a]);
            }
            Op::Logout(a) => {
                let _ = self.acd.logout(now, AGENTS[a]);
            }
            Op::EndWrap(a) => {
                let _ = self.acd.end_wrap_up(now, AGENTS[a]);
            }
            Op::Extend(a) => {
                let _ = self
                    .acd
                    .extend_wrap_up(now, AGENTS[a], Duration::seconds(20));
            }
            Op::SetPriority(id, vip) => {
                let p = if vip { Priority::Vip } else { Priority::Normal };
                let _ = self.acd.set_priority(now, CallId(id), p);
            }
            Op::SetOpen(q, open) => {
                let _ = self.acd.set_queue_open(now, QUEUES[q], open);
            }
            Op::SetMembership(a, q, level) => {
                let level = (level > 0).then_some(level);
                self.acd
                    .set_membership(now, AGENTS[a], QUEUES[q], level)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Op::Advance(s) => self.advance_to(now + Duration::seconds(s))?,
        }
        self.drain()?;
        self.check()
    }

    fn advance_to(&mut self, target: DateTime<Utc>) -> Result<(), TestCaseError> {
        while let Some(t) = self.acd.poll_timeout() {
            if t > target {
                break;
            }
            prop_assert!(t >= self.now, "timer in the past");
            self.now = t;
            self.acd.handle_timeout(t);
            self.drain()?;
            self.check()?;
        }
        self.now = target;
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        if let Err(e) = self.acd.check_invariants() {
            return Err(TestCaseError::fail(e));
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_keep_the_engine_sound(ops in prop::collection::vec(op(), 1..80)) {
        let mut m = Model::new();
        for op in &ops {
            m.apply(op)?;
        }
        // Let every timer fire, without any further input: rings time out,
        // wrap-ups end, waits overflow, conversations hit the safety limit.
        let mut fired = 0;
        while let Some(t) = m.acd.poll_timeout() {
            fired += 1;
            prop_assert!(fired < 10_000, "timers never settle");
            m.now = t;
            m.acd.handle_timeout(t);
            m.drain()?;
            m.check()?;
        }
        prop_assert_eq!(m.acd.calls_in_progress(), 0);
        // Every call queued ended exactly once.
        for (call, n) in &m.enqueued {
            prop_assert_eq!(m.terminal.get(call).copied().unwrap_or(0), *n, "{:?}", call);
        }
        for a in AGENTS {
            let s = m.acd.agent_status(a).cloned();
            prop_assert!(
                matches!(s, Some(AgentStatus::LoggedOut | AgentStatus::Available | AgentStatus::Paused { .. })),
                "agent {} stuck in {:?}", a, s
            );
        }
    }
}
