//! guichet-ivr: the French voice menu (SVI) of Guichet.
//!
//! One job: decide, for each call, what the caller hears and where the call goes before it
//! reaches an agent; and keep the live crisis and deterrence messages of each line.
//!
//! The engine is sans-IO (no clock, no sockets, no tokio): time comes in as `now`.
//!
//! Public API, as the switchboard uses it:
//! - [`FlowSpec`] (deserialised from the config, one per line) and [`FlowSpec::compile`]
//!   against a [`PromptCatalogue`] into a [`Flow`]; ready-made flows in [`demo`].
//! - [`IvrSession`]: one per call. [`IvrSession::handle_input`] ([`IvrInput`]: started,
//!   digit, prompt finished, caller hung up), [`IvrSession::handle_timeout`],
//!   [`IvrSession::poll_action`] ([`IvrAction`]: play, stop playing, route to queue,
//!   transfer, hang up, call-log [`IvrEvent`]s), [`IvrSession::poll_timeout`]. Each input
//!   gets a [`LineEnv`]: the line's [`HoursOracle`] and the live [`MessageBoard`].
//! - [`MessageBoard`]: crisis and deterrence messages per line, changed only by supervisors
//!   and admins ([`Actor`], [`Role`]); every change returns a [`JournalEntry`] to persist.
//! - [`DeterrenceController`]: per line, load samples in, [`DeterrenceDecision`]s out.
//! - [`say`]: French queue position and estimated wait as lists of prompt ids.
//! - [`tts`]: espeak-ng + sox synthesis of typed messages (does I/O; not part of the engine).
//! - [`audio::WavStats`]: format and level checks of prompt files.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use guichet_ivr::*;
//!
//! let mut prompts = PromptCatalogue::default();
//! prompts.insert("menu".into(), "Pour un incident, tapez 1.".into()).unwrap();
//! let flow = FlowSpec::from_toml_str(r#"
//!     name = "exemple"
//!     start = "menu"
//!     [nodes.menu]
//!     kind = "menu"
//!     prompts = ["menu"]
//!     choices = { "1" = "file" }
//!     on_failure = "file"
//!     [nodes.file]
//!     kind = "queue"
//!     queue = "incidents"
//! "#).unwrap().compile(&prompts).unwrap();
//!
//! let now = Utc.with_ymd_and_hms(2026, 4, 14, 10, 0, 0).unwrap();
//! let board = MessageBoard::new();
//! let env = LineEnv { hours: &OpenState::Open, board: &board };
//! let caller = CallerContext { line: "8585".into(), vip: false, p0: false };
//! let mut call = IvrSession::new(Arc::new(flow), caller, now);
//! call.handle_input(IvrInput::Started, now, env);
//! assert!(matches!(call.poll_action(), Some(IvrAction::Log(IvrEvent::NodeEntered { .. }))));
//! assert!(matches!(call.poll_action(), Some(IvrAction::Play { barge_in: true, .. })));
//! call.handle_input(IvrInput::Digit { digit: '1', source: DigitSource::Rfc4733 }, now, env);
//! let actions: Vec<IvrAction> = std::iter::from_fn(|| call.poll_action()).collect();
//! assert!(actions.contains(&IvrAction::RouteToQueue { queue: "incidents".into(), priority: 5 }));
//! assert!(call.is_finished());
//! ```

pub mod audio;
mod catalogue;
pub mod demo;
mod deterrence;
mod flow;
mod messages;
pub mod say;
mod session;
pub mod tts;

pub use catalogue::{CatalogueError, PromptCatalogue, is_valid_prompt_id};
pub use deterrence::{
    ARRIVAL_WINDOW, DeterrenceController, DeterrenceDecision, DeterrenceReason,
    DeterrenceThresholds, LoadSample, ThresholdError,
};
pub use flow::{
    DEFAULT_FIRST_DIGIT_TIMEOUT_MS, DEFAULT_INTER_DIGIT_TIMEOUT_MS, DEFAULT_MAX_RETRIES,
    DEFAULT_PLAYBACK_GUARD_MS, DEFAULT_QUEUE_PRIORITY, Flow, FlowError, FlowSpec, NodeSpec,
};
pub use messages::{
    AUTOMATIC_ACTOR, Actor, DEFAULT_DETERRENCE_PROMPT, DEFAULT_DETERRENCE_TEXT, JournalAction,
    JournalEntry, LineMessage, MessageAudio, MessageBoard, MessageDraft, MessageError, MessageKind,
    Role,
};
pub use session::{
    CallerContext, DigitSource, HoursOracle, IvrAction, IvrEvent, IvrInput, IvrOutcome, IvrSession,
    LineEnv, OpenState, PlayId, PlayItem, RejectReason,
};
