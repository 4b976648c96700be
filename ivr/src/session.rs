//! The sans-IO voice-menu session: one per call.
//!
//! Inputs go in with `now` ([`IvrSession::handle_input`], [`IvrSession::handle_timeout`]);
//! actions come out of [`IvrSession::poll_action`]; [`IvrSession::poll_timeout`] says when to
//! wake the session. The opening state and the line messages are read through a [`LineEnv`]
//! at the moment the caller reaches the node that needs them, never cached at call start.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::flow::{Flow, NodeSpec};
use crate::messages::{MessageAudio, MessageBoard, MessageKind};

/// Opening state of a line at an instant (as the calendar computes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenState {
    /// Within opening hours.
    Open,
    /// Outside opening hours.
    Closed,
    /// Public holiday (name in French, e.g. « Ascension »).
    Holiday {
        /// Name of the holiday.
        name: String,
    },
    /// Exceptional closure (takes the `closed` branch).
    ExceptionalClosure {
        /// Label given in the calendar configuration.
        label: String,
    },
}

impl From<guichet_calendar::OpenState> for OpenState {
    fn from(state: guichet_calendar::OpenState) -> Self {
        match state {
            guichet_calendar::OpenState::Open => OpenState::Open,
            guichet_calendar::OpenState::Closed => OpenState::Closed,
            guichet_calendar::OpenState::Holiday { name } => OpenState::Holiday {
                name: name.to_owned(),
            },
            guichet_calendar::OpenState::ExceptionalClosure { label } => {
                OpenState::ExceptionalClosure { label }
            }
        }
    }
}

impl HoursOracle for guichet_calendar::Calendar {
    fn open_state(&self, now: DateTime<Utc>) -> OpenState {
        self.state_at(now).into()
    }
}

/// Tells the session whether the line is open at an instant. The line's
/// [`guichet_calendar::Calendar`] implements it; so do a fixed [`OpenState`] and any
/// `Fn(DateTime<Utc>) -> OpenState` (handy in tests).
pub trait HoursOracle {
    /// Opening state of the line at `now`.
    fn open_state(&self, now: DateTime<Utc>) -> OpenState;
}

impl HoursOracle for OpenState {
    fn open_state(&self, _now: DateTime<Utc>) -> OpenState {
        self.clone()
    }
}

impl<F: Fn(DateTime<Utc>) -> OpenState> HoursOracle for F {
    fn open_state(&self, now: DateTime<Utc>) -> OpenState {
        self(now)
    }
}

/// What a session may look up while it runs: the line's hours and the live message board.
#[derive(Clone, Copy)]
pub struct LineEnv<'a> {
    /// Opening hours of the line.
    pub hours: &'a dyn HoursOracle,
    /// Crisis and deterrence messages, as the switchboard keeps them.
    pub board: &'a MessageBoard,
}

/// Who is calling, as the switchboard identified them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerContext {
    /// Line called (e.g. `8585`); selects the line's messages.
    pub line: String,
    /// Caller is on the VIP list.
    pub vip: bool,
    /// Caller is in one of their P0 periods.
    pub p0: bool,
}

/// How a key press reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitSource {
    /// RFC 4733 telephone-event over RTP.
    Rfc4733,
    /// SIP INFO (application/dtmf-relay or application/dtmf).
    SipInfo,
    /// The browser softphone (WebRTC, RFC 4733 over SRTP).
    WebRtc,
}

/// Identifies one playback so a late "finished" for an older one is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PlayId(pub u64);

/// One thing to play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayItem {
    /// A catalogue prompt id (resolve with [`crate::PromptCatalogue::resolve_wav`]).
    Prompt(String),
    /// A WAV file (e.g. a synthesised crisis message).
    File(PathBuf),
}

impl From<&MessageAudio> for PlayItem {
    fn from(audio: &MessageAudio) -> Self {
        match audio {
            MessageAudio::Prompt(id) => PlayItem::Prompt(id.clone()),
            MessageAudio::File(path) => PlayItem::File(path.clone()),
        }
    }
}

