//! The sans-IO ACD engine: queues, agents, distribution, overflow,
//! announcements and the live snapshot.
//!
//! Inputs are method calls carrying `now`; outputs are queued and drained
//! with [`Acd::poll_action`] (what the switchboard must do) and
//! [`Acd::poll_event`] (every state change, for the journal, the store and
//! the wallboard). [`Acd::poll_timeout`] says when to call
//! [`Acd::handle_timeout`] next. An input that returns `Err` changed nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::{AcdConfig, Condition, ConfigError, Strategy, Target};
use crate::stats::{CallFacts, Indicators, Outcome, StatsParams};

/// The switchboard's opaque identifier of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CallId(pub u64);

/// An agent, identified by login.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AgentId(pub String);

impl AgentId {
    /// The agent's login.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Priority class of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Everyone else, served by arrival.
    Normal,
    /// VIP, or a caller inside a P0 window: served first, within the
    /// queue's ageing rule.
    Vip,
}

/// State of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AgentStatus {
    /// Not logged in.
    LoggedOut,
    /// Logged in and free.
    Available,
    /// A call is being offered: the agent's phone rings.
    Ringing {
        /// The call offered.
        call: CallId,
    },
    /// In conversation.
    OnCall {
        /// The call.
        call: CallId,
    },
    /// After-call work.
    WrapUp {
        /// The call just ended.
        call: CallId,
    },
    /// Paused, with a reason (lunch, training, back-office, absent...).
    Paused {
        /// The reason, as shown to supervisors.
        reason: String,
    },
}

impl AgentStatus {
    /// French label for the desk and the wallboard.
    pub fn label_fr(&self) -> &'static str {
        match self {
            Self::LoggedOut => "déconnecté",
            Self::Available => "disponible",
            Self::Ringing { .. } => "sonnerie",
            Self::OnCall { .. } => "en communication",
            Self::WrapUp { .. } => "post-traitement",
            Self::Paused { .. } => "en pause",
        }
    }
}

/// The pause reason given to an agent who missed too many offers.
pub const ABSENT: &str = "absent";

/// Why a call was refused at the queue's door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The queue holds `max_length` calls already.
    QueueFull,
}

