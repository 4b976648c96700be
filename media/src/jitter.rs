//! A small fixed-delay jitter buffer that re-times audio onto a 20 ms
//! playout clock, whatever the packetisation time of the sender (10, 20,
//! 30, 40 ms...).

use std::collections::BTreeMap;

/// Samples in one 20 ms playout slot at 8 kHz.
pub const SLOT_SAMPLES: usize = 160;

/// Places decoded audio by RTP timestamp into 20 ms slots and releases one
/// slot per playout tick once `depth` slots are buffered.
///
/// Keying by timestamp rather than by sequence number is what lets any
/// ptime through: a 10 ms packet fills half a slot, a 30 ms one a slot and
/// a half. Slots are aligned on the first packet of a talkspurt (senders
/// start their timestamps anywhere). Audio arriving after its slot was
/// played is dropped and the packet counted as late; missing audio plays as
/// silence inside a slot, a slot with nothing at all as `None` (the caller
/// substitutes silence); when the buffer grows beyond twice its depth the
/// oldest slots are dropped so the delay stays bounded; after a run of
/// empty ticks it re-primes, which is how a talkspurt after silence
/// suppression restarts cleanly.
#[derive(Debug)]
pub struct JitterBuffer {
    depth: usize,
    slots: BTreeMap<u64, Vec<i16>>,
    next: Option<u64>,
    /// Highest extended RTP timestamp seen, for extending 32-bit ones.
    highest: Option<u64>,
    /// Timestamp phase of slot boundaries (the first packet's, modulo 160).
    phase: u64,
    /// End of the newest audio buffered (extended timestamp), for priming.
    newest_end: u64,
    empty_ticks: u32,
    late: u64,
    dropped: u64,
}

/// Empty ticks after which the buffer waits to be primed again.
const REPRIME_AFTER: u32 = 5;

impl JitterBuffer {
    /// A buffer delaying audio by `depth` 20 ms slots (at least 1).
    pub fn new(depth: usize) -> Self {
        JitterBuffer {
            depth: depth.max(1),
            slots: BTreeMap::new(),
            next: None,
            highest: None,
            phase: 0,
            newest_end: 0,
            empty_ticks: 0,
            late: 0,
            dropped: 0,
        }
    }

    fn extend(&mut self, timestamp: u32) -> u64 {
        let Some(h) = self.highest else {
            let e = (1u64 << 32) + u64::from(timestamp); // room to go backwards
            self.highest = Some(e);
            return e;
        };
        let delta = i64::from(timestamp.wrapping_sub(h as u32) as i32);
        let e = (h as i64 + delta).max(0) as u64;
        if e > h {
            self.highest = Some(e);
        }
        e
    }

    /// Adds the decoded audio of a packet whose RTP timestamp is `timestamp`.
    pub fn push(&mut self, timestamp: u32, samples: Vec<i16>) {
        let start = self.extend(timestamp);
        if self.next.is_none() && self.slots.is_empty() {
            // A new talkspurt: slot boundaries on its first packet.
            self.phase = start % SLOT_SAMPLES as u64;
            self.newest_end = 0;
        }
        self.newest_end = self.newest_end.max(start + samples.len() as u64);
        let mut late = false;
        let mut pos = start;
        let mut rest = samples.as_slice();
        while !rest.is_empty() {
            let Some(rel) = pos.checked_sub(self.phase) else {
                // Before the first slot of the stream: too old to place.
                late = true;
                let skip = (self.phase - pos).min(rest.len() as u64);
                pos += skip;
                rest = &rest[skip as usize..];
                continue;
            };
            let slot = rel / SLOT_SAMPLES as u64;
            let offset = (rel % SLOT_SAMPLES as u64) as usize;
            let n = (SLOT_SAMPLES - offset).min(rest.len());
            if self.next.is_some_and(|next| slot < next) {
                late = true;
            } else {
                let buf = self
                    .slots
                    .entry(slot)
                    .or_insert_with(|| vec![0; SLOT_SAMPLES]);
                buf[offset..offset + n].copy_from_slice(&rest[..n]);
            }
            pos += n as u64;
            rest = &rest[n..];
        }
        if late {
            self.late += 1;
        }
        if self.slots.len() > 2 * self.depth + 2 {
            while self.slots.len() > self.depth {
                self.slots.pop_first();
                self.dropped += 1;
            }
            self.next = self.slots.first_key_value().map(|(k, _)| *k);
        }
    }