/// An input to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrInput {
    /// The call was answered and media flows: run the flow from its start node.
    Started,
    /// A key press (`0-9`, `*`, `#`; anything else is ignored).
    Digit {
        /// The key.
        digit: char,
        /// Where it came from.
        source: DigitSource,
    },
    /// The media layer finished (or stopped) a playback.
    PromptFinished {
        /// Which one.
        play: PlayId,
    },
    /// The caller hung up.
    CallerHungUp,
}

/// How the call left the voice menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IvrOutcome {
    /// Into an ACD queue.
    Queued {
        /// Queue name.
        queue: String,
        /// Priority (lower first).
        priority: u8,
    },
    /// Transferred to a number.
    Transferred {
        /// The number.
        number: String,
    },
    /// The flow hung up (closed, holiday, goodbye...).
    HungUp,
    /// The caller hung up in the menu.
    CallerHungUp,
}

/// Why a menu attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Keys that match no choice.
    Invalid {
        /// The keys pressed.
        digits: String,
    },
    /// No key in time.
    NoInput,
}

/// An event for the call log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IvrEvent {
    /// The call reached a node.
    NodeEntered {
        /// Node name.
        node: String,
    },
    /// Opening hours were checked.
    HoursChecked {
        /// Node name.
        node: String,
        /// State found.
        state: OpenState,
    },
    /// The VIP flag was checked.
    VipChecked {
        /// Node name.
        node: String,
        /// Whether the VIP branch was taken.
        vip: bool,
    },
    /// A crisis or deterrence message was played.
    MessagePlayed {
        /// Node name.
        node: String,
        /// Which kind.
        kind: MessageKind,
        /// Its author.
        author: String,
        /// Its start (identifies the version heard).
        starts_at: DateTime<Utc>,
    },
    /// A key press interrupted a prompt.
    BargeIn {
        /// Node name.
        node: String,
    },
    /// A key pressed during a prompt that cannot be interrupted was discarded.
    DigitIgnored {
        /// Node name.
        node: String,
        /// The key.
        digit: char,
    },
    /// A menu choice was accepted.
    ChoiceAccepted {
        /// Menu node.
        node: String,
        /// Keys of the choice.
        choice: String,
        /// Node it leads to.
        next: String,
        /// Source of the last key.
        source: DigitSource,
    },
    /// A menu attempt failed.
    InputRejected {
        /// Menu node.
        node: String,
        /// Why.
        reason: RejectReason,
        /// Failed attempts so far on this menu.
        attempt: u32,
    },
    /// A menu's attempts are exhausted; the call goes to its failure node.
    RetriesExhausted {
        /// Menu node.
        node: String,
    },
    /// No end of playback was reported within the flow's playback guard; the session went on.
    PlaybackGuardExpired {
        /// Node name.
        node: String,
    },
    /// The call left the voice menu.
    Left {
        /// How.
        outcome: IvrOutcome,
        /// Last node.
        node: String,
    },
}

/// What the switchboard must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrAction {
    /// Play these items in order, then report [`IvrInput::PromptFinished`] with `play`.
    Play {
        /// Playback id.
        play: PlayId,
        /// What to play.
        items: Vec<PlayItem>,
        /// Whether a key press interrupts it (the session then sends [`IvrAction::StopPlaying`]).
        barge_in: bool,
    },
    /// Stop a playback at once (barge-in). No `PromptFinished` is needed for it.
    StopPlaying {
        /// Playback id.
        play: PlayId,
    },
    /// Put the call in this ACD queue.
    RouteToQueue {
        /// Queue name.
        queue: String,
        /// Priority (lower first; 0 is the VIP/P0 level).
        priority: u8,
    },
    /// Transfer the call to this number.
    Transfer {
        /// Number.
        number: String,
    },
    /// Hang up the call.
    HangUp,
    /// Record this event in the call log.
    Log(IvrEvent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterPlay {
    Goto(String),
    Collect,
    HangUp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    NotStarted,
    Playing {
        play: PlayId,
        then: AfterPlay,
        barge_in: bool,
        guard: DateTime<Utc>,
    },
    Collecting {
        deadline: DateTime<Utc>,
    },
    Finished,
}

/// The voice menu of one call.
#[derive(Debug, Clone)]
pub struct IvrSession {
    flow: Arc<Flow>,
    caller: CallerContext,
    created_at: DateTime<Utc>,
    state: State,
    node: String,
    attempts: u32,
    digits: String,
    last_source: DigitSource,
    next_play: u64,
    actions: VecDeque<IvrAction>,
}

fn millis(ms: u64) -> TimeDelta {
    TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 1_000_000))
}

