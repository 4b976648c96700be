//! An agent's desk phone puts the caller on hold (its Hold key sends a re-INVITE with
//! `a=sendonly`, `a=inactive` or `c=0.0.0.0`, which the sip room answers and reports as
//! `HoldChanged`): the caller hears the music on hold instead of silence until the phone
//! resumes. The bridge stays as it is, so a supervisor listening to the call keeps it; for
//! the caller, the media room's player takes precedence over the bridge's audio, and
//! stopping it gives the agent's voice back from the next frame.

use guichet_sip::CallId as SipCallId;
use tracing::{debug, info, warn};

use super::{Phase, Switchboard};

impl Switchboard {
    pub(super) fn on_hold_changed(&mut self, leg: &SipCallId, on_hold: bool) {
        let music = self.hold_music();
        let Some(call) = self
            .by_leg
            .get(leg)
            .cloned()
            .and_then(|caller| self.calls.get_mut(&caller))
        else {
            // The caller's own hold, or a leg already gone: the other side hears the
            // phone's silence, as on any line.
            debug!(call_id = %leg, on_hold, "hold change on a leg that is not an agent's");
            return;
        };
        let Some(agent) = call
            .agent
            .as_ref()
            .filter(|a| a.sip == *leg && a.answered && call.phase == Phase::Connected)
            .map(|a| a.agent.clone())
        else {
            return;
        };
        if on_hold {
            match self.media.play(call.media, music) {
                Ok(playback) => call.hold_play = Some(playback),
                Err(e) => warn!(error = %e, "cannot play the music on hold"),
            }
            info!(%agent, "the agent's phone put the caller on hold: music on hold");
        } else {
            call.hold_play = None;
            if let Err(e) = self.media.stop(call.media) {
                warn!(error = %e, "cannot stop the music on hold");
            }
            info!(%agent, "the agent's phone resumed the call");
        }
    }
}