    /// The 20 ms of audio (160 samples) for this playout tick: `None` while
    /// priming, on a gap or when empty.
    pub fn pop(&mut self) -> Option<Vec<i16>> {
        let next = match self.next {
            Some(n) => n,
            None => {
                // Primed once `depth` slots' worth of audio is in, counted in samples: a
                // 30 ms packet fills a slot and a half, and a half-filled slot must not
                // be played before the rest of it has had time to come.
                let (first, _) = self.slots.first_key_value()?;
                let first_start = first * SLOT_SAMPLES as u64 + self.phase;
                if self.newest_end.saturating_sub(first_start) < (self.depth * SLOT_SAMPLES) as u64
                {
                    return None;
                }
                *first
            }
        };
        if self.slots.is_empty() {
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
        self.slots.remove(&next)
    }

    /// Packets (wholly or partly) discarded because they arrived after
    /// their playout time.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Slots discarded to keep the delay bounded.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 ms of a constant value.
    fn f(v: i16) -> Vec<i16> {
        vec![v; SLOT_SAMPLES]
    }

    /// The RTP timestamp of the 20 ms frame `n` of a stream starting at `base`.
    fn ts(base: u32, n: u32) -> u32 {
        base.wrapping_add(n.wrapping_mul(SLOT_SAMPLES as u32))
    }

    #[test]
    fn reorders_and_primes() {
        let base = u32::MAX - 100; // wraps around during the test
        let mut jb = JitterBuffer::new(2);
        jb.push(ts(base, 0), f(1));
        assert_eq!(jb.pop(), None, "priming");
        jb.push(ts(base, 2), f(3));
        jb.push(ts(base, 1), f(2));
        assert_eq!(jb.pop(), Some(f(1)));
        assert_eq!(jb.pop(), Some(f(2)));
        assert_eq!(jb.pop(), Some(f(3)));
        // Audio older than the playout point is late.
        jb.push(ts(base, 0), f(9));
        assert_eq!(jb.late(), 1);
    }

    #[test]
    fn gap_plays_as_none_and_bound_is_kept() {
        let mut jb = JitterBuffer::new(1);
        jb.push(ts(7, 10), f(1));
        jb.push(ts(7, 12), f(3));
        assert_eq!(jb.pop(), Some(f(1)));
        assert_eq!(jb.pop(), None, "frame 11 lost");
        assert_eq!(jb.pop(), Some(f(3)));
        for n in 13..30 {
            jb.push(ts(7, n), f(n as i16));
        }
        assert!(jb.dropped() > 0);
        // Delay is back to `depth` slots: the newest audio remains.
        assert_eq!(jb.pop(), Some(f(29)));
    }

    #[test]
    fn reprimes_after_silence() {
        let mut jb = JitterBuffer::new(2);
        jb.push(ts(0, 1), f(1));
        jb.push(ts(0, 2), f(2));
        assert!(jb.pop().is_some());
        assert!(jb.pop().is_some());
        for _ in 0..REPRIME_AFTER {
            assert_eq!(jb.pop(), None);
        }
        // New talkspurt far ahead, on another phase: primes again, aligned on it.
        jb.push(ts(77, 50), f(5));
        assert_eq!(jb.pop(), None);
        jb.push(ts(77, 51), f(6));
        assert_eq!(jb.pop(), Some(f(5)));
        assert_eq!(jb.pop(), Some(f(6)));
    }

    /// A ramp of `len` samples starting at `from`, as a sender's packet.
    fn ramp(from: usize, len: usize) -> Vec<i16> {
        (from..from + len).map(|i| i as i16).collect()
    }

    /// Sends 600 ms of a ramp in packets of `ptime_ms`, some of them swapped, and checks
    /// that 20 ms slots come out with every sample in place.
    fn retimes(ptime_ms: usize) {
        let per_packet = ptime_ms * 8;
        let base = 123_456u32;
        let total = 4800;
        let mut packets: Vec<(u32, Vec<i16>)> = (0..total / per_packet)
            .map(|k| {
                (
                    base + (k * per_packet) as u32,
                    ramp(k * per_packet, per_packet),
                )
            })
            .collect();
        packets.swap(2, 3); // reordered in the network
        let mut jb = JitterBuffer::new(3);
        let mut out = Vec::new();
        let mut sent = 0;
        // One pop per 20 ms tick; packets arrive at their own pace.
        for tick in 0..total / SLOT_SAMPLES + 10 {
            while sent < packets.len()
                && packets[sent].0 as usize <= base as usize + (tick + 1) * SLOT_SAMPLES
            {
                let (t, p) = packets[sent].clone();
                jb.push(t, p);
                sent += 1;
            }
            if let Some(slot) = jb.pop() {
                assert_eq!(slot.len(), SLOT_SAMPLES);
                out.extend(slot);
            }
        }
        assert_eq!(out, ramp(0, total), "ptime {ptime_ms} ms");
        assert_eq!(jb.late(), 0);
    }

    #[test]
    fn any_ptime_is_retimed_onto_20_ms_slots() {
        for ptime in [10, 20, 30, 40] {
            retimes(ptime);
        }
    }

    #[test]
    fn a_lost_10_ms_packet_is_silence_inside_its_slot() {
        let mut jb = JitterBuffer::new(1);
        jb.push(1000, vec![5; 80]);
        // 1080 (the second half of the slot) is lost.
        jb.push(1160, vec![6; 80]);
        jb.push(1240, vec![7; 80]);
        let first = jb.pop().expect("slot");
        assert_eq!(&first[..80], &[5; 80][..]);
        assert_eq!(&first[80..], &[0; 80][..]);
        let second = jb.pop().expect("slot");
        assert_eq!(&second[..80], &[6; 80][..]);
        assert_eq!(&second[80..], &[7; 80][..]);
    }
}