/// What the switchboard must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Ring the agent (desk phone or browser) for this call until `until`.
    Ring {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// When the ACD gives up and re-offers.
        until: DateTime<Utc>,
    },
    /// Stop ringing the agent (caller gone, ring timeout, agent paused).
    CancelRing {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// Tell the caller their position and expected wait (French "say"
    /// fragments of the ivr room).
    Announce {
        /// The call.
        call: CallId,
        /// 1 = next to be served.
        position: u32,
        /// Expected wait in seconds, never negative (the ivr room's
        /// `say::queue_announcement` takes it as is); `None` when no agent
        /// is staffed.
        expected_wait_secs: Option<i64>,
    },
    /// Transfer the caller to an external number (overflow).
    TransferExternal {
        /// The call.
        call: CallId,
        /// The number.
        number: String,
    },
    /// Turn the call into a callback request with the caller's number,
    /// confirm to the caller and release the call (overflow). The request
    /// keeps the caller's place: the web desk orders callbacks by
    /// `priority` then `waiting_since`, the same rank as in the queue.
    Callback {
        /// The call.
        call: CallId,
        /// Queue whose agents will call back.
        queue: String,
        /// When the caller first entered the ACD.
        waiting_since: DateTime<Utc>,
        /// The caller's priority.
        priority: Priority,
    },
    /// Refuse the call with a "busy" message.
    Reject {
        /// The call.
        call: CallId,
        /// Why.
        reason: RejectReason,
    },
    /// Release a conversation that exceeded `max_call_duration` (a hang-up
    /// was probably lost); the agent is already freed.
    Release {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
}

/// A state change, for the journal, the store and the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// A call entered a queue.
    CallQueued {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
        /// Its priority.
        priority: Priority,
        /// When.
        at: DateTime<Utc>,
    },
    /// A waiting call's priority changed.
    PriorityChanged {
        /// The call.
        call: CallId,
        /// The new priority.
        priority: Priority,
        /// When.
        at: DateTime<Utc>,
    },
    /// A call was offered to an agent.
    CallOffered {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// An agent did not answer an offer (ring timeout or refusal).
    OfferMissed {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// Consecutive misses of this agent.
        consecutive: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// An offer was taken back without counting a miss (the agent paused
    /// or logged out while ringing); the call is back in its place.
    OfferWithdrawn {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// An agent answered.
    CallAnswered {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// A queue visit is over: the record for the store (answered calls are
    /// reported when the agent's wrap-up ends, so the record is complete).
    CallFinished {
        /// The call.
        call: CallId,
        /// The facts.
        facts: Box<CallFacts>,
    },
    /// An agent changed state.
    AgentChanged {
        /// The agent.
        agent: AgentId,
        /// The new state.
        status: AgentStatus,
        /// When.
        at: DateTime<Utc>,
    },
    /// A queue opened or closed.
    QueueOpenChanged {
        /// The queue.
        queue: String,
        /// Open now?
        open: bool,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why an input was not applied (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcdError {
    /// No such queue.
    #[error("unknown queue \"{0}\"")]
    UnknownQueue(String),
    /// No such agent.
    #[error("unknown agent \"{0}\"")]
    UnknownAgent(String),
    /// The call is not (or no longer) in the ACD.
    #[error("unknown call {0:?}")]
    UnknownCall(CallId),
    /// The call is already in the ACD.
    #[error("call {0:?} is already queued")]
    DuplicateCall(CallId),
    /// The event does not apply to the agent's current state (late or
    /// duplicated event).
    #[error("agent \"{agent}\" is {state}: {what} does not apply")]
    NotApplicable {
        /// The agent.
        agent: String,
        /// Its state, in French.
        state: &'static str,
        /// The input refused.
        what: &'static str,
    },
}

/// Live view of one waiting call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingCallView {
    /// The call.
    pub call: CallId,
    /// VIP/P0 mark.
    pub vip: bool,
    /// Seconds waited in this queue.
    pub waited_secs: i64,
    /// The agent whose phone is ringing for it, if any.
    pub ringing: Option<AgentId>,
}

/// Live view of one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSnapshot {
    /// Queue name.
    pub name: String,
    /// Open?
    pub open: bool,
    /// Calls waiting (ringing ones included), in service order.
    pub waiting: Vec<WaitingCallView>,
    /// Longest current wait, seconds.
    pub longest_wait_secs: i64,
    /// Member agents logged in.
    pub agents_logged_in: u32,
    /// Member agents available.
    pub agents_available: u32,
    /// Member agents ringing, on call or in wrap-up.
    pub agents_busy: u32,
    /// Member agents paused.
    pub agents_paused: u32,
    /// Indicators since local midnight (answered, abandoned, service level...).
    pub today: Indicators,
}

/// Live view of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSnapshot {
    /// The agent.
    pub agent: AgentId,
    /// Current state.
    pub status: AgentStatus,
    /// Seconds in the current state.
    pub time_in_state_secs: i64,
    /// Calls answered since login.
    pub calls_answered: u32,
    /// Queues and levels.
    pub queues: Vec<(String, u8)>,
    /// In wrap-up: seconds until it ends by itself (what the agent's status bar counts
    /// down); `None` in every other state.
    pub wrap_up_left_secs: Option<i64>,
}

/// The wallboard's live picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Per queue.
    pub queues: Vec<QueueSnapshot>,
    /// Per agent.
    pub agents: Vec<AgentSnapshot>,
}

/// How many recent handle times feed the expected-wait estimate.
const RECENT_HANDLE_TIMES: usize = 20;
/// Agents' timer key in the timer table; calls use their id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Agent(usize),
    CallWait(CallId),
    Announce(CallId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Logout,
}

struct Queue {
    name: String,
    strategy: Strategy,
    ring_timeout: Duration,
    max_missed: u32,
    wrap_up: Duration,
    ageing_ms: i64,
    max_length: Option<usize>,
    max_wait: Option<Duration>,
    announce_on_entry: bool,
    announce_every: Option<Duration>,
    default_handle_ms: i64,
    rules: Vec<(Condition, Target)>,
    open: bool,
    /// Waiting (not ringing) calls in service order: (rank key, seq).
    waiting: BTreeMap<(i64, u64), CallId>,
    /// Available member agents in strategy order: (k1, k2, agent index).
    available: BTreeSet<(i64, i64, usize)>,
    /// Members: (agent index, level), configuration order.
    members: Vec<(usize, u8)>,
    logged_in: u32,
    staffed: u32,
    rr_last: Option<i64>,
    recent_handle_ms: VecDeque<i64>,
}

impl Queue {
    fn expected_handle_ms(&self) -> i64 {
        if self.recent_handle_ms.is_empty() {
            self.default_handle_ms
        } else {
            self.recent_handle_ms.iter().sum::<i64>() / self.recent_handle_ms.len() as i64
        }
    }
}

struct Agent {
    id: AgentId,
    /// (queue index, level, position among the queue's members).
    memberships: Vec<(usize, u8, usize)>,
    status: AgentStatus,
    since: DateTime<Utc>,
    idle_since_ms: i64,
    calls: u32,
    missed: u32,
    deadline: Option<DateTime<Utc>>,
    pending: Pending,
    pending_pause: Option<String>,
    /// Facts of the call in wrap-up, completed when wrap-up ends.
    wrap_facts: Option<(usize, CallId, CallFacts)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Waiting,
    Ringing(usize),
    Connected(usize),
}

struct Call {
    queue: usize,
    priority: Priority,
    vip_seen: bool,
    line: String,
    first_arrival_ms: i64,
    entered: DateTime<Utc>,
    seq: u64,
    rank: i64,
    state: CallState,
    declined: Vec<usize>,
    offered: Option<DateTime<Utc>>,
    answered: Option<DateTime<Utc>>,
    last_agent: Option<usize>,
    wait_deadline: Option<DateTime<Utc>>,
    announce_at: Option<DateTime<Utc>>,
    visited: Vec<usize>,
}

/// The ACD engine.
pub struct Acd {
    queues: Vec<Queue>,
    queue_index: HashMap<String, usize>,
    agents: Vec<Agent>,
    agent_index: HashMap<String, usize>,
    calls: HashMap<CallId, Call>,
    timers: BTreeSet<(DateTime<Utc>, Timer)>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    seq: u64,
    zone: Tz,
    stats: StatsParams,
    max_call: Duration,
    today: Vec<CallFacts>,
    today_date: Option<NaiveDate>,
    record_events: bool,
}

fn secs(s: u32) -> Duration {
    Duration::seconds(i64::from(s))
}

impl Acd {
    /// Builds the engine from a validated configuration; every agent starts
    /// logged out and every queue open.
    pub fn new(config: &AcdConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let queue_index: HashMap<String, usize> = config
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| (q.name.clone(), i))
            .collect();
        let mut queues: Vec<Queue> = config
            .queues
            .iter()
            .map(|q| Queue {
                name: q.name.clone(),
                strategy: q.strategy,
                ring_timeout: secs(q.ring_timeout),
                max_missed: q.max_missed_offers,
                wrap_up: secs(q.wrap_up),
                ageing_ms: i64::from(q.ageing) * 1000,
                max_length: q.max_length.map(|n| n as usize),
                max_wait: q.max_wait.map(secs),
                announce_on_entry: q.announce_on_entry,
                announce_every: q.announce_every.map(secs),
                default_handle_ms: i64::from(q.default_handle_time) * 1000,
                rules: q.overflow.iter().filter_map(|r| r.parts()).collect(),
                open: true,
                waiting: BTreeMap::new(),
                available: BTreeSet::new(),
                members: Vec::new(),
                logged_in: 0,
                staffed: 0,
                rr_last: None,
                recent_handle_ms: VecDeque::new(),
            })
            .collect();
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let mut agents = Vec::new();
        let mut agent_index = HashMap::new();
        for (a, cfg) in config.agents.iter().enumerate() {
            let mut memberships = Vec::new();
            for m in &cfg.queues {
                if let Some(&q) = queue_index.get(&m.queue) {
                    let pos = queues[q].members.len();
                    queues[q].members.push((a, m.level));
                    memberships.push((q, m.level, pos));
                }
            }
            agent_index.insert(cfg.login.clone(), a);
            agents.push(Agent {
                id: AgentId(cfg.login.clone()),
                memberships,
                status: AgentStatus::LoggedOut,
                since: epoch,
                idle_since_ms: 0,
                calls: 0,
                missed: 0,
                deadline: None,
                pending: Pending::None,
                pending_pause: None,
                wrap_facts: None,
            });
        }
        Ok(Self {
            queues,
            queue_index,
            agents,
            agent_index,
            calls: HashMap::new(),
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            seq: 0,
            zone: config.time_zone,
            stats: config.stats,
            max_call: secs(config.max_call_duration),
            today: Vec::new(),
            today_date: None,
            record_events: true,
        })
    }

    /// Stops queuing [`Event`]s other than [`Event::CallFinished`] (the
    /// simulator and benches need only the records). On by default.
    pub fn set_event_stream(&mut self, all_events: bool) {
        self.record_events = all_events;
    }

    // ----- outputs -------------------------------------------------------

    /// The next action for the switchboard.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next state change.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Acd::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Fires every timer due at `now`: ring timeouts, wrap-up ends, wait
    /// overflows, announcements, the conversation safety limit.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        while let Some(&(when, timer)) = self.timers.first() {
            if when > now {
                break;
            }
            self.timers.remove(&(when, timer));
            match timer {
                Timer::Agent(a) => {
                    self.agents[a].deadline = None;
                    self.agent_deadline(now, a);
                }
                Timer::CallWait(c) => {
                    if let Some(call) = self.calls.get_mut(&c) {
                        call.wait_deadline = None;
                        self.check_wait(now, c);
                    }
                }
                Timer::Announce(c) => {
                    if let Some(call) = self.calls.get_mut(&c) {
                        call.announce_at = None;
                        self.announce(now, c, true);
                    }
                }
            }
        }
        self.dispatch(now);
    }

    // ----- call inputs ---------------------------------------------------

    /// A call routed by the IVR enters `queue` with a priority. `line` is the
    /// called number, kept for the statistics.
    pub fn enqueue(
        &mut self,
        now: DateTime<Utc>,
        call: CallId,
        queue: &str,
        priority: Priority,
        line: &str,
    ) -> Result<(), AcdError> {
        let q = *self
            .queue_index
            .get(queue)
            .ok_or_else(|| AcdError::UnknownQueue(queue.to_owned()))?;
        if self.calls.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        let c = Call {
            queue: q,
            priority,
            vip_seen: priority == Priority::Vip,
            line: line.to_owned(),
            first_arrival_ms: now.timestamp_millis(),
            entered: now,
            seq: 0,
            rank: 0,
            state: CallState::Waiting,
            declined: Vec::new(),
            offered: None,
            answered: None,
            last_agent: None,
            wait_deadline: None,
            announce_at: None,
            visited: vec![q],
        };
        self.admit(now, call, c);
        self.dispatch(now);
        Ok(())
    }

    /// Raises or lowers the priority of a call still in the ACD; a waiting
    /// call moves to its new place (keeping its arrival time).
    pub fn set_priority(
        &mut self,
        now: DateTime<Utc>,
        call: CallId,
        priority: Priority,
    ) -> Result<(), AcdError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        if c.priority == priority {
            return Ok(());
        }
        let waiting = c.state == CallState::Waiting;
        if waiting {
            let q = c.queue;
            let key = (c.rank, c.seq);
            self.queues[q].waiting.remove(&key);
        }
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        c.priority = priority;
        c.vip_seen |= priority == Priority::Vip;
        if waiting {
            self.insert_waiting(call);
        }
        self.emit(Event::PriorityChanged {
            call,
            priority,
            at: now,
        });
        self.dispatch(now);
        Ok(())
    }

    /// The call is gone (caller or agent hung up, at any stage). A waiting
    /// call is abandoned; a ringing one is abandoned and the agent's phone
    /// stops; a conversation ends and the agent enters wrap-up.
    pub fn call_ended(&mut self, now: DateTime<Utc>, call: CallId) -> Result<(), AcdError> {
        let state = self
            .calls
            .get(&call)
            .ok_or(AcdError::UnknownCall(call))?
            .state;
        match state {
            CallState::Waiting => {
                self.leave(now, call, Outcome::AbandonedInQueue);
            }
            CallState::Ringing(a) => {
                self.push_action(Action::CancelRing {
                    call,
                    agent: self.agents[a].id.clone(),
                });
                self.leave(now, call, Outcome::AbandonedWhileRinging);
                self.agent_free(now, a);
            }
            CallState::Connected(a) => self.end_conversation(now, call, a),
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent answered the call offered to them.
    pub fn agent_answered(
        &mut self,
        now: DateTime<Utc>,
        agent: &str,
        call: CallId,
    ) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if self.agents[a].status != (AgentStatus::Ringing { call }) {
            return Err(self.not_applicable(a, "answer"));
        }
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        c.state = CallState::Connected(a);
        c.answered = Some(now);
        let (wait, ann) = (c.wait_deadline.take(), c.announce_at.take());
        if let Some(t) = wait {
            self.timers.remove(&(t, Timer::CallWait(call)));
        }
        if let Some(t) = ann {
            self.timers.remove(&(t, Timer::Announce(call)));
        }
        let ag = &mut self.agents[a];
        ag.missed = 0;
        ag.calls += 1;
        let id = ag.id.clone();
        let until = now + self.max_call;
        self.set_status(now, a, AgentStatus::OnCall { call }, Some(until));
        self.emit(Event::CallAnswered {
            call,
            agent: id,
            at: now,
        });
        Ok(())
    }

    /// The offer failed: the agent refused, was busy or unreachable. Counts
    /// as a missed offer; the call goes back to its place.
    pub fn offer_failed(
        &mut self,
        now: DateTime<Utc>,
        agent: &str,
        call: CallId,
    ) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if self.agents[a].status != (AgentStatus::Ringing { call }) {
            return Err(self.not_applicable(a, "offer failure"));
        }
        self.missed(now, a, call);
        self.dispatch(now);
        Ok(())
    }

    /// Opens or closes a queue (the switchboard follows the line's opening
    /// hours); closing applies the `closed` overflow rules to waiting calls.
    pub fn set_queue_open(
        &mut self,
        now: DateTime<Utc>,
        queue: &str,
        open: bool,
    ) -> Result<(), AcdError> {
        let q = *self
            .queue_index
            .get(queue)
            .ok_or_else(|| AcdError::UnknownQueue(queue.to_owned()))?;
        if self.queues[q].open == open {
            return Ok(());
        }
        self.queues[q].open = open;
        self.emit(Event::QueueOpenChanged {
            queue: queue.to_owned(),
            open,
            at: now,
        });
        if !open {
            self.sweep(now, q, Condition::Closed);
        }
        self.dispatch(now);
        Ok(())
    }

    // ----- agent inputs --------------------------------------------------

    /// The agent logs in (desk phone or browser) and becomes available.
    pub fn login(&mut self, now: DateTime<Utc>, agent: &str) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if self.agents[a].status != AgentStatus::LoggedOut {
            return Err(self.not_applicable(a, "login"));
        }
        let ag = &mut self.agents[a];
        ag.calls = 0;
        ag.missed = 0;
        ag.pending = Pending::None;
        ag.pending_pause = None;
        ag.idle_since_ms = now.timestamp_millis();
        self.set_status(now, a, AgentStatus::Available, None);
        self.dispatch(now);
        Ok(())
    }

    /// The agent logs out. A ringing offer goes back to the queue; during a
    /// call or wrap-up the logout takes effect when the wrap-up ends.
    pub fn logout(&mut self, now: DateTime<Utc>, agent: &str) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        match self.agents[a].status.clone() {
            AgentStatus::LoggedOut => return Err(self.not_applicable(a, "logout")),
            AgentStatus::Ringing { call } => {
                self.withdraw_offer(now, a, call);
                self.set_status(now, a, AgentStatus::LoggedOut, None);
            }
            AgentStatus::OnCall { .. } | AgentStatus::WrapUp { .. } => {
                self.agents[a].pending = Pending::Logout;
            }
            AgentStatus::Available | AgentStatus::Paused { .. } => {
                self.set_status(now, a, AgentStatus::LoggedOut, None);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent pauses with a reason. A ringing offer goes back to the
    /// queue; during a call or wrap-up the pause starts when wrap-up ends.
    pub fn pause(&mut self, now: DateTime<Utc>, agent: &str, reason: &str) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        let reason = reason.to_owned();
        match self.agents[a].status.clone() {
            AgentStatus::LoggedOut => return Err(self.not_applicable(a, "pause")),
            AgentStatus::Ringing { call } => {
                self.withdraw_offer(now, a, call);
                self.set_status(now, a, AgentStatus::Paused { reason }, None);
            }
            AgentStatus::OnCall { .. } | AgentStatus::WrapUp { .. } => {
                self.agents[a].pending_pause = Some(reason);
            }
            AgentStatus::Available | AgentStatus::Paused { .. } => {
                self.set_status(now, a, AgentStatus::Paused { reason }, None);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent comes back from a pause (or cancels a pause requested
    /// during a call).
    pub fn unpause(&mut self, now: DateTime<Utc>, agent: &str) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        match self.agents[a].status {
            AgentStatus::Paused { .. } => {
                let ag = &mut self.agents[a];
                ag.missed = 0;
                ag.idle_since_ms = now.timestamp_millis();
                self.set_status(now, a, AgentStatus::Available, None);
            }
            AgentStatus::OnCall { .. } | AgentStatus::WrapUp { .. }
                if self.agents[a].pending_pause.is_some() =>
            {
                self.agents[a].pending_pause = None;
            }
            _ => return Err(self.not_applicable(a, "unpause")),
        }
        self.dispatch(now);
        Ok(())
    }

    /// A supervisor changes an agent's membership: adds them to `queue` at
    /// `level`, changes their level there, or with `None` takes them out of
    /// it. It applies at once, whatever the agent is doing: joining makes an
    /// available agent eligible for the queue's waiting calls now; leaving
    /// keeps the call already offered or in progress, which ends normally.
    pub fn set_membership(
        &mut self,
        now: DateTime<Utc>,
        agent: &str,
        queue: &str,
        level: Option<u8>,
    ) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        let q = *self
            .queue_index
            .get(queue)
            .ok_or_else(|| AcdError::UnknownQueue(queue.to_owned()))?;
        let status = self.agents[a].status.clone();
        let logged_in = u32::from(status != AgentStatus::LoggedOut);
        let staffed = u32::from(!matches!(
            status,
            AgentStatus::LoggedOut | AgentStatus::Paused { .. }
        ));
        // Take every member out of the queue's available set: positions (the
        // round-robin key) shift when a member leaves, so the keys are rebuilt.
        let members: Vec<usize> = self.queues[q].members.iter().map(|m| m.0).collect();
        for &m in &members {
            let key = self.agent_key_in(q, m);
            self.queues[q].available.remove(&key);
        }
        let was_member = members.contains(&a);
        if was_member {
            let queue = &mut self.queues[q];
            queue.logged_in = queue.logged_in.saturating_sub(logged_in);
            queue.staffed = queue.staffed.saturating_sub(staffed);
        }
        match level {
            Some(level) if was_member => {
                for m in &mut self.queues[q].members {
                    if m.0 == a {
                        m.1 = level;
                    }
                }
            }
            Some(level) => self.queues[q].members.push((a, level)),
            None => self.queues[q].members.retain(|m| m.0 != a),
        }
        // Memberships of every member of q, with positions re-numbered.
        let positions: Vec<(usize, u8)> = self.queues[q].members.clone();
        self.agents[a].memberships.retain(|m| m.0 != q);
        for (pos, &(m, lvl)) in positions.iter().enumerate() {
            let ag = &mut self.agents[m];
            match ag.memberships.iter_mut().find(|x| x.0 == q) {
                Some(entry) => *entry = (q, lvl, pos),
                None => ag.memberships.push((q, lvl, pos)),
            }
        }
        if level.is_some() {
            let queue = &mut self.queues[q];
            queue.logged_in += logged_in;
            queue.staffed += staffed;
        }
        for &(m, _) in &positions {
            if self.agents[m].status == AgentStatus::Available {
                let key = self.agent_key_in(q, m);
                self.queues[q].available.insert(key);
            }
        }
        if level.is_none() && was_member && self.queues[q].logged_in == 0 {
            self.sweep(now, q, Condition::NoAgentLoggedIn);
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent ends wrap-up early.
    pub fn end_wrap_up(&mut self, now: DateTime<Utc>, agent: &str) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if !matches!(self.agents[a].status, AgentStatus::WrapUp { .. }) {
            return Err(self.not_applicable(a, "end of wrap-up"));
        }
        self.finish_wrap_up(now, a);
        self.dispatch(now);
        Ok(())
    }

    /// The agent extends the current wrap-up by `extra`.
    pub fn extend_wrap_up(
        &mut self,
        now: DateTime<Utc>,
        agent: &str,
        extra: Duration,
    ) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        let status = self.agents[a].status.clone();
        if !matches!(status, AgentStatus::WrapUp { .. }) || extra <= Duration::zero() {
            return Err(self.not_applicable(a, "wrap-up extension"));
        }
        let until = self.agents[a].deadline.unwrap_or(now) + extra;
        self.set_deadline(a, Some(until));
        Ok(())
    }

    // ----- queries -------------------------------------------------------

    /// An agent's current state.
    pub fn agent_status(&self, agent: &str) -> Option<&AgentStatus> {
        self.agent_index.get(agent).map(|&a| &self.agents[a].status)
    }

    /// Calls in the ACD (waiting, ringing or in conversation).
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len()
    }

    /// Calls waiting in a queue (ringing ones excluded).
    pub fn waiting_len(&self, queue: &str) -> Option<usize> {
        self.queue_index
            .get(queue)
            .map(|&q| self.queues[q].waiting.len())
    }

    /// The calls waiting in a queue, in service order (ringing excluded).
    pub fn waiting_order(&self, queue: &str) -> Vec<CallId> {
        self.queue_index
            .get(queue)
            .map(|&q| self.queues[q].waiting.values().copied().collect())
            .unwrap_or_default()
    }

    /// Today's records so far (since local midnight), e.g. after a restart
    /// the binary reloads them from the store with [`Acd::seed_today`].
    pub fn seed_today(&mut self, now: DateTime<Utc>, facts: impl IntoIterator<Item = CallFacts>) {
        let today = self.local_date(now);
        for f in facts {
            if f.reference_instant().map(|i| self.local_date(i)) == Some(today) {
                self.today_date = Some(today);
                self.today.push(f);
            }
        }
    }

    /// The wallboard's live picture.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        let today_facts: &[CallFacts] = if self.today_date == Some(self.local_date(now)) {
            &self.today
        } else {
            &[]
        };
        // An answered call counts from its answer, not from the end of its wrap-up: the
        // conversations in progress and the wrap-ups not finished are added, without their
        // end, so talk and handle times wait for the final record.
        let today = self.local_date(now);
        let in_progress: Vec<CallFacts> = self
            .calls
            .values()
            .filter(|c| matches!(c.state, CallState::Connected(_)))
            .map(|c| self.facts(c, Outcome::Answered, now))
            .chain(
                self.agents
                    .iter()
                    .filter_map(|a| a.wrap_facts.as_ref().map(|(_, _, f)| f.clone())),
            )
            .filter(|f| f.reference_instant().map(|i| self.local_date(i)) == Some(today))
            .map(|mut f| {
                f.ended = None;
                f
            })
            .collect();
        let by_queue =
            crate::stats::by_queue(today_facts.iter().chain(in_progress.iter()), &self.stats);
        let mut per_queue: Vec<Vec<(i64, u64, WaitingCallView)>> =
            vec![Vec::new(); self.queues.len()];
        for (&id, c) in &self.calls {
            let ringing = match c.state {
                CallState::Waiting => None,
                CallState::Ringing(a) => Some(self.agents[a].id.clone()),
                CallState::Connected(_) => continue,
            };
            per_queue[c.queue].push((
                c.rank,
                c.seq,
                WaitingCallView {
                    call: id,
                    vip: c.priority == Priority::Vip,
                    waited_secs: (now - c.entered).num_seconds().max(0),
                    ringing,
                },
            ));
        }
        let queues = self
            .queues
            .iter()
            .zip(per_queue)
            .map(|(q, mut w)| {
                w.sort_by_key(|(r, s, _)| (*r, *s));
                let waiting: Vec<WaitingCallView> = w.into_iter().map(|(_, _, v)| v).collect();
                let count = |f: fn(&AgentStatus) -> bool| {
                    q.members
                        .iter()
                        .filter(|(a, _)| f(&self.agents[*a].status))
                        .count() as u32
                };
                QueueSnapshot {
                    name: q.name.clone(),
                    open: q.open,
                    longest_wait_secs: waiting.iter().map(|v| v.waited_secs).max().unwrap_or(0),
                    waiting,
                    agents_logged_in: q.logged_in,
                    agents_available: count(|s| *s == AgentStatus::Available),
                    agents_busy: count(|s| {
                        matches!(
                            s,
                            AgentStatus::Ringing { .. }
                                | AgentStatus::OnCall { .. }
                                | AgentStatus::WrapUp { .. }
                        )
                    }),
                    agents_paused: count(|s| matches!(s, AgentStatus::Paused { .. })),
                    today: by_queue.get(&q.name).copied().unwrap_or_default(),
                }
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .map(|a| AgentSnapshot {
                agent: a.id.clone(),
                status: a.status.clone(),
                time_in_state_secs: (now - a.since).num_seconds().max(0),
                calls_answered: a.calls,
                queues: a
                    .memberships
                    .iter()
                    .map(|(q, l, _)| (self.queues[*q].name.clone(), *l))
                    .collect(),
                wrap_up_left_secs: match (&a.status, a.deadline) {
                    (AgentStatus::WrapUp { .. }, Some(end)) => {
                        Some((end - now).num_seconds().max(0))
                    }
                    _ => None,
                },
            })
            .collect();
        Snapshot {
            at: now,
            queues,
            agents,
        }
    }

    // ----- internals -----------------------------------------------------

    fn agent(&self, login: &str) -> Result<usize, AcdError> {
        self.agent_index
            .get(login)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(login.to_owned()))
    }

    fn not_applicable(&self, a: usize, what: &'static str) -> AcdError {
        AcdError::NotApplicable {
            agent: self.agents[a].id.0.clone(),
            state: self.agents[a].status.label_fr(),
            what,
        }
    }

    fn emit(&mut self, e: Event) {
        if self.record_events || matches!(e, Event::CallFinished { .. }) {
            self.events.push_back(e);
        }
    }

    fn push_action(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        self.zone.from_utc_datetime(&t.naive_utc()).date_naive()
    }

    fn agent_key_in(&self, q: usize, a: usize) -> (i64, i64, usize) {
        let ag = &self.agents[a];
        let queue = &self.queues[q];
        let (level, pos) = ag
            .memberships
            .iter()
            .find(|(mq, _, _)| *mq == q)
            .map_or((0, 0), |(_, l, p)| (i64::from(*l), *p as i64));
        match queue.strategy {
            Strategy::LongestIdle => (ag.idle_since_ms, 0, a),
            Strategy::RoundRobin => (pos, 0, a),
            Strategy::FewestCalls => (i64::from(ag.calls), ag.idle_since_ms, a),
            Strategy::SkillsFirst => (-level, ag.idle_since_ms, a),
        }
    }

    /// The one place an agent's state changes: keeps the available sets,
    /// the per-queue counters and the agent's timer consistent.
    fn set_status(
        &mut self,
        now: DateTime<Utc>,
        a: usize,
        status: AgentStatus,
        deadline: Option<DateTime<Utc>>,
    ) {
        let old = std::mem::replace(&mut self.agents[a].status, status.clone());
        let counted = |s: &AgentStatus| {
            (
                i64::from(*s != AgentStatus::LoggedOut),
                i64::from(!matches!(
                    s,
                    AgentStatus::LoggedOut | AgentStatus::Paused { .. }
                )),
            )
        };
        let (old_in, old_staffed) = counted(&old);
        let (new_in, new_staffed) = counted(&status);
        let memberships: Vec<usize> = self.agents[a].memberships.iter().map(|m| m.0).collect();
        for &q in &memberships {
            if old == AgentStatus::Available {
                let key = self.agent_key_in(q, a);
                self.queues[q].available.remove(&key);
            }
            let queue = &mut self.queues[q];
            queue.logged_in = (i64::from(queue.logged_in) + new_in - old_in).max(0) as u32;
            queue.staffed = (i64::from(queue.staffed) + new_staffed - old_staffed).max(0) as u32;
        }
        if status == AgentStatus::Available {
            for &q in &memberships {
                let key = self.agent_key_in(q, a);
                self.queues[q].available.insert(key);
            }
        }
        self.agents[a].since = now;
        self.set_deadline(a, deadline);
        if self.record_events {
            let id = self.agents[a].id.clone();
            self.events.push_back(Event::AgentChanged {
                agent: id,
                status,
                at: now,
            });
        }
        if new_in < old_in {
            for &q in &memberships {
                if self.queues[q].logged_in == 0 {
                    self.sweep(now, q, Condition::NoAgentLoggedIn);
                }
            }
        }
    }

    fn set_deadline(&mut self, a: usize, deadline: Option<DateTime<Utc>>) {
        if let Some(old) = self.agents[a].deadline.take() {
            self.timers.remove(&(old, Timer::Agent(a)));
        }
        if let Some(d) = deadline {
            self.timers.insert((d, Timer::Agent(a)));
        }
        self.agents[a].deadline = deadline;
    }

    /// An agent's timer fired.
    fn agent_deadline(&mut self, now: DateTime<Utc>, a: usize) {
        match self.agents[a].status.clone() {
            AgentStatus::Ringing { call } => {
                self.push_action(Action::CancelRing {
                    call,
                    agent: self.agents[a].id.clone(),
                });
                self.missed(now, a, call);
            }
            AgentStatus::WrapUp { .. } => self.finish_wrap_up(now, a),
            AgentStatus::OnCall { call } => {
                tracing::warn!(agent = %self.agents[a].id.0, call = call.0, "conversation exceeded the safety limit; releasing it");
                self.push_action(Action::Release {
                    call,
                    agent: self.agents[a].id.clone(),
                });
                self.end_conversation(now, call, a);
            }
            AgentStatus::LoggedOut | AgentStatus::Available | AgentStatus::Paused { .. } => {}
        }
    }

    /// Rank key: arrival, moved earlier by the ageing allowance for VIPs.
    fn insert_waiting(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let q = &mut self.queues[c.queue];
        c.rank = c.first_arrival_ms
            - if c.priority == Priority::Vip {
                q.ageing_ms
            } else {
                0
            };
        self.seq += 1;
        c.seq = self.seq;
        c.state = CallState::Waiting;
        q.waiting.insert((c.rank, c.seq), call);
    }

    /// Puts a new queue visit in place: entry overflow rules, max length,
    /// then the waiting list, timers and the entry announcement.
    fn admit(&mut self, now: DateTime<Utc>, call: CallId, c: Call) {
        let q = c.queue;
        let queue_name = self.queues[q].name.clone();
        let priority = c.priority;
        self.calls.insert(call, c);
        self.emit(Event::CallQueued {
            call,
            queue: queue_name,
            priority,
            at: now,
        });
        let queue = &self.queues[q];
        let len = queue.waiting.len();
        let rule = queue.rules.iter().find_map(|(cond, target)| {
            let hit = match *cond {
                Condition::LengthAbove(n) => len >= n as usize,
                Condition::NoAgentLoggedIn => queue.logged_in == 0,
                Condition::Closed => !queue.open,
                Condition::WaitAbove(_) => false,
            };
            (hit && self.target_usable(call, target)).then(|| target.clone())
        });
        if let Some(target) = rule {
            self.overflow(now, call, target);
            return;
        }
        if queue.max_length.is_some_and(|m| len >= m) {
            self.push_action(Action::Reject {
                call,
                reason: RejectReason::QueueFull,
            });
            self.leave(now, call, Outcome::Rejected);
            return;
        }
        self.insert_waiting(call);
        self.schedule_wait(now, call);
        if self.queues[q].announce_on_entry {
            self.announce(now, call, false);
        }
        if let Some(every) = self.queues[q].announce_every {
            self.set_call_timer(call, Some(now + every), true);
        }
    }

    fn target_usable(&self, call: CallId, target: &Target) -> bool {
        match target {
            Target::Queue(name) => match (self.queue_index.get(name), self.calls.get(&call)) {
                (Some(q), Some(c)) => !c.visited.contains(q),
                _ => false,
            },
            Target::Number(_) | Target::Callback => true,
        }
    }

    fn set_call_timer(&mut self, call: CallId, at: Option<DateTime<Utc>>, announce: bool) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (slot, timer) = if announce {
            (&mut c.announce_at, Timer::Announce(call))
        } else {
            (&mut c.wait_deadline, Timer::CallWait(call))
        };
        if let Some(old) = slot.take() {
            self.timers.remove(&(old, timer));
        }
        if let Some(t) = at {
            *slot = Some(t);
            self.timers.insert((t, timer));
        }
    }

    /// Arms the call's next wait check: the smallest `wait_above` threshold
    /// or max wait still ahead.
    fn schedule_wait(&mut self, now: DateTime<Utc>, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let q = &self.queues[c.queue];
        let waited = now - c.entered;
        let next = q
            .rules
            .iter()
            .filter_map(|(cond, _)| match cond {
                Condition::WaitAbove(s) => Some(secs(*s)),
                _ => None,
            })
            .chain(q.max_wait)
            .filter(|d| *d > waited)
            .min();
        let at = next.map(|d| c.entered + d);
        self.set_call_timer(call, at, false);
    }

    /// A waiting call reached a wait threshold (or came back from ringing).
    fn check_wait(&mut self, now: DateTime<Utc>, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.state != CallState::Waiting {
            return;
        }
        let q = &self.queues[c.queue];
        let waited = now - c.entered;
        let target = q
            .rules
            .iter()
            .find(|(cond, target)| {
                matches!(cond, Condition::WaitAbove(s) if waited >= secs(*s))
                    && self.target_usable(call, target)
            })
            .map(|(_, t)| t.clone())
            .or_else(|| {
                q.max_wait
                    .is_some_and(|m| waited >= m)
                    .then_some(Target::Callback)
            });
        match target {
            Some(t) => self.overflow(now, call, t),
            None => self.schedule_wait(now, call),
        }
    }

    /// Applies a queue-wide condition (closed, no agent) to its waiting calls.
    fn sweep(&mut self, now: DateTime<Utc>, q: usize, condition: Condition) {
        let targets: Vec<Target> = self.queues[q]
            .rules
            .iter()
            .filter(|(c, _)| *c == condition)
            .map(|(_, t)| t.clone())
            .collect();
        if targets.is_empty() {
            return;
        }
        let waiting: Vec<CallId> = self.queues[q].waiting.values().copied().collect();
        for call in waiting {
            if let Some(t) = targets.iter().find(|t| self.target_usable(call, t)) {
                self.overflow(now, call, t.clone());
            }
        }
    }

    /// Moves a waiting call out by an overflow rule.
    fn overflow(&mut self, now: DateTime<Utc>, call: CallId, target: Target) {
        let outcome = match &target {
            Target::Queue(_) => Outcome::OverflowedToQueue,
            Target::Number(_) => Outcome::OverflowedExternal,
            Target::Callback => Outcome::OverflowedCallback,
        };
        let from = self.calls.get(&call).map(|c| c.queue);
        let Some(mut c) = self.leave(now, call, outcome) else {
            return;
        };
        match target {
            Target::Queue(name) => {
                let Some(&q) = self.queue_index.get(&name) else {
                    return;
                };
                c.queue = q;
                c.visited.push(q);
                c.entered = now;
                c.state = CallState::Waiting;
                c.declined.clear();
                c.offered = None;
                c.answered = None;
                c.last_agent = None;
                c.wait_deadline = None;
                c.announce_at = None;
                self.admit(now, call, c);
            }
            Target::Number(number) => {
                self.push_action(Action::TransferExternal { call, number });
            }
            Target::Callback => {
                let queue = from
                    .map(|q| self.queues[q].name.clone())
                    .unwrap_or_default();
                let waiting_since =
                    DateTime::<Utc>::from_timestamp_millis(c.first_arrival_ms).unwrap_or(now);
                self.push_action(Action::Callback {
                    call,
                    queue,
                    waiting_since,
                    priority: c.priority,
                });
            }
        }
    }

    /// Removes a call from its queue visit, with its timers, and records the
    /// visit's facts. Returns the call (for an overflow to another queue).
    fn leave(&mut self, now: DateTime<Utc>, call: CallId, outcome: Outcome) -> Option<Call> {
        let c = self.calls.remove(&call)?;
        if c.state == CallState::Waiting {
            self.queues[c.queue].waiting.remove(&(c.rank, c.seq));
        }
        if let Some(t) = c.wait_deadline {
            self.timers.remove(&(t, Timer::CallWait(call)));
        }
        if let Some(t) = c.announce_at {
            self.timers.remove(&(t, Timer::Announce(call)));
        }
        let facts = self.facts(&c, outcome, now);
        self.finish(now, call, facts);
        Some(c)
    }

    fn facts(&self, c: &Call, outcome: Outcome, ended: DateTime<Utc>) -> CallFacts {
        let presented = outcome.is_presented();
        CallFacts {
            queue: self.queues[c.queue].name.clone(),
            agent: c.last_agent.map(|a| self.agents[a].id.0.clone()),
            line: c.line.clone(),
            vip: c.vip_seen,
            entered_queue: presented.then_some(c.entered),
            offered: c.offered,
            answered: c.answered,
            ended: Some(ended),
            wrap_up_ended: None,
            outcome,
        }
    }

    fn finish(&mut self, now: DateTime<Utc>, call: CallId, facts: CallFacts) {
        let today = self.local_date(now);
        if self.today_date != Some(today) {
            self.today.clear();
            self.today_date = Some(today);
        }
        self.today.push(facts.clone());
        self.emit(Event::CallFinished {
            call,
            facts: Box::new(facts),
        });
    }

    fn end_conversation(&mut self, now: DateTime<Utc>, call: CallId, a: usize) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        let q = c.queue;
        let facts = self.facts(&c, Outcome::Answered, now);
        self.agents[a].wrap_facts = Some((q, call, facts));
        let until = now + self.queues[q].wrap_up;
        self.set_status(now, a, AgentStatus::WrapUp { call }, Some(until));
        if until <= now {
            self.finish_wrap_up(now, a);
        }
    }

    fn finish_wrap_up(&mut self, now: DateTime<Utc>, a: usize) {
        if let Some((q, call, mut facts)) = self.agents[a].wrap_facts.take() {
            facts.wrap_up_ended = Some(now);
            if let (Some(ans), Some(end)) = (facts.answered, facts.ended) {
                let handle = (end - ans).num_milliseconds() + (now - end).num_milliseconds();
                let recent = &mut self.queues[q].recent_handle_ms;
                if recent.len() == RECENT_HANDLE_TIMES {
                    recent.pop_front();
                }
                recent.push_back(handle.max(0));
            }
            self.finish(now, call, facts);
        }
        self.after_work(now, a);
    }

    /// Where an agent goes when free again: a pending logout or pause, else
    /// available (at the back of the longest-idle order).
    fn after_work(&mut self, now: DateTime<Utc>, a: usize) {
        let ag = &mut self.agents[a];
        ag.idle_since_ms = now.timestamp_millis();
        if ag.pending == Pending::Logout {
            ag.pending = Pending::None;
            ag.pending_pause = None;
            self.set_status(now, a, AgentStatus::LoggedOut, None);
        } else if let Some(reason) = ag.pending_pause.take() {
            self.set_status(now, a, AgentStatus::Paused { reason }, None);
        } else {
            self.set_status(now, a, AgentStatus::Available, None);
        }
    }

    /// The agent's ringing call disappeared (caller hung up): free again,
    /// keeping their idle rank.
    fn agent_free(&mut self, now: DateTime<Utc>, a: usize) {
        if self.agents[a].pending == Pending::Logout {
            self.after_work(now, a);
        } else {
            self.set_status(now, a, AgentStatus::Available, None);
        }
    }

    /// Puts a ringing call back in its place (agent paused or logged out),
    /// without counting a miss.
    fn withdraw_offer(&mut self, now: DateTime<Utc>, a: usize, call: CallId) {
        let agent = self.agents[a].id.clone();
        self.push_action(Action::CancelRing {
            call,
            agent: agent.clone(),
        });
        self.emit(Event::OfferWithdrawn {
            call,
            agent,
            at: now,
        });
        self.requeue(now, call);
    }

    fn requeue(&mut self, now: DateTime<Utc>, call: CallId) {
        if self.calls.contains_key(&call) {
            self.insert_waiting(call);
            self.check_wait(now, call);
        }
    }

    /// A missed offer: the call goes back to its place; the agent is paused
    /// "absent" after too many misses in a row.
    fn missed(&mut self, now: DateTime<Utc>, a: usize, call: CallId) {
        let q = self.calls.get(&call).map(|c| c.queue);
        if let Some(c) = self.calls.get_mut(&call) {
            c.declined.push(a);
        }
        let ag = &mut self.agents[a];
        ag.missed += 1;
        let consecutive = ag.missed;
        let id = ag.id.clone();
        self.emit(Event::OfferMissed {
            call,
            agent: id,
            consecutive,
            at: now,
        });
        let limit = q.map_or(u32::MAX, |q| self.queues[q].max_missed);
        self.requeue(now, call);
        if consecutive >= limit {
            self.agents[a].pending_pause = None;
            if self.agents[a].pending == Pending::Logout {
                self.after_work(now, a);
            } else {
                tracing::info!(agent = %self.agents[a].id.0, consecutive, "agent paused after missed offers");
                self.set_status(
                    now,
                    a,
                    AgentStatus::Paused {
                        reason: ABSENT.to_owned(),
                    },
                    None,
                );
            }
        } else {
            self.after_work(now, a);
        }
    }

    fn announce(&mut self, now: DateTime<Utc>, call: CallId, periodic: bool) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let q = &self.queues[c.queue];
        let every = q.announce_every;
        if c.state == CallState::Waiting {
            let ahead = q.waiting.range(..(c.rank, c.seq)).count() as i64;
            let available = q.available.len() as i64;
            let staffed = i64::from(q.staffed);
            // Agents free up at a rate of `staffed / handle time`; the caller
            // needs (ahead + 1 − available) releases before their turn.
            let expected = if staffed == 0 {
                None
            } else {
                let needed = (ahead + 1 - available).max(0);
                Some(needed * q.expected_handle_ms() / staffed / 1000)
            };
            let position = u32::try_from(ahead + 1).unwrap_or(u32::MAX);
            self.push_action(Action::Announce {
                call,
                position,
                expected_wait_secs: expected,
            });
        }
        if periodic && let Some(every) = every {
            self.set_call_timer(call, Some(now + every), true);
        }
    }

    /// Offers waiting calls to available agents until no pair is left: the
    /// queue whose head call ranks first goes first.
    fn dispatch(&mut self, now: DateTime<Utc>) {
        loop {
            let mut best: Option<(i64, usize)> = None;
            for (qi, q) in self.queues.iter().enumerate() {
                if q.available.is_empty() {
                    continue;
                }
                if let Some((&(rank, _), _)) = q.waiting.first_key_value()
                    && best.is_none_or(|(r, _)| rank < r)
                {
                    best = Some((rank, qi));
                }
            }
            let Some((_, q)) = best else {
                return;
            };
            let Some((_, call)) = self.queues[q].waiting.pop_first() else {
                return;
            };
            let Some(a) = self.pick_agent(q, call) else {
                // Unreachable: the queue has available agents.
                self.insert_waiting(call);
                return;
            };
            self.offer(now, q, call, a);
        }
    }

    fn pick_agent(&self, q: usize, call: CallId) -> Option<usize> {
        let queue = &self.queues[q];
        let declined: &[usize] = self.calls.get(&call).map_or(&[], |c| &c.declined);
        let fresh = |&&(_, _, a): &&(i64, i64, usize)| !declined.contains(&a);
        let chosen = if queue.strategy == Strategy::RoundRobin {
            let start = queue.rr_last.map_or(i64::MIN, |p| p + 1);
            queue
                .available
                .range((start, i64::MIN, 0)..)
                .find(fresh)
                .or_else(|| queue.available.iter().find(fresh))
        } else {
            queue.available.iter().find(fresh)
        };
        chosen.or_else(|| queue.available.first()).map(|k| k.2)
    }

    fn offer(&mut self, now: DateTime<Utc>, q: usize, call: CallId, a: usize) {
        if self.queues[q].strategy == Strategy::RoundRobin {
            self.queues[q].rr_last = Some(self.agent_key_in(q, a).0);
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Ringing(a);
        c.offered.get_or_insert(now);
        c.last_agent = Some(a);
        let until = now + self.queues[q].ring_timeout;
        self.set_status(now, a, AgentStatus::Ringing { call }, Some(until));
        let agent = self.agents[a].id.clone();
        self.emit(Event::CallOffered {
            call,
            agent: agent.clone(),
            at: now,
        });
        self.push_action(Action::Ring { call, agent, until });
    }
}

