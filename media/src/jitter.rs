//! A small fixed-delay jitter buffer that re-times audio onto a 20 ms
//! playout clock.

use std::collections::BTreeMap;

/// Orders decoded frames by extended sequence number and releases one per
/// playout tick once `depth` frames are buffered.
///
/// Frames arriving after their playout slot are dropped and counted as
/// late; gaps play as `None` (the caller substitutes silence); when the
/// buffer grows beyond twice its depth the oldest frames are dropped so the
/// delay stays bounded; after a run of empty ticks it re-primes, which is
/// how a talkspurt after silence suppression restarts cleanly.
#[derive(Debug)]
pub struct JitterBuffer {
    depth: usize,
    frames: BTreeMap<u64, Vec<i16>>,
    next: Option<u64>,
    /// Highest extended sequence number seen, for extending 16-bit ones.
    highest: Option<u64>,
    empty_ticks: u32,
    late: u64,
    dropped: u64,
}

/// Empty ticks after which the buffer waits to be primed again.
const REPRIME_AFTER: u32 = 5;

impl JitterBuffer {
    /// A buffer delaying audio by `depth` frames (at least 1).
    pub fn new(depth: usize) -> Self {
        JitterBuffer {
            depth: depth.max(1),
            frames: BTreeMap::new(),
            next: None,
            highest: None,
            empty_ticks: 0,
            late: 0,
            dropped: 0,
        }
    }

    fn extend(&mut self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            let e = (1u64 << 16) + seq as u64; // room to go backwards
            self.highest = Some(e);
            return e;
        };
        let delta = seq.wrapping_sub(h as u16) as i16 as i64;
        let e = (h as i64 + delta).max(0) as u64;
        if e > h {
            self.highest = Some(e);
        }
        e
    }

    /// Adds a decoded frame received with sequence number `seq`.
    pub fn push(&mut self, seq: u16, frame: Vec<i16>) {
        let e = self.extend(seq);
        if self.next.is_some_and(|n| e < n) {
            self.late += 1;
            return;
        }
        self.frames.insert(e, frame);
        if self.frames.len() > 2 * self.depth + 2 {
            while self.frames.len() > self.depth {
                self.frames.pop_first();
                self.dropped += 1;
            }
            self.next = self.frames.first_key_value().map(|(k, _)| *k);
        }
    }

    /// The frame for this playout tick: `None` while priming, on a gap or
    /// when empty.
    pub fn pop(&mut self) -> Option<Vec<i16>> {
        let next = match self.next {
            Some(n) => n,
            None => {
                if self.frames.len() < self.depth {
                    return None;
                }
                let (first, _) = self.frames.first_key_value()?;
                *first
            }
        };
        if self.frames.is_empty() {
            self.empty_ticks += 1;
            if self.empty_ticks >= REPRIME_AFTER {
                self.next = None;
            } else {
                self.next = Some(next + 1);
            }
            return None;
        }
        self.empty_ticks = 0;
        self.next = Some(next + 1);
        self.frames.remove(&next)
    }

    /// Frames discarded because they arrived after their playout time.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Frames discarded to keep the delay bounded.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: i16) -> Vec<i16> {
        vec![v; 4]
    }

    #[test]
    fn reorders_and_primes() {
        let mut jb = JitterBuffer::new(2);
        jb.push(65535, f(1));
        assert_eq!(jb.pop(), None, "priming");
        jb.push(1, f(3));
        jb.push(0, f(2));
        assert_eq!(jb.pop(), Some(f(1)));
        assert_eq!(jb.pop(), Some(f(2)));
        assert_eq!(jb.pop(), Some(f(3)));
        // A frame older than the playout point is late.
        jb.push(65535, f(9));
        assert_eq!(jb.late(), 1);
    }

    #[test]
    fn gap_plays_as_none_and_bound_is_kept() {
        let mut jb = JitterBuffer::new(1);
        jb.push(10, f(1));
        jb.push(12, f(3));
        assert_eq!(jb.pop(), Some(f(1)));
        assert_eq!(jb.pop(), None, "seq 11 lost");
        assert_eq!(jb.pop(), Some(f(3)));
        for s in 13..30 {
            jb.push(s, f(s as i16));
        }
        assert!(jb.dropped() > 0);
        // Delay is back to `depth` frames: the newest frames remain.
        assert_eq!(jb.pop(), Some(f(29)));
    }

    #[test]
    fn reprimes_after_silence() {
        let mut jb = JitterBuffer::new(2);
        jb.push(1, f(1));
        jb.push(2, f(2));
        assert!(jb.pop().is_some());
        assert!(jb.pop().is_some());
        for _ in 0..REPRIME_AFTER {
            assert_eq!(jb.pop(), None);
        }
        // New talkspurt far ahead in sequence space: primes again.
        jb.push(50, f(5));
        assert_eq!(jb.pop(), None);
        jb.push(51, f(6));
        assert_eq!(jb.pop(), Some(f(5)));
    }
}
