//! Shared test helpers: the shipped catalogue, the demo flows, and a discrete-event simulator
//! of one call (a media layer that plays each prompt for a fixed time, a caller pressing keys
//! at given instants) that renders everything the session does as a readable trace.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use guichet_ivr::{
    CallerContext, DigitSource, Flow, HoursOracle, IvrAction, IvrEvent, IvrInput, IvrSession,
    LineEnv, MessageBoard, PlayId, PlayItem, PromptCatalogue,
};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ivr/ has a parent")
        .to_owned()
}

pub fn catalogue() -> PromptCatalogue {
    PromptCatalogue::load(&repo_root().join("sounds/fr/prompts.toml")).expect("catalogue loads")
}

pub fn louvre() -> Arc<Flow> {
    Arc::new(
        guichet_ivr::demo::louvre_8585()
            .expect("parses")
            .compile(&catalogue())
            .expect("compiles"),
    )
}

pub fn culture() -> Arc<Flow> {
    Arc::new(
        guichet_ivr::demo::culture_hotline()
            .expect("parses")
            .compile(&catalogue())
            .expect("compiles"),
    )
}

/// Tuesday 14 April 2026, 10:00 UTC (12:00 Paris).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 14, 10, 0, 0).unwrap()
}

pub fn caller(vip: bool) -> CallerContext {
    CallerContext {
        line: "8585".into(),
        vip,
        p0: false,
    }
}

/// How long the simulated media layer takes to play one item.
pub const ITEM_MS: i64 = 2_000;

fn render_items(items: &[PlayItem]) -> String {
    items
        .iter()
        .map(|i| match i {
            PlayItem::Prompt(p) => p.clone(),
            PlayItem::File(f) => format!("file:{}", f.display()),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A call in progress: the session, a simulated media layer, and a trace.
pub struct Sim<'a> {
    pub session: IvrSession,
    pub now: DateTime<Utc>,
    pub start: DateTime<Utc>,
    playing: Option<(PlayId, DateTime<Utc>)>,
    pub trace: Vec<String>,
    hours: &'a dyn HoursOracle,
}

impl<'a> Sim<'a> {
    pub fn start(
        flow: Arc<Flow>,
        caller: CallerContext,
        start: DateTime<Utc>,
        hours: &'a dyn HoursOracle,
        board: &MessageBoard,
    ) -> Self {
        let mut sim = Sim {
            session: IvrSession::new(flow, caller, start),
            now: start,
            start,
            playing: None,
            trace: Vec::new(),
            hours,
        };
        let env = LineEnv { hours, board };
        sim.session.handle_input(IvrInput::Started, start, env);
        sim.drain();
        sim
    }

    fn t(&self) -> i64 {
        (self.now - self.start).num_milliseconds()
    }

    fn drain(&mut self) {
        while let Some(action) = self.session.poll_action() {
            let t = self.t();
            let line = match action {
                IvrAction::Play {
                    play,
                    items,
                    barge_in,
                } => {
                    let n = i64::try_from(items.len()).unwrap();
                    self.playing = Some((play, self.now + TimeDelta::milliseconds(ITEM_MS * n)));
                    format!(
                        "{t} play {}{}",
                        render_items(&items),
                        if barge_in { " (barge-in)" } else { "" }
                    )
                }
                IvrAction::StopPlaying { play } => {
                    assert_eq!(
                        self.playing.map(|p| p.0),
                        Some(play),
                        "stops the current play"
                    );
                    self.playing = None;
                    format!("{t} stop")
                }
                IvrAction::RouteToQueue { queue, priority } => {
                    format!("{t} queue {queue} p{priority}")
                }
                IvrAction::Transfer { number } => format!("{t} transfer {number}"),
                IvrAction::HangUp => format!("{t} hangup"),
                IvrAction::Log(event) => match event {
                    IvrEvent::NodeEntered { .. } => continue,
                    IvrEvent::HoursChecked { state, .. } => format!("{t} hours {state:?}"),
                    IvrEvent::VipChecked { vip, .. } => format!("{t} vip {vip}"),
                    IvrEvent::MessagePlayed { kind, author, .. } => {
                        format!("{t} message {kind:?} by {author}")
                    }
                    IvrEvent::BargeIn { .. } => format!("{t} barge-in"),
                    IvrEvent::DigitIgnored { digit, .. } => format!("{t} ignored {digit}"),
                    IvrEvent::ChoiceAccepted { choice, next, .. } => {
                        format!("{t} accepted {choice} -> {next}")
                    }
                    IvrEvent::InputRejected {
                        reason, attempt, ..
                    } => format!("{t} rejected {reason:?} #{attempt}"),
                    IvrEvent::RetriesExhausted { .. } => format!("{t} retries exhausted"),
                    IvrEvent::PlaybackGuardExpired { .. } => format!("{t} guard expired"),
                    IvrEvent::Left { outcome, node } => format!("{t} left {outcome:?} at {node}"),
                },
            };
            self.trace.push(line);
        }
    }

    /// Runs the call until `until_ms` (relative to the start), pressing `digits` (ms, key) on
    /// the way; prompts end on their own after [`ITEM_MS`] per item.
    pub fn run(&mut self, digits: &[(i64, char)], until_ms: i64, board: &MessageBoard) {
        let env = LineEnv {
            hours: self.hours,
            board,
        };
        let mut pending: Vec<(DateTime<Utc>, char)> = digits
            .iter()
            .map(|(ms, d)| (self.start + TimeDelta::milliseconds(*ms), *d))
            .filter(|(t, _)| *t >= self.now)
            .collect();
        pending.sort();
        let end = self.start + TimeDelta::milliseconds(until_ms);
        for _ in 0..10_000 {
            if self.session.is_finished() {
                return;
            }
            let digit_at = pending.first().map(|p| p.0);
            let play_end = self.playing.map(|p| p.1);
            let timer = self.session.poll_timeout();
            let next = [digit_at, play_end, timer].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                return;
            };
            self.now = next;
            if digit_at == Some(next) {
                let (_, digit) = pending.remove(0);
                self.session.handle_input(
                    IvrInput::Digit {
                        digit,
                        source: DigitSource::Rfc4733,
                    },
                    next,
                    env,
                );
            } else if play_end == Some(next) {
                let (play, _) = self.playing.take().unwrap();
                self.session
                    .handle_input(IvrInput::PromptFinished { play }, next, env);
            } else {
                self.session.handle_timeout(next, env);
            }
            self.drain();
        }
        panic!("simulation did not settle: {:#?}", self.trace);
    }

    pub fn hang_up(&mut self, board: &MessageBoard) {
        let env = LineEnv {
            hours: self.hours,
            board,
        };
        self.session
            .handle_input(IvrInput::CallerHungUp, self.now, env);
        self.drain();
    }
}

/// Runs one whole call and returns its trace.
pub fn call(
    flow: Arc<Flow>,
    caller: CallerContext,
    start: DateTime<Utc>,
    hours: &dyn HoursOracle,
    board: &MessageBoard,
    digits: &[(i64, char)],
) -> Vec<String> {
    let mut sim = Sim::start(flow, caller, start, hours, board);
    sim.run(digits, 600_000, board);
    sim.trace
}
