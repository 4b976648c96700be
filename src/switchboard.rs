//! The switchboard: the one place where the rooms meet.
//!
//! It owns the live engines (one `ivr` session per call in the voice menu, the `acd` engine,
//! a deterrence controller per line, the message board), feeds them the events of the `sip`
//! and `media` rooms with the time of its [`Clock`], executes what they decide against
//! `sip`, `media` and the store, and writes every step of every call to the call log.
//!
//! It runs as one task: every input is handled to completion before the next, so the
//! engines never see two inputs at once and no lock is held across an await.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod call_quality;
mod ivr_timers;

use chrono::{DateTime, Utc};
use guichet_acd::{Acd, Action as AcdAction, CallId as AcdCallId, Event as AcdEvent, Priority};
use guichet_calendar::Calendar;
use guichet_ivr::{
    Actor, DeterrenceController, DigitSource, Flow, IvrAction, IvrEvent, IvrInput, IvrOutcome,
    IvrSession, LineEnv, LoadSample, MessageAudio, MessageBoard, MessageDraft, MessageKind, PlayId,
};
use guichet_media::{
    Codec as MediaCodec, DtmfSource, MediaEvent, MediaHandle, PlaybackId, Playlist, RemoteMedia,
    SessionId,
};
use guichet_sip::sdp::{self, Codec as SipCodec, LocalCapabilities, NegotiatedMedia};
use guichet_sip::{
    CallId as SipCallId, CallTarget, IncomingCall, OutboundProgress, SipEvent, SipHandle,
};
use guichet_tickets::call_log::{CallLogWrite, CallLogWriter};
use guichet_tickets::refusals::{RefusalReason, RefusedCall};
use guichet_tickets::{CallOutcome, CallUpdate, NewCall, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::clock::Clock;
use crate::config::Config;
use crate::prompts::PromptLibrary;

mod after_log;
mod agent_hold;
mod monitor;
mod refusals;
pub use refusals::RefusalCounters;
mod softphone;
pub(crate) use after_log::LOG_WAIT_BOUND;
pub use monitor::MonitorCommand;
pub use softphone::SoftphoneCommand;

/// The dynamic payload type Guichet offers for telephone-event when it calls out.
const OFFERED_EVENT_PT: u8 = 101;

/// One helpdesk line at run time.
struct Line {
    name: String,
    flow: Arc<Flow>,
    calendar: Calendar,
    queues: Vec<String>,
    deterrence: DeterrenceController,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ivr,
    Queued,
    Connected,
    /// The call is finishing (a goodbye or a confirmation is playing, then BYE).
    Leaving,
}

/// The agent leg of a call: ringing, then connected.
struct AgentLeg {
    agent: String,
    sip: SipCallId,
    media: SessionId,
    answered: bool,
}

/// One caller's call.
struct Call {
    sip: SipCallId,
    acd: AcdCallId,
    record: i64,
    line: String,
    caller_number: String,
    caller_name: Option<String>,
    /// The caller as the directory knows them.
    person: Option<guichet_tickets::directory::Caller>,
    vip: bool,
    p0: bool,
    media: SessionId,
    phase: Phase,
    ivr: Option<IvrSession>,
    /// The IVR playback in progress and its media counterpart.
    ivr_play: Option<(PlayId, PlaybackId)>,
    /// Music on hold or an announcement while queued.
    hold_play: Option<PlaybackId>,
    /// A playback after which the call is hung up.
    final_play: Option<PlaybackId>,
    agent: Option<AgentLeg>,
    /// The agent who took the call, kept after their leg is gone (for the ticket).
    answered_by: Option<String>,
    bridge: Option<guichet_media::BridgeId>,
    /// An outbound leg to an external number (IVR transfer or overflow).
    external: Option<(SipCallId, SessionId)>,
    closed: bool,
    /// The agent's browser softphone leg (ringing or connected).
    browser: Option<softphone::BrowserLeg>,
    /// The answering agent's leg quality, kept when that leg ended before the call.
    agent_quality: Option<guichet_tickets::call_quality::LegQuality>,
    /// The codec the caller's leg settled on: offered first to the legs bridged to it, so a
    /// phone that can take it spares the bridge a µ-law/A-law transcoding.
    codec: SipCodec,
}

/// An outbound callback in progress: the agent's leg, then the caller's.
struct Outbound {
    callback: i64,
    record: i64,
    agent: String,
    number: String,
    agent_leg: SipCallId,
    agent_media: SessionId,
    customer: Option<(SipCallId, SessionId)>,
    bridged: Option<guichet_media::BridgeId>,
    /// The agent was available when the callback started: paused meanwhile so that the ACD
    /// does not offer them a call, and made available again at the end.
    resume_agent: bool,
}

/// An incoming call back from its directory lookup and durable record (see `on_incoming`).
struct Arrival {
    call_id: SipCallId,
    caller_number: String,
    caller_name: Option<String>,
    dialled_number: String,
    offer: Option<guichet_sip::sdp::SessionDescription>,
    person: Option<guichet_tickets::directory::Caller>,
    vip: bool,
    p0: bool,
    arrived_at: DateTime<Utc>,
    record: Result<i64, String>,
}

/// Commands the rest of the process sends the switchboard.
pub enum Command {
    /// Sets (or replaces) the crisis or deterrence message of a line, synthesising its text.
    SetMessage {
        actor: Actor,
        line: String,
        kind: MessageKind,
        text: String,
        ends_at: Option<DateTime<Utc>>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Removes the crisis or deterrence message of a line.
    RemoveMessage {
        actor: Actor,
        line: String,
        kind: MessageKind,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Changes an agent's state (from the web desk, or a supervisor forcing it).
    Agent {
        login: String,
        change: AgentChange,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Calls back the caller of a pending callback request: the agent's desk phone first,
    /// then, once the agent answers, the caller through the trunk; the two are bridged.
    CallBack {
        callback: i64,
        agent: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The live ACD picture.
    Snapshot {
        reply: oneshot::Sender<guichet_acd::Snapshot>,
    },
    /// Calls in progress (caller legs).
    CallsInProgress { reply: oneshot::Sender<usize> },
    /// Stop taking calls; let calls finish for `grace`, then end them.
    Shutdown {
        grace: Duration,
        done: oneshot::Sender<()>,
    },
    /// The browser softphones' signalling.
    Softphone(SoftphoneCommand),
    /// Supervisors' listen / whisper / barge.
    Monitor(MonitorCommand),
    /// Replaces the calendar `name` (configured hours plus the exceptions added from the
    /// administration page) on every line that uses it.
    SetCalendar {
        name: String,
        spec: guichet_calendar::CalendarSpec,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// A change of an agent's state asked from outside the switchboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChange {
    /// Log in (ready to take calls).
    LogIn,
    /// Log out.
    LogOut,
    /// Pause with a reason (déjeuner, formation, back-office...).
    Pause { reason: String },
    /// End a pause.
    Resume,
    /// End the wrap-up now.
    EndWrapUp,
    /// Extend the wrap-up by this many seconds.
    ExtendWrapUp { secs: u32 },
    /// Join `queue` at `level`, change the level there, or leave it (`None`). Live only:
    /// at the next start the `[[agents]]` configuration applies again.
    SetQueue { queue: String, level: Option<u8> },
}

/// A cloneable handle on the running switchboard.
#[derive(Clone)]
pub struct SwitchboardHandle {
    tx: mpsc::Sender<Command>,
    acd_changes: tokio::sync::watch::Receiver<u64>,
    refusal_counters: Arc<RefusalCounters>,
}

impl SwitchboardHandle {
    /// Calls refused with 503 since the start (for the metrics).
    pub fn refusal_counters(&self) -> &RefusalCounters {
        &self.refusal_counters
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> anyhow::Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| anyhow::anyhow!("the switchboard has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the switchboard dropped the request"))
    }

    /// Sets a line's crisis or deterrence message from typed French text (synthesised with
    /// the ivr room's TTS); the next caller who reaches that point of the flow hears it.
    pub async fn set_message(
        &self,
        actor: Actor,
        line: &str,
        kind: MessageKind,
        text: &str,
        ends_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        self.ask(|reply| Command::SetMessage {
            actor,
            line: line.to_owned(),
            kind,
            text: text.to_owned(),
            ends_at,
            reply,
        })
        .await?
        .map_err(anyhow::Error::msg)
    }

    /// Removes a line's crisis or deterrence message.
    pub async fn remove_message(
        &self,
        actor: Actor,
        line: &str,
        kind: MessageKind,
    ) -> anyhow::Result<()> {
        self.ask(|reply| Command::RemoveMessage {
            actor,
            line: line.to_owned(),
            kind,
            reply,
        })
        .await?
        .map_err(anyhow::Error::msg)
    }

    /// Changes an agent's state; the answer says why the ACD refused, in its words.
    pub async fn agent(&self, login: &str, change: AgentChange) -> anyhow::Result<()> {
        self.ask(|reply| Command::Agent {
            login: login.to_owned(),
            change,
            reply,
        })
        .await?
        .map_err(anyhow::Error::msg)
    }

    /// Starts the outbound callback of request `callback` by `agent` (the agent's phone rings
    /// first; the caller is dialled when the agent answers).
    pub async fn call_back(&self, callback: i64, agent: &str) -> anyhow::Result<()> {
        self.ask(|reply| Command::CallBack {
            callback,
            agent: agent.to_owned(),
            reply,
        })
        .await?
        .map_err(anyhow::Error::msg)
    }

    /// A counter bumped each time the ACD's picture changes (a call queued, offered,
    /// answered or finished, an agent's state): live pages wait on it instead of polling.
    pub fn acd_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.acd_changes.clone()
    }

    pub async fn snapshot(&self) -> anyhow::Result<guichet_acd::Snapshot> {
        self.ask(|reply| Command::Snapshot { reply }).await
    }

    pub async fn calls_in_progress(&self) -> anyhow::Result<usize> {
        self.ask(|reply| Command::CallsInProgress { reply }).await
    }

    /// Stops taking calls (503), waits up to `grace` for calls in progress, then ends them.
    pub async fn shutdown(&self, grace: Duration) -> anyhow::Result<()> {
        self.ask(|done| Command::Shutdown { grace, done }).await
    }

    /// Replaces the calendar `name` on the lines that use it; opening hours change at once.
    pub async fn set_calendar(
        &self,
        name: &str,
        spec: guichet_calendar::CalendarSpec,
    ) -> anyhow::Result<()> {
        self.ask(|reply| Command::SetCalendar {
            name: name.to_owned(),
            spec,
            reply,
        })
        .await?
        .map_err(anyhow::Error::msg)
    }
}

/// What the switchboard needs to run.
pub struct Parts {
    pub config: Arc<Config>,
    pub store: Store,
    pub sip: SipHandle,
    pub sip_events: mpsc::UnboundedReceiver<SipEvent>,
    pub media: MediaHandle,
    pub media_events: mpsc::UnboundedReceiver<MediaEvent>,
    pub clock: Clock,
    pub prompts: PromptLibrary,
    /// Where synthesised crisis and deterrence messages are written.
    pub messages_dir: std::path::PathBuf,
}

/// Admission control: concurrent calls and a per-second rate.
struct Admission {
    max_calls: usize,
    max_per_second: u32,
    window_start: DateTime<Utc>,
    in_window: u32,
    last_warning: Option<DateTime<Utc>>,
}

impl Admission {
    /// `None` when the call may come in, or why it is refused.
    fn refusal(&mut self, now: DateTime<Utc>, in_progress: usize) -> Option<RefusalReason> {
        if in_progress >= self.max_calls {
            return Some(RefusalReason::TooManyCalls);
        }
        if (now - self.window_start).num_milliseconds() >= 1000 {
            self.window_start = now;
            self.in_window = 0;
        }
        if self.in_window >= self.max_per_second {
            return Some(RefusalReason::CallRate);
        }
        self.in_window += 1;
        None
    }

    /// Whether a refusal warning may be logged now (at most one every 10 seconds).
    fn warn_due(&mut self, now: DateTime<Utc>) -> bool {
        let due = self
            .last_warning
            .is_none_or(|t| (now - t).num_seconds() >= 10);
        if due {
            self.last_warning = Some(now);
        }
        due
    }
}

struct Switchboard {
    config: Arc<Config>,
    store: Store,
    /// The call log's writes, committed in batches by their own task: the switchboard
    /// never waits on them (see `guichet_tickets::call_log`).
    call_log: CallLogWriter,
    /// SIP messages ending calls, held until the call log has committed the event that
    /// caused them (`after_log.rs`).
    after_log: Vec<after_log::AfterLog>,
    /// Incoming calls waiting for their directory lookup and record, by SIP call: `true`
    /// once the caller has hung up meanwhile.
    arriving: HashMap<SipCallId, bool>,
    arrivals_tx: mpsc::UnboundedSender<Arrival>,
    /// Tickets to open for answered calls, handled in order by their own task.
    ticket_jobs: mpsc::UnboundedSender<(TicketJob, DateTime<Utc>)>,
    /// The task that opens them, awaited at shutdown.
    ticket_task: Option<tokio::task::JoinHandle<()>>,
    sip: SipHandle,
    media: MediaHandle,
    clock: Clock,
    prompts: PromptLibrary,
    messages_dir: std::path::PathBuf,
    lines: HashMap<String, Line>,
    board: MessageBoard,
    acd: Acd,
    /// Agent login ↔ desk-phone extension.
    extension_of: HashMap<String, String>,
    agent_of_extension: HashMap<String, String>,
    calls: HashMap<SipCallId, Call>,
    by_acd: HashMap<AcdCallId, SipCallId>,
    by_media: HashMap<SessionId, SipCallId>,
    /// Outbound legs (agents, external numbers) → the caller's call.
    by_leg: HashMap<SipCallId, SipCallId>,
    /// Outbound callbacks in progress, by callback id, and their legs.
    outbound: HashMap<i64, Outbound>,
    outbound_legs: HashMap<SipCallId, i64>,
    /// Call records of calls the ACD still owns after the caller leg is gone (wrap-up).
    records: HashMap<AcdCallId, i64>,
    next_acd_id: u64,
    admission: Admission,
    /// Calls refused with 503: recorded within a per-second budget, counted beyond it.
    refusals: refusals::Refusals,
    /// Id of the stored message each line's board entry came from, per kind: a message
    /// saved in the store by another process (`guichet message`, another node) is picked up
    /// within a second.
    stored_messages: HashMap<(String, MessageKind), Option<i64>>,
    draining: bool,
    shutdown_done: Option<(DateTime<Utc>, oneshot::Sender<()>)>,
    /// Every call's IVR deadline in one table (a wake-up costs O(log n), not a scan).
    ivr_timers: ivr_timers::IvrTimers,
    /// Agent pages with an attached browser softphone.
    softphones: softphone::Softphones,
    /// Supervisors' wallboards attached for listen / whisper / barge.
    monitors: monitor::Monitors,
    /// Bumped after every ACD output (see [`SwitchboardHandle::acd_changes`]).
    acd_changed: tokio::sync::watch::Sender<u64>,
}

/// Starts the switchboard task.
pub async fn start(
    parts: Parts,
) -> anyhow::Result<(SwitchboardHandle, tokio::task::JoinHandle<()>)> {
    let Parts {
        config,
        store,
        sip,
        sip_events,
        media,
        media_events,
        clock,
        prompts,
        messages_dir,
    } = parts;
    let catalogue = Config::prompt_catalogue()?;
    let mut lines = HashMap::new();
    let mut board = MessageBoard::new();
    let mut stored_messages = HashMap::new();
    let now = clock.now();
    for line in &config.lines {
        let spec = config
            .flows
            .get(&line.flow)
            .ok_or_else(|| anyhow::anyhow!("line {}: no flow {}", line.number, line.flow))?;
        let flow = spec.clone().compile(&catalogue)?;
        let calendar_spec = config.calendars.get(&line.calendar).ok_or_else(|| {
            anyhow::anyhow!("line {}: no calendar {}", line.number, line.calendar)
        })?;
        let calendar = Calendar::new(calendar_spec)?;
        let deterrence = DeterrenceController::new(&line.number, line.deterrence.clone())?;
        // Messages saved before this start are live again.
        for kind in [MessageKind::Crisis, MessageKind::Deterrence] {
            match store
                .active_message(&line.number, store_kind(kind), now)
                .await
            {
                Ok(Some(m)) => {
                    let actor = Actor {
                        name: m.author.clone(),
                        role: guichet_ivr::Role::Supervisor,
                    };
                    let m_author = m.author.clone();
                    let m = m.message;
                    let audio = m
                        .audio_path
                        .as_ref()
                        .map(|p| MessageAudio::File(p.into()))
                        .unwrap_or_else(|| MessageAudio::Prompt(default_prompt(kind).to_owned()));
                    let draft = MessageDraft {
                        text: m.text.clone(),
                        audio,
                        starts_at: m.starts_at,
                        ends_at: m.ends_at,
                    };
                    if let Err(e) = board.set(&actor, &line.number, kind, draft, now) {
                        warn!(line = %line.number, author = %m_author, error = %e, "stored message not restored");
                    }
                }
                Ok(None) => {
                    stored_messages.insert((line.number.clone(), kind), None);
                }
                Err(e) => warn!(line = %line.number, error = %e, "cannot read stored messages"),
            }
        }
        lines.insert(
            line.number.clone(),
            Line {
                name: line.name.clone(),
                flow: Arc::new(flow),
                calendar,
                queues: line.queues.clone(),
                deterrence,
            },
        );
    }
    let acd = Acd::new(&config.acd_config())?;
    let mut extension_of = HashMap::new();
    let mut agent_of_extension = HashMap::new();
    for agent in &config.agents {
        if let (Some(ext), Some(secret)) = (&agent.extension, &agent.sip_secret) {
            sip.set_credentials(ext, secret);
            if let Some(algorithms) = &agent.digest_algorithms {
                sip.set_digest_algorithms(ext, algorithms.clone());
            }
            extension_of.insert(agent.login.clone(), ext.clone());
            agent_of_extension.insert(ext.clone(), agent.login.clone());
        }
    }
    let admission = Admission {
        max_calls: config.sip.max_concurrent_calls as usize,
        max_per_second: config.sip.max_calls_per_second,
        window_start: now,
        in_window: 0,
        last_warning: None,
    };
    let refusals = refusals::Refusals::new(config.sip.refused_calls_recorded_per_second);
    let refusal_counters = refusals.counters.clone();
    let (tx, rx) = mpsc::channel(64);
    let (acd_changed, acd_changes) = tokio::sync::watch::channel(0u64);
    let (call_log, _call_log_task) = CallLogWriter::start(store.clone());
    let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
    let (ticket_jobs, mut pending_tickets) =
        mpsc::unbounded_channel::<(TicketJob, DateTime<Utc>)>();
    let ticket_task;
    {
        let store = store.clone();
        let call_log = call_log.clone();
        ticket_task = tokio::spawn(async move {
            while let Some((job, now)) = pending_tickets.recv().await {
                // The closed record first: the ticket links to it.
                call_log.flush().await;
                let span = info_span!("ticket", record = job.record);
                job.run(&store, now).instrument(span).await;
            }
        });
    }
    let mut board_sb = Switchboard {
        config,
        store,
        call_log,
        after_log: Vec::new(),
        arriving: HashMap::new(),
        arrivals_tx,
        ticket_jobs,
        ticket_task: Some(ticket_task),
        sip,
        media,
        clock,
        prompts,
        messages_dir,
        lines,
        board: std::mem::take(&mut board),
        acd,
        extension_of,
        agent_of_extension,
        calls: HashMap::new(),
        by_acd: HashMap::new(),
        by_media: HashMap::new(),
        by_leg: HashMap::new(),
        records: HashMap::new(),
        outbound: HashMap::new(),
        outbound_legs: HashMap::new(),
        next_acd_id: 1,
        admission,
        refusals,
        stored_messages,
        draining: false,
        shutdown_done: None,
        ivr_timers: ivr_timers::IvrTimers::default(),
        softphones: Default::default(),
        monitors: Default::default(),
        acd_changed,
    };
    board_sb.sync_queue_hours(now);
    let task = tokio::spawn(async move {
        board_sb.run(rx, sip_events, media_events, arrivals).await;
    });
    Ok((
        SwitchboardHandle {
            tx,
            acd_changes,
            refusal_counters,
        },
        task,
    ))
}

fn store_kind(kind: MessageKind) -> guichet_tickets::admin::MessageKind {
    match kind {
        MessageKind::Crisis => guichet_tickets::admin::MessageKind::Crisis,
        MessageKind::Deterrence => guichet_tickets::admin::MessageKind::Deterrence,
    }
}

fn default_prompt(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Crisis => "crise_defaut",
        MessageKind::Deterrence => "dissuasion_defaut",
    }
}

fn to_media_codec(codec: SipCodec) -> MediaCodec {
    match codec {
        SipCodec::Pcmu => MediaCodec::Pcmu,
        SipCodec::Pcma => MediaCodec::Pcma,
    }
}

fn remote_of(n: &NegotiatedMedia) -> Option<RemoteMedia> {
    Some(RemoteMedia {
        addr: n.remote_rtp?,
        codec: to_media_codec(n.codec),
        payload_type: n.payload_type,
        dtmf_payload_type: n.telephone_event,
        dtmf_red_payload_type: n.telephone_event_red,
    })
}

/// Last digits only: caller numbers are personal data and stay out of logs above debug.
fn redact_number(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

impl Switchboard {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut sip_events: mpsc::UnboundedReceiver<SipEvent>,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        mut arrivals: mpsc::UnboundedReceiver<Arrival>,
    ) {
        let mut load_tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let wake = self.next_wake();
            let sleep = tokio::time::sleep_until(
                wake.map(|at| self.clock.instant_of(at))
                    .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                biased;
                Some(command) = commands.recv() => self.on_command(command).await,
                Some(event) = sip_events.recv() => self.on_sip(event).await,
                Some(event) = media_events.recv() => self.on_media(event).await,
                Some(arrival) = arrivals.recv() => {
                    let span = info_span!("call", call_id = %arrival.call_id);
                    self.on_arrival(arrival).instrument(span).await;
                }
                () = sleep => self.on_timers().await,
                _ = load_tick.tick() => self.on_load_tick().await,
                else => break,
            }
            if let Some((deadline, _)) = &self.shutdown_done {
                let deadline = *deadline;
                if (self.calls.is_empty() && self.arriving.is_empty())
                    || self.clock.now() >= deadline
                {
                    self.end_all_calls().await;
                    self.settle_arrivals(&mut arrivals).await;
                    self.refusals.hand_over_counts(&self.call_log);
                    // Every record closed before the process is told it may exit.
                    self.call_log.flush().await;
                    self.send_after_log_now();
                    self.finish_ticket_jobs().await;
                    if let Some((_, done)) = self.shutdown_done.take() {
                        let _ = done.send(());
                    }
                    break;
                }
            }
            self.release_after_log();
        }
    }

    fn next_wake(&mut self) -> Option<DateTime<Utc>> {
        let mut wake = self.acd.poll_timeout();
        let mut consider = |t: Option<DateTime<Utc>>| {
            if let Some(t) = t {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        };
        consider(self.ivr_timers.next());
        for line in self.lines.values() {
            consider(line.deterrence.poll_timeout());
        }
        consider(self.board.next_expiry());
        if let Some((deadline, _)) = &self.shutdown_done {
            consider(Some(*deadline));
        }
        wake
    }

    // ---- commands ---------------------------------------------------------------------

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::SetMessage {
                actor,
                line,
                kind,
                text,
                ends_at,
                reply,
            } => {
                let result = self.set_message(actor, &line, kind, &text, ends_at).await;
                let _ = reply.send(result);
            }
            Command::RemoveMessage {
                actor,
                line,
                kind,
                reply,
            } => {
                let now = self.clock.now();
                let result = match self.board.remove(&actor, &line, kind, now) {
                    Ok(entry) => {
                        if kind == MessageKind::Deterrence
                            && let Some(l) = self.lines.get_mut(&line)
                        {
                            l.deterrence.cleared_by_hand(now);
                        }
                        if let Some(entry) = entry {
                            self.journal(&entry).await;
                        }
                        if let Err(e) = self
                            .store
                            .deactivate_messages(&line, store_kind(kind), &actor.name, now)
                            .await
                        {
                            warn!(error = %e, "message removal not stored");
                        }
                        self.stored_messages.insert((line.clone(), kind), None);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(result);
            }
            Command::Agent {
                login,
                change,
                reply,
            } => {
                let now = self.clock.now();
                let result = match &change {
                    AgentChange::LogIn => self.acd.login(now, &login),
                    AgentChange::LogOut => self.acd.logout(now, &login),
                    AgentChange::Pause { reason } => self.acd.pause(now, &login, reason),
                    AgentChange::Resume => self.acd.unpause(now, &login),
                    AgentChange::EndWrapUp => self.acd.end_wrap_up(now, &login),
                    AgentChange::ExtendWrapUp { secs } => self.acd.extend_wrap_up(
                        now,
                        &login,
                        chrono::TimeDelta::seconds(i64::from(*secs)),
                    ),
                    AgentChange::SetQueue { queue, level } => {
                        self.acd.set_membership(now, &login, queue, *level)
                    }
                };
                info!(agent = %login, ?change, ok = result.is_ok(), "agent state change asked");
                let _ = reply.send(result.map_err(|e| e.to_string()));
                self.drain_acd().await;
            }
            Command::CallBack {
                callback,
                agent,
                reply,
            } => {
                let result = self.start_callback(callback, &agent).await;
                let _ = reply.send(result);
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.acd.snapshot(self.clock.now()));
            }
            Command::CallsInProgress { reply } => {
                let _ = reply.send(self.calls.len());
            }
            Command::Shutdown { grace, done } => {
                self.draining = true;
                let deadline = self.clock.now()
                    + chrono::TimeDelta::from_std(grace).unwrap_or(chrono::TimeDelta::zero());
                info!(
                    calls = self.calls.len(),
                    ?grace,
                    "draining: new calls get 503"
                );
                self.shutdown_done = Some((deadline, done));
            }
            Command::Softphone(command) => self.on_softphone(command).await,
            Command::Monitor(command) => self.on_monitor(command).await,
            Command::SetCalendar { name, spec, reply } => {
                let result = Calendar::new(&spec)
                    .map_err(|e| e.to_string())
                    .map(|calendar| {
                        let numbers: Vec<String> = self
                            .config
                            .lines
                            .iter()
                            .filter(|l| l.calendar == name)
                            .map(|l| l.number.clone())
                            .collect();
                        for number in &numbers {
                            if let Some(line) = self.lines.get_mut(number) {
                                line.calendar = calendar.clone();
                            }
                        }
                        info!(calendar = %name, lines = numbers.len(), "calendar replaced");
                        self.sync_queue_hours(self.clock.now());
                    });
                let _ = reply.send(result);
            }
        }
    }

    async fn set_message(
        &mut self,
        actor: Actor,
        line: &str,
        kind: MessageKind,
        text: &str,
        ends_at: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        if !self.lines.contains_key(line) {
            return Err(format!("ligne inconnue : {line}"));
        }
        if !actor.role.may_change_messages() {
            return Err(
                "seuls les superviseurs et les administrateurs modifient les messages".into(),
            );
        }
        let now = self.clock.now();
        let file = self.messages_dir.join(format!(
            "{line}-{}-{}.wav",
            match kind {
                MessageKind::Crisis => "crise",
                MessageKind::Deterrence => "dissuasion",
            },
            now.timestamp_millis()
        ));
        let options = self.config.tts.clone();
        let text_owned = text.to_owned();
        let out = file.clone();
        // Synthesis runs a subprocess: keep it off the switchboard's task.
        let synthesis = tokio::task::spawn_blocking(move || {
            guichet_ivr::tts::synthesize(&text_owned, &out, &options)
        })
        .await
        .map_err(|e| e.to_string())?;
        if let Err(e) = synthesis {
            return Err(e.french());
        }
        let draft = MessageDraft {
            text: text.to_owned(),
            audio: MessageAudio::File(file.clone()),
            starts_at: None,
            ends_at,
        };
        let entry = self
            .board
            .set(&actor, line, kind, draft, now)
            .map_err(|e| e.to_string())?;
        self.journal(&entry).await;
        // Other nodes on this database copy the file from there (src/audio_cache.rs).
        crate::audio_cache::store_message_file(&self.store, &file, now).await;
        let stored = guichet_tickets::admin::NewMessage {
            line: line.to_owned(),
            kind: store_kind(kind),
            text: text.to_owned(),
            audio_path: Some(file.display().to_string()),
            starts_at: None,
            ends_at,
            active: true,
        };
        match self.store.save_message(&stored, &actor.name, now).await {
            Ok(saved) => {
                self.stored_messages
                    .insert((line.to_owned(), kind), Some(saved.id));
            }
            Err(e) => warn!(error = %e, "message not stored (it is live until the next restart)"),
        }
        info!(line, ?kind, actor = %actor.name, "message live");
        Ok(())
    }

    async fn journal(&self, entry: &guichet_ivr::JournalEntry) {
        let row = guichet_tickets::JournalEntry {
            at: entry.at,
            actor: entry.actor.clone(),
            action: format!("message_{:?}_{:?}", entry.kind, entry.action).to_lowercase(),
            subject: format!("line:{}", entry.line),
            old_value: entry.old.as_ref().map(|m| m.text.clone()),
            new_value: entry.new.as_ref().map(|m| m.text.clone()),
        };
        if let Err(e) = self.store.journal(&row).await {
            warn!(error = %e, "journal entry not stored");
        }
    }

    // ---- SIP ----------------------------------------------------------------------------

    async fn on_sip(&mut self, event: SipEvent) {
        if let SipEvent::Ended {
            call_id,
            answer_pending: true,
            ..
        } = &event
        {
            // The 200 OK waits for the close this BYE causes (written below).
            self.answer_bye_after_log(call_id.clone());
        }
        if let SipEvent::Cancelled {
            call_id,
            answer_pending: true,
        } = &event
            && !self.arriving.contains_key(call_id)
        {
            // Not a call still waiting for its record (its `Arrival` answers the CANCEL once
            // the record is closed): nothing of it to write, the 487 goes after what is queued.
            self.answer_cancel_after_log(call_id.clone());
        }
        match event {
            SipEvent::IncomingCall(call) => {
                let span = info_span!("call", call_id = %call.call_id);
                self.on_incoming(call).instrument(span).await;
            }
            SipEvent::Cancelled { call_id, .. } | SipEvent::Ended { call_id, .. }
                if self.outbound_legs.contains_key(&call_id) =>
            {
                let span = info_span!("callback", call_id = %call_id);
                self.on_callback_leg_ended(call_id).instrument(span).await;
            }
            SipEvent::Outbound { call_id, progress }
                if self.outbound_legs.contains_key(&call_id) =>
            {
                let span = info_span!("callback", call_id = %call_id);
                self.on_callback_progress(call_id, progress)
                    .instrument(span)
                    .await;
            }
            SipEvent::Cancelled { call_id, .. } | SipEvent::Ended { call_id, .. } => {
                let span = info_span!("call", call_id = %call_id);
                self.on_remote_hangup(call_id).instrument(span).await;
            }
            SipEvent::Dtmf {
                call_id,
                digit,
                duration_ms,
            } => {
                if let Some(call) = self.calls.get(&call_id) {
                    // SIP INFO digits join the RTP digits in the media room's stream.
                    let session = call.media;
                    if let Err(e) =
                        self.media
                            .inject_digit(session, digit, duration_ms.unwrap_or(100))
                    {
                        debug!(error = %e, "INFO digit dropped");
                    }
                }
            }
            SipEvent::RegistrationChanged { user, contacts } => {
                self.on_registration(&user, !contacts.is_empty()).await;
            }
            SipEvent::Outbound { call_id, progress } => {
                let span = info_span!("leg", call_id = %call_id);
                self.on_outbound(call_id, progress).instrument(span).await;
            }
            SipEvent::HoldChanged {
                call_id, on_hold, ..
            } => self.on_hold_changed(&call_id, on_hold),
            _ => {}
        }
    }

    async fn on_registration(&mut self, extension: &str, registered: bool) {
        let Some(agent) = self.agent_of_extension.get(extension).cloned() else {
            return;
        };
        let now = self.clock.now();
        let result = if registered {
            match self.acd.agent_status(&agent) {
                Some(guichet_acd::AgentStatus::LoggedOut) | None => self.acd.login(now, &agent),
                Some(_) => Ok(()),
            }
        } else {
            self.acd.logout(now, &agent)
        };
        match result {
            Ok(()) => info!(%agent, registered, "desk phone registration"),
            Err(e) => debug!(%agent, error = %e, "registration ignored by the ACD"),
        }
        self.drain_acd().await;
    }

    async fn on_incoming(&mut self, incoming: IncomingCall) {
        let now = self.clock.now();
        let IncomingCall {
            call_id,
            caller_number,
            display_name,
            dialled_number,
            offer,
            ..
        } = incoming;
        let in_progress = self.calls.len() + self.arriving.len();
        let refusal = if self.draining {
            Some(RefusalReason::Shutdown)
        } else {
            self.admission.refusal(now, in_progress)
        };
        if let Some(reason) = refusal {
            // Operators must see overload, but one line per refused call would flood the log.
            if self.admission.warn_due(now) {
                warn!(
                    draining = self.draining,
                    calls = in_progress,
                    max_calls = self.admission.max_calls,
                    max_per_second = self.admission.max_per_second,
                    "calls refused with 503 (shutdown or overload); next warning in 10 s at most"
                );
            }
            let _ = self.sip.reject(&call_id, 503);
            // Presented all the same: traced (see `refusals.rs`), for the answer rate.
            let trace = self.refusals.refuse(
                RefusedCall {
                    sip_call_id: call_id.0,
                    line: dialled_number,
                    caller_number,
                    caller_name: display_name,
                    at: now,
                    reason,
                },
                &self.call_log,
            );
            info!(reason = %reason, ?trace, "call refused: 503");
            return;
        }
        let Some(line) = self.lines.get_mut(&dialled_number) else {
            let _ = self.sip.reject(&call_id, 404);
            return;
        };
        line.deterrence.record_arrival(now);
        // The directory lookup and the durable record are the database's time, not the
        // switchboard's: they run beside it, and the call comes back as an `Arrival`.
        self.arriving.insert(call_id.clone(), false);
        let store = self.store.clone();
        let call_log = self.call_log.clone();
        let arrivals = self.arrivals_tx.clone();
        tokio::spawn(
            async move {
                let person = match store.lookup_caller(&caller_number, now).await {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(error = %e, "directory lookup failed; the caller is treated as unknown");
                        None
                    }
                };
                let (vip, p0) = person
                    .as_ref()
                    .map_or((false, false), |p| (p.vip, p.p0_active));
                let caller_name = person
                    .as_ref()
                    .map(|p| format!("{} {}", p.first_name, p.last_name))
                    .or(display_name);
                // Durable before the call is answered.
                let record = call_log
                    .open_call(NewCall {
                        sip_call_id: call_id.0.clone(),
                        line: dialled_number.clone(),
                        caller_number: caller_number.clone(),
                        caller_name: caller_name.clone(),
                        person_id: person.as_ref().map(|p| p.person_id),
                        vip,
                        p0,
                        arrived_at: now,
                    })
                    .await
                    .map_err(|e| e.to_string());
                let _ = arrivals.send(Arrival {
                    call_id,
                    caller_number,
                    caller_name,
                    dialled_number,
                    offer,
                    person,
                    vip,
                    p0,
                    arrived_at: now,
                    record,
                });
            }
            .in_current_span(),
        );
    }

    /// A call whose caller is identified and whose record is durable: answered, into the
    /// line's voice menu (or refused if it was cancelled or the server is stopping meanwhile).
    async fn on_arrival(&mut self, arrival: Arrival) {
        let Arrival {
            call_id,
            caller_number,
            caller_name,
            dialled_number,
            offer,
            person,
            vip,
            p0,
            arrived_at,
            record,
        } = arrival;
        let cancelled = self.arriving.remove(&call_id).unwrap_or(true);
        let now = self.clock.now();
        let record = match record {
            Ok(id) => id,
            Err(e) => {
                warn!(error = %e, "cannot write the call record: call refused");
                let _ = self.sip.reject(&call_id, 503);
                // Nothing durable to wait for: a cancelled caller gets the 487 now.
                let _ = self.sip.answer_cancel(&call_id);
                return;
            }
        };
        if cancelled {
            // The caller hung up before the answer: gone from the menu's point of view. The
            // 487 to a CANCEL waits for this close to be committed.
            info!("caller hung up before the answer");
            self.answer_cancel_after_log(call_id);
            self.close_record(record, CallOutcome::AbandonedInIvr, now, false)
                .await;
            return;
        }
        if self.draining {
            info!("call refused while draining: 503");
            self.reject_after_log(&call_id, 503);
            // Refused for the shutdown: presented, not answered, like the 503s at the door.
            self.call_log.write(CallLogWrite::Event {
                call: record,
                at: now,
                kind: "refused".to_owned(),
                detail: RefusalReason::Shutdown.as_str().to_owned(),
            });
            self.close_record(record, CallOutcome::Refused, now, false)
                .await;
            return;
        }
        let Some(line) = self.lines.get(&dialled_number) else {
            self.reject_after_log(&call_id, 404);
            self.close_record(record, CallOutcome::Rejected, now, false)
                .await;
            return;
        };
        let flow = line.flow.clone();
        let line_name = line.name.clone();
        info!(
            line = %dialled_number,
            caller = %redact_number(&caller_number),
            vip,
            p0,
            "incoming call"
        );
        debug!(caller = %caller_number, "caller number");
        let Some(offer) = offer else {
            self.reject_after_log(&call_id, 488);
            self.close_record(record, CallOutcome::Rejected, now, false)
                .await;
            return;
        };
        let local = match self.media.allocate_rtp() {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "no RTP port: call refused");
                self.reject_after_log(&call_id, 503);
                self.close_record(record, CallOutcome::Rejected, now, false)
                    .await;
                return;
            }
        };
        let answer = sdp::answer(
            &offer,
            &LocalCapabilities::default(),
            self.sdp_address(local.addr),
            record.unsigned_abs(),
        );
        let (answer_sdp, negotiated) = match answer {
            Ok(a) => a,
            Err(e) => {
                info!(error = %e, "no common codec: 488");
                self.reject_after_log(&call_id, 488);
                let _ = self.media.release(local.session);
                self.close_record(record, CallOutcome::Rejected, now, false)
                    .await;
                return;
            }
        };
        if let Some(remote) = remote_of(&negotiated)
            && let Err(e) = self.media.set_remote(local.session, remote)
        {
            warn!(error = %e, "cannot set the remote media");
        }
        if let Err(e) = self.sip.answer(&call_id, answer_sdp) {
            warn!(error = %e, "cannot answer");
            let _ = self.media.release(local.session);
            self.close_record(record, CallOutcome::Rejected, now, false)
                .await;
            return;
        }
        let acd_id = AcdCallId(self.next_acd_id);
        self.next_acd_id += 1;
        let context = guichet_ivr::CallerContext {
            line: dialled_number.clone(),
            vip,
            p0,
        };
        let ivr = IvrSession::new(flow, context, arrived_at);
        debug!(line_name = %line_name, "IVR started");
        self.by_media.insert(local.session, call_id.clone());
        self.by_acd.insert(acd_id, call_id.clone());
        self.calls.insert(
            call_id.clone(),
            Call {
                sip: call_id.clone(),
                acd: acd_id,
                record,
                line: dialled_number,
                caller_number,
                caller_name,
                person,
                vip,
                p0,
                media: local.session,
                phase: Phase::Ivr,
                ivr: Some(ivr),
                ivr_play: None,
                hold_play: None,
                final_play: None,
                agent: None,
                answered_by: None,
                bridge: None,
                external: None,
                closed: false,
                browser: None,
                agent_quality: None,
                codec: negotiated.codec,
            },
        );
        self.ivr_input(&call_id, IvrInput::Started).await;
    }

    /// An RTP session for a leg Guichet places (agent, trunk), with the SDP offer for it;
    /// `preferred` (the codec of the leg it will be bridged to) heads the offer's list.
    fn outbound_media(
        &self,
        preferred: Option<SipCodec>,
    ) -> Result<
        (
            guichet_media::LocalMedia,
            guichet_sip::sdp::SessionDescription,
        ),
        guichet_media::MediaError,
    > {
        let local = self.media.allocate_rtp()?;
        let mut capabilities = LocalCapabilities::default();
        if let Some(codec) = preferred {
            capabilities.codecs.sort_by_key(|c| *c != codec);
        }
        let offer = sdp::offer(
            &capabilities,
            self.sdp_address(local.addr),
            local.session.0,
            OFFERED_EVENT_PT,
        );
        Ok((local, offer))
    }

    fn sdp_address(&self, local: std::net::SocketAddr) -> std::net::SocketAddr {
        match self.config.sip.advertised_address {
            Some(ip) if local.ip().is_unspecified() => std::net::SocketAddr::new(ip, local.port()),
            _ => local,
        }
    }

    async fn on_remote_hangup(&mut self, sip_id: SipCallId) {
        if let Some(cancelled) = self.arriving.get_mut(&sip_id) {
            // Not answered yet: its `Arrival` closes the record.
            *cancelled = true;
            return;
        }
        let now = self.clock.now();
        if let Some(caller) = self.by_leg.get(&sip_id).cloned() {
            // An agent or external leg ended.
            self.on_leg_ended(&caller, &sip_id).await;
            return;
        }
        let Some(call) = self.calls.get_mut(&sip_id) else {
            return;
        };
        info!(phase = ?call.phase, "caller hung up");
        match call.phase {
            Phase::Ivr => {
                self.ivr_input(&sip_id, IvrInput::CallerHungUp).await;
                self.finish_call(&sip_id, Some(CallOutcome::AbandonedInIvr), now)
                    .await;
            }
            Phase::Queued | Phase::Connected => {
                let acd = call.acd;
                let answered = call.agent.as_ref().is_some_and(|a| a.answered)
                    || call.browser.as_ref().is_some_and(|b| b.answered);
                if let Err(e) = self.acd.call_ended(now, acd) {
                    debug!(error = %e, "call end ignored by the ACD");
                }
                if answered {
                    self.finish_call(&sip_id, Some(CallOutcome::Answered), now)
                        .await;
                } else {
                    // The ACD's CallFinished gives the outcome (abandoned in queue or
                    // while ringing); the caller's leg is released now.
                    self.finish_call(&sip_id, None, now).await;
                }
                self.drain_acd().await;
            }
            Phase::Leaving => {
                self.finish_call(&sip_id, None, now).await;
            }
        }
    }

    async fn on_leg_ended(&mut self, caller: &SipCallId, leg: &SipCallId) {
        let now = self.clock.now();
        self.by_leg.remove(leg);
        let Some(call) = self.calls.get_mut(caller) else {
            return;
        };
        if call.agent.as_ref().is_some_and(|a| &a.sip == leg) {
            let agent = call.agent.take();
            if let Some(a) = &agent {
                if a.answered {
                    call.agent_quality = call_quality::agent_quality(&self.media, a.media);
                }
                let _ = self.media.release(a.media);
            }
            let answered = agent.as_ref().is_some_and(|a| a.answered);
            if answered {
                info!("agent hung up");
                let acd = call.acd;
                self.hang_up_after_log(caller);
                if let Err(e) = self.acd.call_ended(now, acd) {
                    debug!(error = %e, "call end ignored by the ACD");
                }
                self.finish_call(caller, Some(CallOutcome::Answered), now)
                    .await;
                self.drain_acd().await;
            }
            return;
        }
        if call.external.as_ref().is_some_and(|(s, _)| s == leg) {
            info!("external leg ended");
            self.hang_up_after_log(caller);
            self.finish_call(caller, None, now).await;
        }
    }

    async fn on_outbound(&mut self, leg: SipCallId, progress: OutboundProgress) {
        let Some(caller) = self.by_leg.get(&leg).cloned() else {
            // A leg we no longer want (the caller left): make sure it ends.
            if matches!(progress, OutboundProgress::Answered { .. }) {
                self.hang_up_after_log(&leg);
            }
            return;
        };
        let now = self.clock.now();
        match progress {
            OutboundProgress::Ringing { .. } => debug!("leg ringing"),
            OutboundProgress::Answered { answer } => {
                let negotiated = answer.as_ref().and_then(|a| sdp::read_answer(a).ok());
                let Some(call) = self.calls.get_mut(&caller) else {
                    self.hang_up_after_log(&leg);
                    return;
                };
                if call.agent.as_ref().is_some_and(|a| a.sip == leg) {
                    let (agent, agent_media) = match &call.agent {
                        Some(a) => (a.agent.clone(), a.media),
                        None => return,
                    };
                    if let Some(remote) = negotiated.as_ref().and_then(remote_of) {
                        let _ = self.media.set_remote(agent_media, remote);
                    }
                    let acd = call.acd;
                    match self.acd.agent_answered(now, &agent, acd) {
                        Ok(()) => {
                            let caller_media = call.media;
                            if let Some(a) = call.agent.as_mut() {
                                a.answered = true;
                            }
                            call.answered_by = Some(agent.clone());
                            call.phase = Phase::Connected;
                            call.hold_play = None;
                            let record = call.record;
                            let _ = self.media.stop(caller_media);
                            match self.media.bridge(caller_media, agent_media) {
                                Ok(b) => {
                                    if let Some(c) = self.calls.get_mut(&caller) {
                                        c.bridge = Some(b);
                                    }
                                }
                                Err(e) => warn!(error = %e, "cannot bridge"),
                            }
                            info!(%agent, "agent answered, legs bridged");
                            self.desk_phone_answered(&caller, &agent);
                            self.update(record, CallUpdate::Answered { at: now, agent })
                                .await;
                        }
                        Err(e) => {
                            info!(error = %e, "answer too late: the agent leg is hung up");
                            self.hang_up_after_log(&leg);
                        }
                    }
                    self.drain_acd().await;
                } else if call.external.as_ref().is_some_and(|(s, _)| *s == leg) {
                    let ext_media = call.external.as_ref().map(|(_, m)| *m);
                    let caller_media = call.media;
                    if let (Some(m), Some(remote)) =
                        (ext_media, negotiated.as_ref().and_then(remote_of))
                    {
                        let _ = self.media.set_remote(m, remote);
                        let _ = self.media.stop(caller_media);
                        match self.media.bridge(caller_media, m) {
                            Ok(b) => call.bridge = Some(b),
                            Err(e) => warn!(error = %e, "cannot bridge the external leg"),
                        }
                    }
                    info!("external number answered, legs bridged");
                }
            }
            OutboundProgress::Failed { code } => {
                self.by_leg.remove(&leg);
                let Some(call) = self.calls.get_mut(&caller) else {
                    return;
                };
                if call.agent.as_ref().is_some_and(|a| a.sip == leg) {
                    let Some(a) = call.agent.take() else {
                        return;
                    };
                    let _ = self.media.release(a.media);
                    info!(agent = %a.agent, code, "agent leg failed");
                    let page_rings = call.browser.as_ref().is_some_and(|b| b.agent == a.agent);
                    if !page_rings && let Err(e) = self.acd.offer_failed(now, &a.agent, call.acd) {
                        debug!(error = %e, "offer failure ignored by the ACD");
                    }
                    self.drain_acd().await;
                } else if call.external.as_ref().is_some_and(|(s, _)| *s == leg) {
                    info!(code, "external number unreachable");
                    if let Some((_, m)) = call.external.take() {
                        let _ = self.media.release(m);
                    }
                    let caller = call.sip.clone();
                    self.play_then_hang_up(&caller, "appel_termine").await;
                }
            }
        }
    }

    // ---- outbound callbacks -------------------------------------------------------------

    async fn start_callback(&mut self, callback: i64, agent: &str) -> Result<(), String> {
        if self.draining {
            return Err("arrêt en cours : aucun rappel".into());
        }
        if self.outbound.contains_key(&callback) {
            return Err("ce rappel est déjà en cours".into());
        }
        let Some(extension) = self.extension_of.get(agent).cloned() else {
            return Err(format!("{agent} n'a pas de poste téléphonique"));
        };
        let request = match self.store.pending_callback(callback).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(format!("aucun rappel en attente n°{callback}")),
            Err(e) => return Err(e.to_string()),
        };
        let now = self.clock.now();
        let resume_agent = matches!(
            self.acd.agent_status(agent),
            Some(guichet_acd::AgentStatus::Available)
        );
        if !resume_agent
            && !matches!(
                self.acd.agent_status(agent),
                Some(guichet_acd::AgentStatus::Paused { .. } | guichet_acd::AgentStatus::LoggedOut)
            )
        {
            return Err(format!("{agent} est déjà en communication"));
        }
        let line = self
            .config
            .lines
            .iter()
            .find(|l| l.queues.contains(&request.queue))
            .map_or_else(|| request.queue.clone(), |l| l.number.clone());
        let person = self
            .store
            .lookup_caller(&request.number, now)
            .await
            .ok()
            .flatten();
        let (local, offer) = self.outbound_media(None).map_err(|e| e.to_string())?;
        let display = Some(format!(
            "Rappel : {}",
            request
                .name
                .clone()
                .unwrap_or_else(|| request.number.clone())
        ));
        let leg = match self.sip.ring_agent(
            CallTarget::Registered(extension),
            &request.number,
            display,
            offer,
        ) {
            Ok(leg) => leg,
            Err(e) => {
                let _ = self.media.release(local.session);
                return Err(e.to_string());
            }
        };
        let record = match self
            .store
            .open_call(&NewCall {
                sip_call_id: leg.0.clone(),
                line,
                caller_number: request.number.clone(),
                caller_name: request.name.clone(),
                person_id: person.as_ref().map(|p| p.person_id),
                vip: person.as_ref().is_some_and(|p| p.vip),
                p0: person.as_ref().is_some_and(|p| p.p0_active),
                arrived_at: now,
            })
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.hang_up_after_log(&leg);
                let _ = self.media.release(local.session);
                return Err(e.to_string());
            }
        };
        if resume_agent && let Err(e) = self.acd.pause(now, agent, "rappel") {
            debug!(error = %e, "agent not paused for the callback");
        }
        self.drain_acd().await;
        info!(callback, %agent, "callback: ringing the agent first");
        self.update(
            record,
            CallUpdate::Offered {
                at: now,
                agent: agent.to_owned(),
            },
        )
        .await;
        self.outbound_legs.insert(leg.clone(), callback);
        self.outbound.insert(
            callback,
            Outbound {
                callback,
                record,
                agent: agent.to_owned(),
                number: request.number,
                agent_leg: leg,
                agent_media: local.session,
                customer: None,
                bridged: None,
                resume_agent,
            },
        );
        Ok(())
    }

    async fn on_callback_progress(&mut self, leg: SipCallId, progress: OutboundProgress) {
        let Some(id) = self.outbound_legs.get(&leg).copied() else {
            return;
        };
        let now = self.clock.now();
        match progress {
            OutboundProgress::Ringing { .. } => {}
            OutboundProgress::Answered { answer } => {
                let negotiated = answer.as_ref().and_then(|a| sdp::read_answer(a).ok());
                let remote = negotiated.as_ref().and_then(remote_of);
                let Some(ob) = self.outbound.get(&id) else {
                    return;
                };
                if leg == ob.agent_leg {
                    // The agent picked up: now dial the caller through the trunk.
                    let agent_media = ob.agent_media;
                    if let Some(r) = remote {
                        let _ = self.media.set_remote(agent_media, r);
                    }
                    if let Ok(a) = self.prompts.prompt("patientez") {
                        let _ = self.media.play(
                            agent_media,
                            Playlist {
                                items: vec![a],
                                looped: false,
                                barge_in: false,
                            },
                        );
                    }
                    let number = ob.number.clone();
                    // The caller's leg will be bridged to the agent's: offer its codec first.
                    let agent_codec = negotiated.as_ref().map(|n| n.codec);
                    let (local, offer) = match self.outbound_media(agent_codec) {
                        Ok(m) => m,
                        Err(e) => {
                            warn!(error = %e, "no RTP port for the callback");
                            self.end_callback(id, CallOutcome::Rejected, now).await;
                            return;
                        }
                    };
                    match self.sip.call_external(&number, offer) {
                        Ok(customer) => {
                            info!("callback: the agent answered, dialling the caller");
                            self.outbound_legs.insert(customer.clone(), id);
                            if let Some(ob) = self.outbound.get_mut(&id) {
                                ob.customer = Some((customer, local.session));
                            }
                        }
                        Err(e) => {
                            warn!(error = %e, "callback: cannot dial the caller");
                            let _ = self.media.release(local.session);
                            self.end_callback(id, CallOutcome::Rejected, now).await;
                        }
                    }
                } else if let Some((_, customer_media)) = ob.customer {
                    let (agent_media, record, agent) =
                        (ob.agent_media, ob.record, ob.agent.clone());
                    if let Some(r) = remote {
                        let _ = self.media.set_remote(customer_media, r);
                    }
                    let _ = self.media.stop(agent_media);
                    match self.media.bridge(customer_media, agent_media) {
                        Ok(b) => {
                            if let Some(ob) = self.outbound.get_mut(&id) {
                                ob.bridged = Some(b);
                            }
                        }
                        Err(e) => warn!(error = %e, "callback: cannot bridge"),
                    }
                    info!("callback: the caller answered, legs bridged");
                    self.update(record, CallUpdate::Answered { at: now, agent })
                        .await;
                }
            }
            OutboundProgress::Failed { code } => {
                info!(code, "callback leg failed");
                self.end_callback(id, CallOutcome::Rejected, now).await;
            }
        }
    }

    async fn on_callback_leg_ended(&mut self, leg: SipCallId) {
        let Some(id) = self.outbound_legs.get(&leg).copied() else {
            return;
        };
        let now = self.clock.now();
        let answered = self
            .outbound
            .get(&id)
            .is_some_and(|ob| ob.bridged.is_some());
        let outcome = if answered {
            CallOutcome::Answered
        } else {
            CallOutcome::Rejected
        };
        self.end_callback(id, outcome, now).await;
    }

    /// Ends both legs of a callback, closes its record; a conversation marks the request
    /// done, anything else leaves it pending for another try.
    async fn end_callback(&mut self, id: i64, outcome: CallOutcome, now: DateTime<Utc>) {
        let Some(ob) = self.outbound.remove(&id) else {
            return;
        };
        if let (Some((leg, customer)), Some(_)) = (&ob.customer, ob.bridged) {
            self.write_callback_quality(ob.record, leg, *customer, ob.agent_media);
        }
        self.outbound_legs.remove(&ob.agent_leg);
        self.hang_up_after_log(&ob.agent_leg);
        let _ = self.media.release(ob.agent_media);
        if let Some((leg, media)) = &ob.customer {
            self.outbound_legs.remove(leg);
            self.hang_up_after_log(leg);
            let _ = self.media.release(*media);
        }
        if let Some(b) = ob.bridged {
            let _ = self.media.unbridge(b);
        }
        self.close_record(ob.record, outcome, now, false).await;
        if outcome == CallOutcome::Answered {
            match self
                .store
                .finish_callback(
                    ob.callback,
                    guichet_tickets::admin::CallbackStatus::Done,
                    &ob.agent,
                    now,
                )
                .await
            {
                Ok(()) => info!(callback = ob.callback, "callback done"),
                Err(e) => warn!(error = %e, "callback not marked done"),
            }
        } else {
            info!(
                callback = ob.callback,
                "callback failed; the request stays pending"
            );
        }
        if ob.resume_agent
            && let Err(e) = self.acd.unpause(now, &ob.agent)
        {
            debug!(error = %e, "agent not resumed after the callback");
        }
        self.drain_acd().await;
    }

    // ---- media --------------------------------------------------------------------------

    async fn on_media(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::Dtmf {
                session,
                digit,
                source,
                ..
            } => {
                let Some(sip_id) = self.by_media.get(&session).cloned() else {
                    return;
                };
                let source = match source {
                    DtmfSource::SipInfo => DigitSource::SipInfo,
                    _ => DigitSource::Rfc4733,
                };
                self.ivr_input(&sip_id, IvrInput::Digit { digit, source })
                    .await;
            }
            MediaEvent::PlaybackFinished {
                session, playback, ..
            } => {
                let Some(sip_id) = self.by_media.get(&session).cloned() else {
                    return;
                };
                let Some(call) = self.calls.get_mut(&sip_id) else {
                    return;
                };
                if call.final_play == Some(playback) {
                    call.final_play = None;
                    let now = self.clock.now();
                    self.hang_up_after_log(&sip_id);
                    self.finish_call(&sip_id, None, now).await;
                    return;
                }
                if let Some((play, media_play)) = call.ivr_play
                    && media_play == playback
                {
                    call.ivr_play = None;
                    self.ivr_input(&sip_id, IvrInput::PromptFinished { play })
                        .await;
                    return;
                }
                if call.phase == Phase::Queued && call.hold_play == Some(playback) {
                    // An announcement (or the hold music) ended: back to the music.
                    self.play_hold_music(&sip_id);
                }
            }
            MediaEvent::NoMedia { session } => {
                if let Some(sip_id) = self.by_media.get(&session).cloned() {
                    info!(call_id = %sip_id, "no RTP from the caller: call ended");
                    self.hang_up_after_log(&sip_id);
                    self.on_remote_hangup(sip_id).await;
                }
            }
            _ => {}
        }
    }

    // ---- IVR ----------------------------------------------------------------------------

    async fn ivr_input(&mut self, sip_id: &SipCallId, input: IvrInput) {
        let now = self.clock.now();
        let Some(call) = self.calls.get_mut(sip_id) else {
            return;
        };
        let Some(line) = self.lines.get(&call.line) else {
            return;
        };
        if let Some(ivr) = call.ivr.as_mut() {
            let env = LineEnv {
                hours: &line.calendar,
                board: &self.board,
            };
            ivr.handle_input(input, now, env);
        }
        self.drain_ivr(sip_id).await;
    }

    async fn drain_ivr(&mut self, sip_id: &SipCallId) {
        // A hang-up is carried out after the actions that follow it (the call-log events of
        // the same step), so that the record is closed with the IVR's own outcome.
        let mut hang_up = false;
        loop {
            let Some(call) = self.calls.get_mut(sip_id) else {
                return;
            };
            let Some(action) = call.ivr.as_mut().and_then(IvrSession::poll_action) else {
                // Every change to a session ends here: its (new) deadline goes in the table.
                let deadline = call.ivr.as_ref().and_then(IvrSession::poll_timeout);
                self.ivr_timers.schedule(sip_id, deadline);
                if hang_up {
                    let now = self.clock.now();
                    self.hang_up_after_log(sip_id);
                    self.finish_call(sip_id, Some(CallOutcome::Closed), now)
                        .await;
                }
                return;
            };
            let now = self.clock.now();
            match action {
                IvrAction::Play {
                    play,
                    items,
                    barge_in,
                } => {
                    let mut audio = Vec::with_capacity(items.len());
                    for item in &items {
                        match self.prompts.item(item) {
                            Ok(a) => audio.push(a),
                            Err(e) => warn!(error = %e, "prompt skipped"),
                        }
                    }
                    let session = call.media;
                    match self.media.play(
                        session,
                        Playlist {
                            items: audio,
                            looped: false,
                            barge_in,
                        },
                    ) {
                        Ok(p) => {
                            if let Some(c) = self.calls.get_mut(sip_id) {
                                c.ivr_play = Some((play, p));
                            }
                        }
                        Err(e) => warn!(error = %e, "cannot play"),
                    }
                }
                IvrAction::StopPlaying { .. } => {
                    let session = call.media;
                    call.ivr_play = None;
                    let _ = self.media.stop(session);
                }
                IvrAction::RouteToQueue { queue, priority } => {
                    self.flush_ivr_logs(sip_id, now).await;
                    let Some(call) = self.calls.get_mut(sip_id) else {
                        return;
                    };
                    let priority = if priority == 0 || call.vip || call.p0 {
                        Priority::Vip
                    } else {
                        Priority::Normal
                    };
                    call.phase = Phase::Queued;
                    call.ivr = None;
                    let (acd, record, line) = (call.acd, call.record, call.line.clone());
                    match self.acd.enqueue(now, acd, &queue, priority, &line) {
                        Ok(()) => {
                            info!(%queue, ?priority, "queued");
                            self.update(record, CallUpdate::Queued { at: now, queue })
                                .await;
                            self.play_hold_music(sip_id);
                        }
                        Err(e) => {
                            warn!(error = %e, "cannot queue: call ended");
                            self.close_record(record, CallOutcome::Rejected, now, false)
                                .await;
                            if let Some(c) = self.calls.get_mut(sip_id) {
                                c.closed = true;
                            }
                            self.play_then_hang_up(sip_id, "appel_termine").await;
                        }
                    }
                    self.drain_acd().await;
                    return;
                }
                IvrAction::Transfer { number } => {
                    self.flush_ivr_logs(sip_id, now).await;
                    let Some(call) = self.calls.get_mut(sip_id) else {
                        return;
                    };
                    call.ivr = None;
                    let record = call.record;
                    self.update(
                        record,
                        CallUpdate::Overflowed {
                            at: now,
                            target: number.clone(),
                        },
                    )
                    .await;
                    self.transfer_external(sip_id, &number).await;
                    return;
                }
                IvrAction::HangUp => hang_up = true,
                IvrAction::Log(event) => self.log_ivr_event(sip_id, event, now).await,
            }
        }
    }

    /// Writes the call-log events the session still holds (the IVR's exit) before the call
    /// leaves the menu and the session is dropped.
    async fn flush_ivr_logs(&mut self, sip_id: &SipCallId, now: DateTime<Utc>) {
        let mut events = Vec::new();
        if let Some(ivr) = self.calls.get_mut(sip_id).and_then(|c| c.ivr.as_mut()) {
            while let Some(action) = ivr.poll_action() {
                match action {
                    IvrAction::Log(event) => events.push(event),
                    other => debug!(?other, "IVR action after the exit ignored"),
                }
            }
        }
        for event in events {
            self.log_ivr_event(sip_id, event, now).await;
        }
    }

    async fn log_ivr_event(&mut self, sip_id: &SipCallId, event: IvrEvent, now: DateTime<Utc>) {
        let Some(call) = self.calls.get_mut(sip_id) else {
            return;
        };
        let record = call.record;
        if let IvrEvent::Left { outcome, node } = &event {
            self.update(
                record,
                CallUpdate::IvrExited {
                    at: now,
                    node: node.clone(),
                },
            )
            .await;
            let Some(call) = self.calls.get_mut(sip_id) else {
                return;
            };
            let outcome = match outcome {
                IvrOutcome::HungUp => Some(CallOutcome::Closed),
                IvrOutcome::CallerHungUp => Some(CallOutcome::AbandonedInIvr),
                IvrOutcome::Queued { .. } | IvrOutcome::Transferred { .. } => None,
            };
            if let Some(outcome) = outcome {
                call.closed = true;
                self.close_record(record, outcome, now, false).await;
            }
        }
        let detail = serde_json::to_string(&event).unwrap_or_default();
        self.call_log.write(CallLogWrite::Event {
            call: record,
            at: now,
            kind: "ivr".to_owned(),
            detail,
        });
    }

    // ---- ACD ----------------------------------------------------------------------------

    async fn drain_acd(&mut self) {
        let mut changed = false;
        loop {
            let now = self.clock.now();
            if let Some(action) = self.acd.poll_action() {
                changed = true;
                self.on_acd_action(action, now).await;
                continue;
            }
            if let Some(event) = self.acd.poll_event() {
                changed = true;
                self.on_acd_event(event, now).await;
                continue;
            }
            break;
        }
        if changed {
            // Wakes the live pages; they render at most every 100 ms however often this is.
            self.acd_changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    async fn on_acd_action(&mut self, action: AcdAction, now: DateTime<Utc>) {
        match action {
            AcdAction::Ring { call, agent, .. } => {
                self.ring(call, agent.as_str().to_owned(), now).await
            }
            AcdAction::CancelRing { call, agent } => {
                let Some(sip_id) = self.by_acd.get(&call).cloned() else {
                    return;
                };
                self.browser_ring_cancelled(&sip_id, agent.as_str());
                if let Some(c) = self.calls.get_mut(&sip_id)
                    && c.agent
                        .as_ref()
                        .is_some_and(|a| a.agent == agent.as_str() && !a.answered)
                    && let Some(a) = c.agent.take()
                {
                    info!(agent = %a.agent, "offer withdrawn: CANCEL");
                    self.by_leg.remove(&a.sip);
                    self.hang_up_after_log(&a.sip);
                    let _ = self.media.release(a.media);
                }
            }
            AcdAction::Announce {
                call,
                position,
                expected_wait_secs,
            } => {
                let Some(sip_id) = self.by_acd.get(&call).cloned() else {
                    return;
                };
                let ids = guichet_ivr::say::queue_announcement(position, expected_wait_secs);
                let mut audio = Vec::new();
                for id in &ids {
                    match self.prompts.prompt(id) {
                        Ok(a) => audio.push(a),
                        Err(e) => warn!(error = %e, "announcement fragment skipped"),
                    }
                }
                let music = self.hold_music();
                if let Some(c) = self.calls.get_mut(&sip_id)
                    && c.phase == Phase::Queued
                {
                    let session = c.media;
                    // The music resumes in the media clock on the frame after the
                    // announcement, with no gap (not through this task's events).
                    if let Ok((_, music)) = self.media.play_then(
                        session,
                        Playlist {
                            items: audio,
                            looped: false,
                            barge_in: false,
                        },
                        music,
                    ) {
                        c.hold_play = Some(music);
                    }
                }
            }
            AcdAction::TransferExternal { call, number } => {
                let Some(sip_id) = self.by_acd.get(&call).cloned() else {
                    return;
                };
                if let Some(c) = self.calls.get(&sip_id) {
                    let record = c.record;
                    self.update(
                        record,
                        CallUpdate::Overflowed {
                            at: now,
                            target: number.clone(),
                        },
                    )
                    .await;
                }
                self.transfer_external(&sip_id, &number).await;
            }
            AcdAction::Callback { call, queue, .. } => {
                let Some(sip_id) = self.by_acd.get(&call).cloned() else {
                    return;
                };
                if let Some(c) = self.calls.get(&sip_id) {
                    let (record, number, name) =
                        (c.record, c.caller_number.clone(), c.caller_name.clone());
                    match self
                        .store
                        .create_callback(Some(record), &number, name.as_deref(), &queue, now)
                        .await
                    {
                        Ok(id) => info!(callback = id, %queue, "callback request recorded"),
                        Err(e) => warn!(error = %e, "callback request not stored"),
                    }
                    self.update(
                        record,
                        CallUpdate::Overflowed {
                            at: now,
                            target: format!("callback:{queue}"),
                        },
                    )
                    .await;
                }
                self.play_then_hang_up(&sip_id, "rappel_enregistre").await;
            }
            AcdAction::Reject { call, .. } => {
                if let Some(sip_id) = self.by_acd.get(&call).cloned() {
                    self.play_then_hang_up(&sip_id, "file_pleine").await;
                }
            }
            AcdAction::Release { call, .. } => {
                if let Some(sip_id) = self.by_acd.get(&call).cloned() {
                    self.hang_up_after_log(&sip_id);
                    self.finish_call(&sip_id, Some(CallOutcome::Answered), now)
                        .await;
                }
            }
        }
    }

    async fn ring(&mut self, call: AcdCallId, agent: String, now: DateTime<Utc>) {
        let Some(sip_id) = self.by_acd.get(&call).cloned() else {
            // The caller is already gone: tell the ACD so the agent is freed.
            let _ = self.acd.call_ended(now, call);
            return;
        };
        // The agent's browser softphone rings too, when their page is open.
        let browser = self.ring_browser(&sip_id, &agent);
        let Some(extension) = self.extension_of.get(&agent).cloned() else {
            if browser {
                self.browser_offered(&sip_id, agent, now).await;
            } else {
                let _ = self.acd.offer_failed(now, &agent, call);
            }
            return;
        };
        let caller_codec = self.calls.get(&sip_id).map(|c| c.codec);
        let (local, offer) = match self.outbound_media(caller_codec) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no RTP port for the agent leg");
                if browser {
                    self.browser_offered(&sip_id, agent, now).await;
                } else {
                    let _ = self.acd.offer_failed(now, &agent, call);
                }
                return;
            }
        };
        let Some(c) = self.calls.get_mut(&sip_id) else {
            let _ = self.media.release(local.session);
            return;
        };
        let display = Some(match (&c.caller_name, c.vip) {
            (Some(n), true) => format!("VIP {n}"),
            (Some(n), false) => n.clone(),
            (None, true) => format!("VIP {}", c.caller_number),
            (None, false) => c.caller_number.clone(),
        });
        match self.sip.ring_agent(
            CallTarget::Registered(extension),
            &c.caller_number,
            display,
            offer,
        ) {
            Ok(leg) => {
                info!(%agent, "ringing the agent's desk phone");
                c.agent = Some(AgentLeg {
                    agent: agent.clone(),
                    sip: leg.clone(),
                    media: local.session,
                    answered: false,
                });
                let record = c.record;
                self.by_leg.insert(leg, sip_id);
                self.update(record, CallUpdate::Offered { at: now, agent })
                    .await;
            }
            Err(e) => {
                info!(%agent, error = %e, "cannot ring the agent");
                let _ = self.media.release(local.session);
                if browser {
                    self.browser_offered(&sip_id, agent, now).await;
                } else {
                    let _ = self.acd.offer_failed(now, &agent, call);
                }
            }
        }
    }

    async fn on_acd_event(&mut self, event: AcdEvent, now: DateTime<Utc>) {
        if let AcdEvent::CallFinished { call, facts } = event {
            let record = self.records.remove(&call).or_else(|| {
                self.by_acd
                    .get(&call)
                    .and_then(|s| self.calls.get(s))
                    .map(|c| c.record)
            });
            let Some(record) = record else {
                return;
            };
            if facts.outcome == CallOutcome::Answered {
                let at = facts.wrap_up_ended.unwrap_or(now);
                self.update(record, CallUpdate::WrapUpEnded { at }).await;
            } else {
                let ended = facts.ended.unwrap_or(now);
                self.close_record(record, facts.outcome, ended, false).await;
                if let Some(sip_id) = self.by_acd.get(&call).cloned()
                    && let Some(c) = self.calls.get_mut(&sip_id)
                {
                    c.closed = true;
                }
            }
        }
    }

    /// Music on hold, looped, while the caller waits in a queue.
    fn hold_music(&self) -> Playlist {
        Playlist {
            items: vec![self.prompts.music_on_hold()],
            looped: true,
            barge_in: false,
        }
    }

    fn play_hold_music(&mut self, sip_id: &SipCallId) {
        let music = self.hold_music();
        let Some(call) = self.calls.get_mut(sip_id) else {
            return;
        };
        if let Ok(p) = self.media.play(call.media, music) {
            call.hold_play = Some(p);
        }
    }

    async fn play_then_hang_up(&mut self, sip_id: &SipCallId, prompt: &str) {
        let audio = match self.prompts.prompt(prompt) {
            Ok(a) => vec![a],
            Err(e) => {
                warn!(error = %e, "closing prompt missing");
                Vec::new()
            }
        };
        let Some(call) = self.calls.get_mut(sip_id) else {
            return;
        };
        call.phase = Phase::Leaving;
        call.ivr = None;
        match self.media.play(
            call.media,
            Playlist {
                items: audio,
                looped: false,
                barge_in: false,
            },
        ) {
            Ok(p) => call.final_play = Some(p),
            Err(_) => {
                let now = self.clock.now();
                self.hang_up_after_log(sip_id);
                self.finish_call(sip_id, None, now).await;
            }
        }
    }

    async fn transfer_external(&mut self, sip_id: &SipCallId, number: &str) {
        let caller_codec = self.calls.get(sip_id).map(|c| c.codec);
        let (local, offer) = match self.outbound_media(caller_codec) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no RTP port for the transfer");
                self.play_then_hang_up(sip_id, "appel_termine").await;
                return;
            }
        };
        match self.sip.call_external(number, offer) {
            Ok(leg) => {
                info!("transferring to an external number");
                if let Some(c) = self.calls.get_mut(sip_id) {
                    c.phase = Phase::Leaving;
                    c.external = Some((leg.clone(), local.session));
                    if let Ok(a) = self.prompts.prompt("transfert") {
                        let _ = self.media.play(
                            c.media,
                            Playlist {
                                items: vec![a],
                                looped: false,
                                barge_in: false,
                            },
                        );
                    }
                }
                self.by_leg.insert(leg, sip_id.clone());
            }
            Err(e) => {
                warn!(error = %e, "cannot place the transfer");
                let _ = self.media.release(local.session);
                self.play_then_hang_up(sip_id, "appel_termine").await;
            }
        }
    }

    // ---- timers and load ------------------------------------------------------------------

    async fn on_timers(&mut self) {
        let now = self.clock.now();
        if self.acd.poll_timeout().is_some_and(|t| t <= now) {
            self.acd.handle_timeout(now);
            self.drain_acd().await;
        }
        for sip_id in self.ivr_timers.take_due(now) {
            if let Some(call) = self.calls.get_mut(&sip_id)
                && let Some(line) = self.lines.get(&call.line)
                && let Some(ivr) = call.ivr.as_mut()
                && ivr.poll_timeout().is_some_and(|t| t <= now)
            {
                let env = LineEnv {
                    hours: &line.calendar,
                    board: &self.board,
                };
                ivr.handle_timeout(now, env);
            }
            self.drain_ivr(&sip_id).await;
        }
        let mut decisions = Vec::new();
        for line in self.lines.values_mut() {
            if line.deterrence.poll_timeout().is_some_and(|t| t <= now) {
                line.deterrence.handle_timeout(now);
            }
            while let Some(d) = line.deterrence.poll_decision() {
                decisions.push(d);
            }
        }
        for d in decisions {
            if let Some(entry) = self.board.apply_deterrence(&d, now) {
                info!(?d, "automatic deterrence");
                self.journal(&entry).await;
            }
        }
        if self.board.next_expiry().is_some_and(|t| t <= now) {
            for entry in self.board.expire(now) {
                self.journal(&entry).await;
            }
        }
    }

    /// Once a second: queue load into the deterrence controllers, opening hours into the ACD.
    async fn on_load_tick(&mut self) {
        let now = self.clock.now();
        self.refusals.hand_over_counts(&self.call_log);
        self.sync_queue_hours(now);
        self.sync_stored_messages(now).await;
        let snapshot = self.acd.snapshot(now);
        for line in self.lines.values_mut() {
            let mut sample = LoadSample {
                calls_waiting: 0,
                longest_wait_secs: 0,
            };
            for q in snapshot
                .queues
                .iter()
                .filter(|q| line.queues.contains(&q.name))
            {
                sample.calls_waiting += u32::try_from(q.waiting.len()).unwrap_or(u32::MAX);
                sample.longest_wait_secs = sample
                    .longest_wait_secs
                    .max(u64::try_from(q.longest_wait_secs).unwrap_or(0));
            }
            line.deterrence.observe(sample, now);
        }
        self.drain_acd().await;
        self.on_timers().await;
    }

    /// Picks up crisis and deterrence messages saved or removed in the store by someone else.
    async fn sync_stored_messages(&mut self, now: DateTime<Utc>) {
        let numbers: Vec<String> = self.lines.keys().cloned().collect();
        for line in numbers {
            for kind in [MessageKind::Crisis, MessageKind::Deterrence] {
                let stored = match self
                    .store
                    .active_message(&line, store_kind(kind), now)
                    .await
                {
                    Ok(m) => m,
                    Err(e) => {
                        debug!(error = %e, "stored messages not read");
                        return;
                    }
                };
                let key = (line.clone(), kind);
                let known = self.stored_messages.get(&key).copied().flatten();
                if stored.as_ref().map(|m| m.id) == known {
                    continue;
                }
                self.stored_messages
                    .insert(key, stored.as_ref().map(|m| m.id));
                match stored {
                    Some(m) => {
                        let actor = Actor {
                            name: m.author.clone(),
                            role: guichet_ivr::Role::Supervisor,
                        };
                        let message = m.message;
                        let audio = message
                            .audio_path
                            .as_ref()
                            .map(|p| MessageAudio::File(p.into()))
                            .unwrap_or_else(|| {
                                MessageAudio::Prompt(default_prompt(kind).to_owned())
                            });
                        let draft = MessageDraft {
                            text: message.text,
                            audio,
                            starts_at: message.starts_at,
                            ends_at: message.ends_at,
                        };
                        // The store journaled the change when it was saved.
                        match self.board.set(&actor, &line, kind, draft, now) {
                            Ok(_) => info!(%line, ?kind, author = %m.author, "stored message live"),
                            Err(e) => warn!(%line, error = %e, "stored message refused"),
                        }
                    }
                    None => {
                        let actor = Actor {
                            name: "store".to_owned(),
                            role: guichet_ivr::Role::Supervisor,
                        };
                        if self.board.manual(&line, kind).is_some() {
                            let _ = self.board.remove(&actor, &line, kind, now);
                            info!(%line, ?kind, "stored message removed");
                        }
                    }
                }
            }
        }
    }

    /// A queue is open when any line that routes to it is open.
    fn sync_queue_hours(&mut self, now: DateTime<Utc>) {
        let mut open: HashMap<&str, bool> = HashMap::new();
        for line in self.lines.values() {
            let is_open = line.calendar.is_open(now);
            for q in &line.queues {
                let e = open.entry(q.as_str()).or_insert(false);
                *e |= is_open;
            }
        }
        for (queue, is_open) in open {
            let _ = self.acd.set_queue_open(now, queue, is_open);
        }
    }

    // ---- ending calls -------------------------------------------------------------------

    /// Releases a caller's call: its media, its legs, its maps; closes its record with
    /// `outcome` when given and the record is still open.
    async fn finish_call(
        &mut self,
        sip_id: &SipCallId,
        outcome: Option<CallOutcome>,
        now: DateTime<Utc>,
    ) {
        self.end_monitors(sip_id, "L'appel est terminé : l'écoute aussi.")
            .await;
        let Some(call) = self.calls.remove(sip_id) else {
            return;
        };
        self.by_media.remove(&call.media);
        self.write_call_quality(&call);
        let _ = self.media.release(call.media);
        if let Some(b) = call.bridge {
            let _ = self.media.unbridge(b);
        }
        if let Some(a) = &call.agent {
            self.by_leg.remove(&a.sip);
            self.hang_up_after_log(&a.sip);
            let _ = self.media.release(a.media);
        }
        if let Some((leg, m)) = &call.external {
            self.by_leg.remove(leg);
            self.hang_up_after_log(leg);
            let _ = self.media.release(*m);
        }
        if let Some(leg) = &call.browser {
            self.release_browser_leg(leg);
        }
        let in_acd = matches!(call.phase, Phase::Queued | Phase::Connected) || call.agent.is_some();
        if in_acd {
            // The ACD's CallFinished (abandon outcome, or wrap-up end) still needs the record.
            self.records.insert(call.acd, call.record);
        }
        self.by_acd.remove(&call.acd);
        if !call.closed
            && let Some(outcome) = outcome
        {
            let wrap_up = outcome == CallOutcome::Answered;
            self.close_record(call.record, outcome, now, wrap_up).await;
            if wrap_up {
                self.ticket_for_answered_call(&call, now).await;
            }
        } else if !call.closed && !in_acd && call.phase == Phase::Leaving {
            // Left after a closing prompt (callback confirmation, full queue, transfer):
            // the outcome was written when it was decided, or it is an IVR transfer.
            self.close_record(call.record, CallOutcome::OverflowedExternal, now, false)
                .await;
        }
        debug!(calls = self.calls.len(), "call released");
    }

    /// After a conversation, the agent finds the call attached to the caller's open ticket,
    /// or a new ticket (simplified form) to qualify during wrap-up. The reads and writes run
    /// beside the switchboard, one call after the other (two calls of the same caller find
    /// the ticket the first one opened), after the call log's pending writes.
    async fn ticket_for_answered_call(&self, call: &Call, now: DateTime<Utc>) {
        let job = TicketJob {
            record: call.record,
            agent: call.answered_by.clone(),
            person: call.person.clone(),
            caller_name: call.caller_name.clone(),
            caller_number: call.caller_number.clone(),
            line: self
                .lines
                .get(&call.line)
                .map_or_else(|| call.line.clone(), |l| l.name.clone()),
            vip: call.vip,
            p0: call.p0,
        };
        if self.ticket_jobs.send((job, now)).is_err() {
            warn!("ticket task stopped: no ticket for the call");
        }
    }

    /// Ends every call at the end of the shutdown grace period. Answered calls are closed as
    /// answered; callers still in the menu or the queue are counted as the abandons they
    /// are from the helpdesk's point of view (the ACD writes the queue ones).
    async fn end_all_calls(&mut self) {
        let now = self.clock.now();
        let ids: Vec<SipCallId> = self.calls.keys().cloned().collect();
        for sip_id in ids {
            self.hang_up_after_log(&sip_id);
            let Some(c) = self.calls.get(&sip_id) else {
                continue;
            };
            let outcome = match c.phase {
                Phase::Ivr => Some(CallOutcome::AbandonedInIvr),
                Phase::Connected => Some(CallOutcome::Answered),
                Phase::Queued | Phase::Leaving => None,
            };
            let acd = c.acd;
            let _ = self.acd.call_ended(now, acd);
            self.finish_call(&sip_id, outcome, now).await;
        }
        self.drain_acd().await;
    }

    /// Hands a change of the call record to the call-log writer (committed in order, in
    /// the next batch; failures are logged there).
    async fn update(&self, record: i64, update: CallUpdate) {
        self.call_log.write(CallLogWrite::Update {
            call: record,
            update,
        });
    }

    async fn close_record(
        &self,
        record: i64,
        outcome: CallOutcome,
        at: DateTime<Utc>,
        wrap_up: bool,
    ) {
        self.call_log.write(CallLogWrite::Close {
            call: record,
            outcome,
            at,
            wrap_up,
        });
    }
}

