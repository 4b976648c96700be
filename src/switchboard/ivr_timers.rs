//! The calls' IVR timers in one table, so that a wake-up costs O(log n) rather than a scan of
//! every call (digit timeouts, pauses: thousands of calls may be in the IVR at once).
//!
//! Each call has at most one live deadline (its IVR session's `poll_timeout`). When it
//! changes, the new one is pushed and the old heap entry is left in place: it is recognised
//! as stale when it comes due (lazy invalidation), which keeps every change O(log n) too.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use guichet_sip::CallId as SipCallId;

#[derive(Default)]
pub(super) struct IvrTimers {
    heap: BinaryHeap<Reverse<(DateTime<Utc>, SipCallId)>>,
    /// The live deadline of each call; heap entries that disagree are stale.
    live: HashMap<SipCallId, DateTime<Utc>>,
}

impl IvrTimers {
    /// Records `call`'s IVR deadline after its session changed (`None`: no timer).
    pub(super) fn schedule(&mut self, call: &SipCallId, deadline: Option<DateTime<Utc>>) {
        match deadline {
            Some(at) => {
                if self.live.get(call) != Some(&at) {
                    self.live.insert(call.clone(), at);
                    self.heap.push(Reverse((at, call.clone())));
                }
            }
            None => {
                self.live.remove(call);
            }
        }
    }

    /// The earliest live deadline (stale entries on top are dropped on the way).
    pub(super) fn next(&mut self) -> Option<DateTime<Utc>> {
        while let Some(Reverse((at, call))) = self.heap.peek() {
            if self.live.get(call) == Some(at) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// The calls whose live deadline is at or before `now`, earliest first; their deadlines
    /// are consumed (a session that sets a new timer is scheduled again).
    pub(super) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<SipCallId> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, call))) = self.heap.pop() else {
                break;
            };
            if self.live.get(&call) == Some(&at) {
                self.live.remove(&call);
                due.push(call);
            }
        }
        due
    }

    /// Live deadlines held (for tests and metrics).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn id(s: &str) -> SipCallId {
        SipCallId(s.to_owned())
    }

    #[test]
    fn due_calls_come_out_in_deadline_order_and_only_once() {
        let t0 = Utc::now();
        let mut timers = IvrTimers::default();
        timers.schedule(&id("b"), Some(t0 + TimeDelta::seconds(2)));
        timers.schedule(&id("a"), Some(t0 + TimeDelta::seconds(1)));
        timers.schedule(&id("c"), Some(t0 + TimeDelta::seconds(5)));
        assert_eq!(timers.next(), Some(t0 + TimeDelta::seconds(1)));
        assert!(timers.take_due(t0).is_empty());
        assert_eq!(
            timers.take_due(t0 + TimeDelta::seconds(3)),
            vec![id("a"), id("b")]
        );
        assert!(timers.take_due(t0 + TimeDelta::seconds(3)).is_empty());
        assert_eq!(timers.next(), Some(t0 + TimeDelta::seconds(5)));
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn a_moved_or_cancelled_deadline_leaves_no_live_trace() {
        let t0 = Utc::now();
        let mut timers = IvrTimers::default();
        timers.schedule(&id("a"), Some(t0 + TimeDelta::seconds(1)));
        // Moved later: the earlier entry is stale and neither wakes nor fires.
        timers.schedule(&id("a"), Some(t0 + TimeDelta::seconds(4)));
        assert_eq!(timers.next(), Some(t0 + TimeDelta::seconds(4)));
        assert!(timers.take_due(t0 + TimeDelta::seconds(2)).is_empty());
        // Cancelled: nothing left to wake for.
        timers.schedule(&id("a"), None);
        assert_eq!(timers.next(), None);
        assert!(timers.take_due(t0 + TimeDelta::seconds(10)).is_empty());
        assert_eq!(timers.len(), 0);
        // The same deadline scheduled twice is one entry, fired once.
        timers.schedule(&id("b"), Some(t0 + TimeDelta::seconds(1)));
        timers.schedule(&id("b"), Some(t0 + TimeDelta::seconds(1)));
        assert_eq!(timers.take_due(t0 + TimeDelta::seconds(1)), vec![id("b")]);
    }
}
