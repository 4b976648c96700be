//! RTP/RTCP port pairs from the configured range.

use std::collections::BTreeSet;

/// Hands out even RTP ports (RTCP on the next odd port) from an inclusive
/// range, least recently released last, so a port is not reused at once
/// (late packets of the previous call would land in the new one).
#[derive(Debug)]
pub struct PortAllocator {
    free: std::collections::VecDeque<u16>,
    in_use: BTreeSet<u16>,
}

impl PortAllocator {
    /// All even ports `p` with `p` and `p + 1` inside `min..=max`.
    pub fn new(min: u16, max: u16) -> Self {
        let first = min + (min % 2);
        let free = (first..max).step_by(2).collect();
        PortAllocator {
            free,
            in_use: BTreeSet::new(),
        }
    }

    /// Takes a free even port, or `None` when the range is exhausted.
    pub fn take(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        self.in_use.insert(p);
        Some(p)
    }

    /// Returns a port that could not be bound; it goes to the back.
    pub fn give_back(&mut self, port: u16) {
        if self.in_use.remove(&port) {
            self.free.push_back(port);
        }
    }

    /// Number of ports currently handed out.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// Number of ports available.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_only_and_no_leak() {
        let mut a = PortAllocator::new(20001, 20010);
        let mut got = Vec::new();
        while let Some(p) = a.take() {
            got.push(p);
        }
        assert_eq!(got, vec![20002, 20004, 20006, 20008]);
        assert_eq!(a.in_use(), 4);
        for p in &got {
            a.give_back(*p);
        }
        a.give_back(20002); // double release is harmless
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.available(), 4);
    }
}