impl IvrSession {
    /// A session for a new call on `flow`; nothing happens until [`IvrInput::Started`].
    pub fn new(flow: Arc<Flow>, caller: CallerContext, now: DateTime<Utc>) -> Self {
        let node = flow.start().to_owned();
        Self {
            flow,
            caller,
            created_at: now,
            state: State::NotStarted,
            node,
            attempts: 0,
            digits: String::new(),
            last_source: DigitSource::Rfc4733,
            next_play: 0,
            actions: VecDeque::new(),
        }
    }

    /// The caller this session serves.
    pub fn caller(&self) -> &CallerContext {
        &self.caller
    }

    /// When the session was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The node the call is at.
    pub fn current_node(&self) -> &str {
        &self.node
    }

    /// Whether the call has left the voice menu (no more inputs are taken).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<IvrAction> {
        self.actions.pop_front()
    }

    /// When [`IvrSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        match self.state {
            State::Playing { guard, .. } => Some(guard),
            State::Collecting { deadline } => Some(deadline),
            State::NotStarted | State::Finished => None,
        }
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, input: IvrInput, now: DateTime<Utc>, env: LineEnv<'_>) {
        if self.state == State::Finished {
            return;
        }
        match input {
            IvrInput::Started => {
                if self.state == State::NotStarted {
                    let start = self.flow.start().to_owned();
                    self.goto(start, now, env);
                }
            }
            IvrInput::CallerHungUp => {
                self.finish(IvrOutcome::CallerHungUp);
            }
            IvrInput::PromptFinished { play } => {
                if let State::Playing {
                    play: current,
                    then,
                    ..
                } = &self.state
                    && *current == play
                {
                    let then = then.clone();
                    self.after_play(then, now, env);
                }
            }
            IvrInput::Digit { digit, source } => self.digit(digit, source, now, env),
        }
    }

    /// Fires whatever timer is due at `now` (menu timeouts, playback guard).
    pub fn handle_timeout(&mut self, now: DateTime<Utc>, env: LineEnv<'_>) {
        match &self.state {
            State::Playing { guard, then, .. } if *guard <= now => {
                let then = then.clone();
                self.log(IvrEvent::PlaybackGuardExpired {
                    node: self.node.clone(),
                });
                self.after_play(then, now, env);
            }
            State::Collecting { deadline } if *deadline <= now => {
                if self.digits.is_empty() {
                    self.reject(RejectReason::NoInput, now, env);
                } else {
                    self.complete_digits(now, env);
                }
            }
            _ => {}
        }
    }

    fn log(&mut self, event: IvrEvent) {
        self.actions.push_back(IvrAction::Log(event));
    }

    fn finish(&mut self, outcome: IvrOutcome) {
        tracing::debug!(flow = self.flow.name(), node = %self.node, ?outcome, "call left the IVR");
        self.state = State::Finished;
        self.log(IvrEvent::Left {
            outcome,
            node: self.node.clone(),
        });
    }

    fn play(&mut self, items: Vec<PlayItem>, barge_in: bool, then: AfterPlay, now: DateTime<Utc>) {
        self.next_play += 1;
        let play = PlayId(self.next_play);
        self.actions.push_back(IvrAction::Play {
            play,
            items,
            barge_in,
        });
        self.state = State::Playing {
            play,
            then,
            barge_in,
            guard: now + millis(self.flow.playback_guard_ms()),
        };
    }

    fn after_play(&mut self, then: AfterPlay, now: DateTime<Utc>, env: LineEnv<'_>) {
        match then {
            AfterPlay::Goto(next) => self.goto(next, now, env),
            AfterPlay::HangUp => {
                self.actions.push_back(IvrAction::HangUp);
                self.finish(IvrOutcome::HungUp);
            }
            AfterPlay::Collect => {
                let timeout = match self.flow.node(&self.node) {
                    Some(NodeSpec::Menu {
                        first_digit_timeout_ms,
                        ..
                    }) => *first_digit_timeout_ms,
                    _ => crate::flow::DEFAULT_FIRST_DIGIT_TIMEOUT_MS,
                };
                self.state = State::Collecting {
                    deadline: now + millis(timeout),
                };
            }
        }
    }

    /// Walks the flow from `name` until a node has to wait (play, menu) or the call leaves.
    fn goto(&mut self, mut name: String, now: DateTime<Utc>, env: LineEnv<'_>) {
        let flow = Arc::clone(&self.flow);
        // Compiled flows have no loop without input, so this bound is never reached; it
        // only guarantees a bug cannot spin forever.
        for _ in 0..=flow.spec().nodes.len() {
            self.node = name.clone();
            let Some(node) = flow.node(&name) else {
                break;
            };
            self.log(IvrEvent::NodeEntered { node: name.clone() });
            match node {
                NodeSpec::Play {
                    prompts,
                    next,
                    barge_in,
                } => {
                    let items = prompts.iter().cloned().map(PlayItem::Prompt).collect();
                    self.play(items, *barge_in, AfterPlay::Goto(next.clone()), now);
                    return;
                }
                NodeSpec::Menu { .. } => {
                    self.attempts = 0;
                    self.play_menu(Vec::new(), now);
                    return;
                }
                NodeSpec::CheckHours {
                    open,
                    closed,
                    holiday,
                } => {
                    let state = env.hours.open_state(now);
                    name = match &state {
                        OpenState::Open => open.clone(),
                        OpenState::Closed | OpenState::ExceptionalClosure { .. } => closed.clone(),
                        OpenState::Holiday { .. } => holiday.clone().unwrap_or(closed.clone()),
                    };
                    self.log(IvrEvent::HoursChecked {
                        node: self.node.clone(),
                        state,
                    });
                }
                NodeSpec::CheckVip {
                    vip,
                    other,
                    include_p0,
                } => {
                    let is_vip = self.caller.vip || (*include_p0 && self.caller.p0);
                    self.log(IvrEvent::VipChecked {
                        node: self.node.clone(),
                        vip: is_vip,
                    });
                    name = if is_vip { vip.clone() } else { other.clone() };
                }
                NodeSpec::CrisisMessage { next } | NodeSpec::DeterrenceMessage { next } => {
                    let kind = if matches!(node, NodeSpec::CrisisMessage { .. }) {
                        MessageKind::Crisis
                    } else {
                        MessageKind::Deterrence
                    };
                    if let Some(message) = env.board.active(&self.caller.line, kind, now) {
                        let item = PlayItem::from(&message.audio);
                        self.log(IvrEvent::MessagePlayed {
                            node: self.node.clone(),
                            kind,
                            author: message.author.clone(),
                            starts_at: message.starts_at,
                        });
                        self.play(vec![item], false, AfterPlay::Goto(next.clone()), now);
                        return;
                    }
                    name = next.clone();
                }
                NodeSpec::Queue { queue, priority } => {
                    self.actions.push_back(IvrAction::RouteToQueue {
                        queue: queue.clone(),
                        priority: *priority,
                    });
                    self.finish(IvrOutcome::Queued {
                        queue: queue.clone(),
                        priority: *priority,
                    });
                    return;
                }
                NodeSpec::Transfer { number } => {
                    self.actions.push_back(IvrAction::Transfer {
                        number: number.clone(),
                    });
                    self.finish(IvrOutcome::Transferred {
                        number: number.clone(),
                    });
                    return;
                }
                NodeSpec::HangUp { prompts } => {
                    if prompts.is_empty() {
                        self.actions.push_back(IvrAction::HangUp);
                        self.finish(IvrOutcome::HungUp);
                    } else {
                        let items = prompts.iter().cloned().map(PlayItem::Prompt).collect();
                        self.play(items, false, AfterPlay::HangUp, now);
                    }
                    return;
                }
            }
        }
        tracing::error!(flow = flow.name(), node = %name, "IVR walk failed; hanging up");
        self.actions.push_back(IvrAction::HangUp);
        self.finish(IvrOutcome::HungUp);
    }

    /// Plays the current menu, preceded by `before` (invalid-input or timeout prompts).
    fn play_menu(&mut self, before: Vec<String>, now: DateTime<Utc>) {
        self.digits.clear();
        let (prompts, barge_in) = match self.flow.node(&self.node) {
            Some(NodeSpec::Menu {
                prompts, barge_in, ..
            }) => (prompts.clone(), *barge_in),
            _ => (Vec::new(), false),
        };
        let items = before
            .into_iter()
            .chain(prompts)
            .map(PlayItem::Prompt)
            .collect();
        self.play(items, barge_in, AfterPlay::Collect, now);
    }

    fn digit(&mut self, digit: char, source: DigitSource, now: DateTime<Utc>, env: LineEnv<'_>) {
        if !(digit.is_ascii_digit() || digit == '*' || digit == '#') {
            return;
        }
        match &self.state {
            State::Playing {
                play,
                then,
                barge_in,
                ..
            } => {
                let (play, then) = (*play, then.clone());
                if !*barge_in {
                    self.log(IvrEvent::DigitIgnored {
                        node: self.node.clone(),
                        digit,
                    });
                    return;
                }
                self.actions.push_back(IvrAction::StopPlaying { play });
                self.log(IvrEvent::BargeIn {
                    node: self.node.clone(),
                });
                match then {
                    AfterPlay::Collect => {
                        self.after_play(AfterPlay::Collect, now, env);
                        self.collect(digit, source, now, env);
                    }
                    other => self.after_play(other, now, env),
                }
            }
            State::Collecting { .. } => self.collect(digit, source, now, env),
            State::NotStarted | State::Finished => {}
        }
    }

    fn collect(&mut self, digit: char, source: DigitSource, now: DateTime<Utc>, env: LineEnv<'_>) {
        let Some(NodeSpec::Menu {
            choices,
            inter_digit_timeout_ms,
            ..
        }) = self.flow.node(&self.node)
        else {
            return;
        };
        self.last_source = source;
        let hash_is_terminator = digit == '#' && !choices.keys().any(|c| c.contains('#'));
        if hash_is_terminator {
            self.complete_digits(now, env);
            return;
        }
        self.digits.push(digit);
        let exact = choices.contains_key(&self.digits);
        let longer = choices
            .keys()
            .any(|c| c.len() > self.digits.len() && c.starts_with(&self.digits));
        if exact && !longer {
            self.complete_digits(now, env);
        } else if exact || longer {
            self.state = State::Collecting {
                deadline: now + millis(*inter_digit_timeout_ms),
            };
        } else {
            let digits = self.digits.clone();
            self.reject(RejectReason::Invalid { digits }, now, env);
        }
    }

    /// Input is over (complete choice, `#`, or inter-digit timeout): accept or reject it.
    fn complete_digits(&mut self, now: DateTime<Utc>, env: LineEnv<'_>) {
        let next = match self.flow.node(&self.node) {
            Some(NodeSpec::Menu { choices, .. }) => choices.get(&self.digits).cloned(),
            _ => None,
        };
        match next {
            Some(next) => {
                self.log(IvrEvent::ChoiceAccepted {
                    node: self.node.clone(),
                    choice: self.digits.clone(),
                    next: next.clone(),
                    source: self.last_source,
                });
                self.digits.clear();
                self.goto(next, now, env);
            }
            None => {
                let reason = if self.digits.is_empty() {
                    RejectReason::NoInput
                } else {
                    RejectReason::Invalid {
                        digits: self.digits.clone(),
                    }
                };
                self.reject(reason, now, env);
            }
        }
    }

    fn reject(&mut self, reason: RejectReason, now: DateTime<Utc>, env: LineEnv<'_>) {
        self.attempts += 1;
        let Some(NodeSpec::Menu {
            max_retries,
            invalid_prompts,
            timeout_prompts,
            on_failure,
            ..
        }) = self.flow.node(&self.node).cloned()
        else {
            return;
        };
        let before = match reason {
            RejectReason::NoInput => timeout_prompts,
            RejectReason::Invalid { .. } => invalid_prompts,
        };
        self.log(IvrEvent::InputRejected {
            node: self.node.clone(),
            reason,
            attempt: self.attempts,
        });
        self.digits.clear();
        if self.attempts > max_retries {
            self.log(IvrEvent::RetriesExhausted {
                node: self.node.clone(),
            });
            self.goto(on_failure, now, env);
        } else {
            self.play_menu(before, now);
        }
    }
}
