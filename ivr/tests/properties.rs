//! Property tests: whatever the caller, the media layer and the clock do, a session never
//! gets stuck, leaves the voice menu exactly once, and does nothing after that.

mod common;

use chrono::TimeDelta;
use common::{caller, culture, louvre, t0};
use guichet_ivr::{
    Actor, CallerContext, DigitSource, IvrAction, IvrEvent, IvrInput, IvrSession, LineEnv,
    MessageAudio, MessageBoard, MessageDraft, MessageKind, OpenState, PlayId, Role,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Digit(char),
    FinishPlay,
    StaleFinish,
    Timeout,
    HangUp,
}

fn step() -> impl Strategy<Value = (u32, Step)> {
    let kind = prop_oneof![
        6 => proptest::sample::select(vec!['0', '1', '2', '3', '4', '7', '9', '*', '#', 'x']).prop_map(Step::Digit),
        4 => Just(Step::FinishPlay),
        1 => Just(Step::StaleFinish),
        4 => Just(Step::Timeout),
        1 => Just(Step::HangUp),
    ];
    (0u32..8_000, kind)
}

fn board(crisis: bool, deterrence: bool) -> MessageBoard {
    let mut board = MessageBoard::new();
    let chef = Actor {
        name: "chef".into(),
        role: Role::Supervisor,
    };
    for (on, kind, prompt) in [
        (crisis, MessageKind::Crisis, "crise_defaut"),
        (deterrence, MessageKind::Deterrence, "dissuasion_defaut"),
    ] {
        if on {
            board
                .set(
                    &chef,
                    "8585",
                    kind,
                    MessageDraft {
                        text: "x".into(),
                        audio: MessageAudio::Prompt(prompt.into()),
                        starts_at: None,
                        ends_at: None,
                    },
                    t0() - TimeDelta::hours(1),
                )
                .unwrap();
        }
    }
    board
}

/// Checks the invariants on the actions drained after one input.
struct Checker {
    current_play: Option<PlayId>,
    last_play: Option<PlayId>,
    left: usize,
    terminal_actions: usize,
}

impl Checker {
    fn drain(&mut self, session: &mut IvrSession) -> Result<(), TestCaseError> {
        while let Some(action) = session.poll_action() {
            prop_assert_eq!(self.left, 0, "action after leaving: {:?}", action);
            match action {
                IvrAction::Play { play, items, .. } => {
                    prop_assert!(!items.is_empty());
                    prop_assert!(self.last_play.is_none_or(|p| play > p), "play ids increase");
                    self.current_play = Some(play);
                    self.last_play = Some(play);
                }
                IvrAction::StopPlaying { play } => {
                    prop_assert_eq!(Some(play), self.current_play);
                    self.current_play = None;
                }
                IvrAction::RouteToQueue { .. } | IvrAction::Transfer { .. } | IvrAction::HangUp => {
                    self.terminal_actions += 1;
                }
                IvrAction::Log(IvrEvent::Left { .. }) => self.left += 1,
                IvrAction::Log(_) => {}
            }
        }
        if session.is_finished() {
            prop_assert_eq!(self.left, 1);
            prop_assert!(self.terminal_actions <= 1);
            prop_assert_eq!(session.poll_timeout(), None);
        } else {
            prop_assert!(
                session.poll_timeout().is_some(),
                "a live session always has a timer"
            );
            prop_assert_eq!(self.terminal_actions, 0);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn sessions_never_get_stuck(
        culture_flow in any::<bool>(),
        hours in prop_oneof![
            Just(OpenState::Open),
            Just(OpenState::Closed),
            Just(OpenState::Holiday { name: "Noël".into() }),
            Just(OpenState::ExceptionalClosure { label: "Inventaire".into() }),
        ],
        vip in any::<bool>(),
        p0 in any::<bool>(),
        crisis in any::<bool>(),
        deterrence in any::<bool>(),
        steps in proptest::collection::vec(step(), 0..40),
    ) {
        let flow = if culture_flow { culture() } else { louvre() };
        let board = board(crisis, deterrence);
        let env = LineEnv { hours: &hours, board: &board };
        let caller = CallerContext { vip, p0, ..caller(false) };
        let mut now = t0();
        let mut session = IvrSession::new(flow, caller, now);
        let mut checker = Checker { current_play: None, last_play: None, left: 0, terminal_actions: 0 };
        session.handle_input(IvrInput::Started, now, env);
        checker.drain(&mut session)?;
        for (delay, step) in steps {
            now += TimeDelta::milliseconds(i64::from(delay));
            match step {
                Step::Digit(digit) => session.handle_input(IvrInput::Digit { digit, source: DigitSource::SipInfo }, now, env),
                Step::FinishPlay => {
                    if let Some(play) = checker.current_play.take() {
                        session.handle_input(IvrInput::PromptFinished { play }, now, env);
                    }
                }
                Step::StaleFinish => session.handle_input(IvrInput::PromptFinished { play: PlayId(0) }, now, env),
                Step::Timeout => {
                    if let Some(at) = session.poll_timeout() {
                        now = now.max(at);
                        session.handle_timeout(now, env);
                    }
                }
                Step::HangUp => session.handle_input(IvrInput::CallerHungUp, now, env),
            }
            checker.drain(&mut session)?;
        }
        // Left alone (no key, no end of playback ever reported), the call still leaves.
        for _ in 0..50 {
            let Some(at) = session.poll_timeout() else { break };
            now = now.max(at);
            session.handle_timeout(now, env);
            checker.drain(&mut session)?;
        }
        prop_assert!(session.is_finished(), "still at {} after 50 timers", session.current_node());
        // Inputs after the end are ignored.
        session.handle_input(IvrInput::Digit { digit: '1', source: DigitSource::Rfc4733 }, now, env);
        session.handle_input(IvrInput::Started, now, env);
        checker.drain(&mut session)?;
    }
}