/// What opening the ticket of an answered call needs, taken from the call when it ends.
struct TicketJob {
    record: i64,
    agent: Option<String>,
    person: Option<guichet_tickets::directory::Caller>,
    caller_name: Option<String>,
    caller_number: String,
    /// The line's name.
    line: String,
    vip: bool,
    p0: bool,
}

impl TicketJob {
    async fn run(self, store: &Store, now: DateTime<Utc>) {
        let call = self;
        let agent = call.agent.clone();
        let actor = agent.clone().unwrap_or_else(|| "switchboard".to_owned());
        // The agent may have saved the ticket form during the call: it is the call's ticket.
        match store.tickets_of_call(call.record).await {
            Ok(linked) if !linked.is_empty() => {
                info!(
                    ticket = linked[0],
                    "call already has its ticket (desk form)"
                );
                return;
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "tickets of the call not read"),
        }
        if let Some(person) = &call.person {
            match store.open_ticket_of_person(person.person_id).await {
                Ok(Some(ticket)) => {
                    match store.link_call(ticket, call.record, &actor, now).await {
                        Ok(()) => info!(ticket, "call attached to the caller's open ticket"),
                        Err(e) => warn!(ticket, error = %e, "call not attached to the ticket"),
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "open tickets not read"),
            }
        }
        let requester = call
            .caller_name
            .clone()
            .unwrap_or_else(|| call.caller_number.clone());
        let line = &call.line;
        let mut ticket = guichet_tickets::ticket::NewTicket::simplified(
            guichet_tickets::ticket::Nature::Incident,
            &format!("Appel de {requester} ({line})"),
            &requester,
        );
        ticket.requester_person_id = call.person.as_ref().map(|p| p.person_id);
        ticket.entity = call.person.as_ref().map(|p| p.entity.clone());
        ticket.site = call.person.as_ref().map(|p| p.site.clone());
        ticket.vip = call.vip;
        ticket.p0 = call.p0;
        ticket.assignee = agent;
        ticket.call_id = Some(call.record);
        match store.create_ticket(&ticket, &actor, now).await {
            Ok(id) => info!(ticket = id, "ticket opened for the agent to qualify"),
            Err(e) => warn!(error = %e, "ticket not opened"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_number;

    #[test]
    fn caller_numbers_are_cut_to_their_last_two_characters_even_when_not_ascii() {
        assert_eq!(redact_number("+33140158001"), "…01");
        assert_eq!(redact_number("7"), "…7");
        assert_eq!(redact_number("appelé"), "…lé");
        assert_eq!(redact_number(""), "…");
    }
}
