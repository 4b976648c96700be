//! SIP messages that end a call go out only once the call log holds that end.
//!
//! The call log is written behind the switchboard, in batches (`guichet_tickets::call_log`).
//! A caller whose BYE got its 200 OK, or who received Guichet's BYE, has finished the call:
//! a `kill -9` a millisecond later must still find that call in the log with its real
//! outcome, not `interrupted`. So the 200 OK to a BYE and the 487 to a cancelled INVITE
//! (deferred by the sip room, `ByeAnswer::Deferred`) and every BYE or CANCEL the switchboard sends are held while the
//! event that caused them is handled, then sent by a small task once a commit point taken
//! after that event's writes resolves. The switchboard itself never waits: it hands the
//! writes over and goes on; the wait is at most one or two of the writer's batches (a few
//! milliseconds when idle). If the database does not answer within [`LOG_WAIT_BOUND`], the
//! messages go anyway, with a warning, so no phone is left waiting on a broken store.

use std::time::Duration;

use guichet_sip::{CallId as SipCallId, SipHandle};
use tracing::warn;

use super::Switchboard;

/// Longest wait for the commit before the held SIP messages are sent anyway. The sip room's
/// own bound for a deferred BYE answer (`server.rs`) is a second longer, as a safety net.
pub(crate) const LOG_WAIT_BOUND: Duration = Duration::from_secs(3);

/// Longest wait at shutdown for the tickets of the calls that ended last.
const TICKETS_AT_EXIT_BOUND: Duration = Duration::from_secs(10);

/// A SIP message held until the call log's writes before it are committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterLog {
    /// End this leg (BYE, or CANCEL / 480 when not answered).
    HangUp(SipCallId),
    /// Send the 200 OK of the remote BYE that ended this call.
    AnswerBye(SipCallId),
    /// Refuse this incoming call with this final status.
    Reject(SipCallId, u16),
    /// Send the 487 of the INVITE its caller cancelled before the answer.
    AnswerCancel(SipCallId),
}

impl AfterLog {
    fn send(&self, sip: &SipHandle) {
        // An error only means the SIP endpoint has stopped: nothing left to tell.
        let _ = match self {
            AfterLog::HangUp(leg) => sip.hang_up(leg),
            AfterLog::AnswerBye(call) => sip.answer_bye(call),
            AfterLog::Reject(call, code) => sip.reject(call, *code),
            AfterLog::AnswerCancel(call) => sip.answer_cancel(call),
        };
    }
}

impl Switchboard {
    /// Ends `leg` once the writes handed over for the current event are committed.
    pub(super) fn hang_up_after_log(&mut self, leg: &SipCallId) {
        self.after_log.push(AfterLog::HangUp(leg.clone()));
    }

    /// Refuses `call` with `code` once the writes handed over for the current event (its
    /// record closed as refused) are committed.
    pub(super) fn reject_after_log(&mut self, call: &SipCallId, code: u16) {
        self.after_log.push(AfterLog::Reject(call.clone(), code));
    }

    /// Answers the remote BYE that ended `call` once the writes handed over for the current
    /// event (the call's close) are committed.
    pub(super) fn answer_bye_after_log(&mut self, call: SipCallId) {
        self.after_log.push(AfterLog::AnswerBye(call));
    }

    /// Answers the CANCEL of `call` (its 487) once the writes handed over for the current
    /// event (the record closed as abandoned) are committed.
    pub(super) fn answer_cancel_after_log(&mut self, call: SipCallId) {
        self.after_log.push(AfterLog::AnswerCancel(call));
    }

    /// After each event: the messages it held go out from a task of their own once the
    /// call log has committed everything handed over so far.
    pub(super) fn release_after_log(&mut self) {
        if self.after_log.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.after_log);
        let committed = self.call_log.commit_point();
        let sip = self.sip.clone();
        tokio::spawn(async move {
            if tokio::time::timeout(LOG_WAIT_BOUND, committed)
                .await
                .is_err()
            {
                warn!(
                    messages = held.len(),
                    "call log not committed in time: hang-ups sent anyway"
                );
            }
            for message in &held {
                message.send(&sip);
            }
        });
    }

    /// At the end of shutdown: calls still waiting for their record (directory lookup and
    /// commit, milliseconds away) are let in and refused (503, record closed as refused),
    /// rather than left open for the next start to mark `interrupted`. Bounded by
    /// [`LOG_WAIT_BOUND`] in all.
    pub(super) async fn settle_arrivals(
        &mut self,
        arrivals: &mut tokio::sync::mpsc::UnboundedReceiver<super::Arrival>,
    ) {
        let deadline = tokio::time::Instant::now() + LOG_WAIT_BOUND;
        while !self.arriving.is_empty() {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some(arrival)) => self.on_arrival(arrival).await,
                Ok(None) => break,
                Err(_) => {
                    warn!(
                        calls = self.arriving.len(),
                        "calls still without a record at exit: marked interrupted at the next start"
                    );
                    break;
                }
            }
        }
    }

    /// At the end of shutdown: the tickets of the calls that ended last (answered calls
    /// ended by the grace period among them) are opened before the process may exit.
    /// Bounded by [`TICKETS_AT_EXIT_BOUND`].
    pub(super) async fn finish_ticket_jobs(&mut self) {
        // Replacing the only sender ends the ticket task once it has opened what is queued.
        let (closed, _) = tokio::sync::mpsc::unbounded_channel();
        self.ticket_jobs = closed;
        if let Some(task) = self.ticket_task.take()
            && tokio::time::timeout(TICKETS_AT_EXIT_BOUND, task)
                .await
                .is_err()
        {
            warn!("tickets of the last calls not all opened before the exit");
        }
    }

    /// At the end of shutdown, once the call log is flushed: the held messages go now, in
    /// order, before the SIP endpoint is told to stop.
    pub(super) fn send_after_log_now(&mut self) {
        for message in std::mem::take(&mut self.after_log) {
            message.send(&self.sip);
        }
    }
}