#[cfg(test)]
impl Acd {
    /// Cross-checks every redundant structure of the engine.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut waiting_calls = 0;
        for (id, c) in &self.calls {
            match c.state {
                CallState::Waiting => {
                    waiting_calls += 1;
                    if self.queues[c.queue].waiting.get(&(c.rank, c.seq)) != Some(id) {
                        return Err(format!("{id:?} waiting but not in its queue"));
                    }
                }
                CallState::Ringing(a) => {
                    if self.agents[a].status != (AgentStatus::Ringing { call: *id }) {
                        return Err(format!(
                            "{id:?} ringing but agent {a} is {:?}",
                            self.agents[a].status
                        ));
                    }
                }
                CallState::Connected(a) => {
                    if self.agents[a].status != (AgentStatus::OnCall { call: *id }) {
                        return Err(format!(
                            "{id:?} connected but agent {a} is {:?}",
                            self.agents[a].status
                        ));
                    }
                }
            }
            if let Some(t) = c.wait_deadline
                && !self.timers.contains(&(t, Timer::CallWait(*id)))
            {
                return Err(format!("{id:?} wait timer missing"));
            }
            if let Some(t) = c.announce_at
                && !self.timers.contains(&(t, Timer::Announce(*id)))
            {
                return Err(format!("{id:?} announce timer missing"));
            }
        }
        let in_maps: usize = self.queues.iter().map(|q| q.waiting.len()).sum();
        if in_maps != waiting_calls {
            return Err(format!(
                "{in_maps} calls in waiting maps, {waiting_calls} waiting"
            ));
        }
        for (a, ag) in self.agents.iter().enumerate() {
            let consistent = match &ag.status {
                AgentStatus::Ringing { call } => {
                    self.calls.get(call).map(|c| c.state) == Some(CallState::Ringing(a))
                }
                AgentStatus::OnCall { call } => {
                    self.calls.get(call).map(|c| c.state) == Some(CallState::Connected(a))
                }
                AgentStatus::WrapUp { .. } => ag.wrap_facts.is_some(),
                _ => true,
            };
            if !consistent {
                return Err(format!("agent {a} is {:?}, its call disagrees", ag.status));
            }
            let transitional = matches!(
                ag.status,
                AgentStatus::Ringing { .. }
                    | AgentStatus::OnCall { .. }
                    | AgentStatus::WrapUp { .. }
            );
            match ag.deadline {
                Some(t) if !transitional || !self.timers.contains(&(t, Timer::Agent(a))) => {
                    return Err(format!("agent {a} deadline inconsistent"));
                }
                None if transitional => {
                    return Err(format!("agent {a} transitional without timer"));
                }
                _ => {}
            }
            for &(q, _, _) in &ag.memberships {
                let present = self.queues[q].available.contains(&self.agent_key_in(q, a));
                if present != (ag.status == AgentStatus::Available) {
                    return Err(format!("agent {a} availability in queue {q} wrong"));
                }
            }
        }
        for (qi, q) in self.queues.iter().enumerate() {
            for (pos, &(a, level)) in q.members.iter().enumerate() {
                if !self.agents[a].memberships.contains(&(qi, level, pos)) {
                    return Err(format!("queue {qi}: member {a} not mirrored by the agent"));
                }
            }
            let mirrored = self
                .agents
                .iter()
                .filter(|ag| ag.memberships.iter().any(|m| m.0 == qi))
                .count();
            if mirrored != q.members.len() {
                return Err(format!("queue {qi}: memberships and members differ"));
            }
            let avail: usize = q.available.len();
            let real = q
                .members
                .iter()
                .filter(|(a, _)| self.agents[*a].status == AgentStatus::Available)
                .count();
            if avail != real {
                return Err(format!(
                    "queue {qi}: {avail} in available set, {real} available"
                ));
            }
            let logged = q
                .members
                .iter()
                .filter(|(a, _)| self.agents[*a].status != AgentStatus::LoggedOut)
                .count() as u32;
            let staffed = q
                .members
                .iter()
                .filter(|(a, _)| {
                    !matches!(
                        self.agents[*a].status,
                        AgentStatus::LoggedOut | AgentStatus::Paused { .. }
                    )
                })
                .count() as u32;
            if (logged, staffed) != (q.logged_in, q.staffed) {
                return Err(format!("queue {qi}: counters wrong"));
            }
        }
        for (t, timer) in &self.timers {
            let ok = match timer {
                Timer::Agent(a) => self.agents[*a].deadline == Some(*t),
                Timer::CallWait(c) => self
                    .calls
                    .get(c)
                    .is_some_and(|c| c.wait_deadline == Some(*t)),
                Timer::Announce(c) => self.calls.get(c).is_some_and(|c| c.announce_at == Some(*t)),
            };
            if !ok {
                return Err(format!("stale timer {timer:?} at {t}"));
            }
        }
        Ok(())
    }
}
