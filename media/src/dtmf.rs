//! RFC 4733 telephone-event payloads: receive (one digit per event) and
//! send (packet sequence for one digit).

/// Duration of one telephone-event packet interval, in 8 kHz ticks (20 ms).
const PACKET_TICKS: u32 = 160;

/// Converts a DTMF character (`0-9`, `*`, `#`, `A-D`) to its event code.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// Converts an event code 0-15 to its DTMF character.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// A decoded telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-15 are DTMF digits).
    pub event: u8,
    /// The E bit: this is (one of the copies of) the final packet.
    pub end: bool,
    /// Power level, 0 to -63 dBm0, as a positive number.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4 bytes of a payload (extra bytes are ignored).
    pub fn parse(payload: &[u8]) -> Option<Self> {
        if payload.len() < 4 {
            return None;
        }
        Some(TelephoneEvent {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            ((self.end as u8) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A digit recognised from a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    /// The DTMF character.
    pub digit: char,
    /// Duration in milliseconds as reported by the sender.
    pub duration_ms: u32,
}

/// Turns a stream of telephone-event packets into digits, one per event.
///
/// All packets of one event share their RTP timestamp (RFC 4733 §2.5.1.3),
/// so the timestamp identifies the event: the first end packet reports the
/// digit, its retransmissions and anything about an older event (copies
/// carried as RFC 2198 redundancy, reordered packets) are ignored. An event whose end packets were
/// all lost is reported when the next event starts or on [`flush`].
///
/// [`flush`]: DtmfReceiver::flush
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    current: Option<(u32, TelephoneEvent)>,
    last_reported: Option<u32>,
}

impl DtmfReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet; returns the digits completed by it (at most two:
    /// an unterminated previous event and this one).
    pub fn on_packet(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Vec<ReceivedDigit> {
        let mut out = Vec::new();
        let Some(ev) = TelephoneEvent::parse(payload) else {
            return out;
        };
        if let Some(last) = self.last_reported
            && (rtp_timestamp == last || (rtp_timestamp.wrapping_sub(last) as i32) < 0)
        {
            // A retransmitted end packet of the event already reported, or
            // a copy of an older one (RFC 2198 redundancy, reordering).
            return out;
        }
        if let Some((ts, prev)) = self.current
            && ts != rtp_timestamp
        {
            // A new event started before the previous one ended.
            out.extend(self.report(ts, prev));
        }
        if ev.end {
            out.extend(self.report(rtp_timestamp, ev));
        } else {
            self.current = Some((rtp_timestamp, ev));
        }
        out
    }

    /// Reports an event still in progress (e.g. when media stops).
    pub fn flush(&mut self) -> Option<ReceivedDigit> {
        let (ts, ev) = self.current?;
        self.report(ts, ev)
    }

    fn report(&mut self, ts: u32, ev: TelephoneEvent) -> Option<ReceivedDigit> {
        self.current = None;
        self.last_reported = Some(ts);
        Some(ReceivedDigit {
            digit: event_to_digit(ev.event)?,
            duration_ms: ev.duration as u32 / 8,
        })
    }
}

/// The 4-byte payload of a telephone event at the volume Guichet sends
/// (-10 dBm0); `duration` in 8 kHz ticks.
pub fn event_payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event,
        end,
        volume: SEND_VOLUME,
        duration,
    }
    .to_bytes()
}

/// One packet to send for an outgoing digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Marker bit (set on the first packet of the event).
    pub marker: bool,
    /// The 4-byte telephone-event payload.
    pub payload: [u8; 4],
}

/// Generates the packets of one outgoing digit, one per 20 ms tick: a
/// first packet with the marker, updates with growing duration, then the
/// end packet sent three times (RFC 4733 §2.5.1.4). All share one RTP
/// timestamp, which the caller fixes at the start of the event.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    total: u32,
    elapsed: u32,
    ends_sent: u8,
}

/// Default volume of sent events (-10 dBm0).
pub(crate) const SEND_VOLUME: u8 = 10;

impl DtmfSender {
    /// A sender for `digit` lasting `duration_ms` (at least 40 ms, at most
    /// 8 s so the duration fits 16 bits). `None` for an invalid digit.
    pub fn new(digit: char, duration_ms: u32) -> Option<Self> {
        let event = digit_to_event(digit)?;
        let total = duration_ms.clamp(40, 8000) * 8;
        Some(DtmfSender {
            event,
            total,
            elapsed: 0,
            ends_sent: 0,
        })
    }

    /// The RFC 4733 event code being sent.
    pub fn event(&self) -> u8 {
        self.event
    }

    /// The next packet to send, or `None` when the digit is complete.
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        if self.ends_sent >= 3 {
            return None;
        }
        let marker = self.elapsed == 0;
        self.elapsed = (self.elapsed + PACKET_TICKS).min(self.total);
        let end = self.elapsed >= self.total;
        if end {
            self.ends_sent += 1;
        }
        Some(DtmfPacket {
            marker,
            payload: event_payload(self.event, end, self.elapsed as u16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_codes() {
        for (i, c) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(c));
        }
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn sender_then_receiver_gives_one_digit() {
        let mut tx = DtmfSender::new('7', 100).unwrap();
        let mut rx = DtmfReceiver::new();
        let mut packets = Vec::new();
        while let Some(p) = tx.next_packet() {
            packets.push(p);
        }
        // 100 ms = 5 packets of 20 ms, the last one sent 3 times.
        assert_eq!(packets.len(), 7);
        assert!(packets[0].marker);
        assert!(packets[1..].iter().all(|p| !p.marker));
        let mut digits = Vec::new();
        for p in &packets {
            digits.extend(rx.on_packet(4242, &p.payload));
        }
        assert_eq!(
            digits,
            vec![ReceivedDigit {
                digit: '7',
                duration_ms: 100
            }]
        );
        // The same digit again is a new event with a new timestamp.
        let end = TelephoneEvent {
            event: 7,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(rx.on_packet(9000, &end.to_bytes()).len(), 1);
        assert_eq!(rx.on_packet(9000, &end.to_bytes()).len(), 0);
    }

    #[test]
    fn lost_end_packets_reported_on_next_event() {
        let mut rx = DtmfReceiver::new();
        let start = |e: u8, d: u16| {
            TelephoneEvent {
                event: e,
                end: false,
                volume: 10,
                duration: d,
            }
            .to_bytes()
        };
        assert!(rx.on_packet(100, &start(1, 160)).is_empty());
        assert!(rx.on_packet(100, &start(1, 320)).is_empty());
        let got = rx.on_packet(900, &start(2, 160));
        assert_eq!(
            got,
            vec![ReceivedDigit {
                digit: '1',
                duration_ms: 40
            }]
        );
        assert_eq!(
            rx.flush(),
            Some(ReceivedDigit {
                digit: '2',
                duration_ms: 20
            })
        );
        assert_eq!(rx.flush(), None);
        assert!(rx.on_packet(1, &[1, 2]).is_empty());
    }

    use super::event_payload as ev;

    /// Feeds a RED packet's telephone-event blocks, oldest first, as the
    /// engine does.
    fn feed_red(rx: &mut DtmfReceiver, ts: u32, payload: &[u8]) -> Vec<char> {
        crate::red::parse_red(ts, payload)
            .unwrap()
            .into_iter()
            .filter(|b| b.payload_type == 101)
            .flat_map(|b| rx.on_packet(b.timestamp, b.payload))
            .map(|d| d.digit)
            .collect()
    }

    #[test]
    fn red_blocks_repeating_an_event_give_one_digit() {
        use crate::red::build_red;
        let mut rx = DtmfReceiver::new();
        let mut digits = Vec::new();
        // Digit 5 at ts 1000, 3 updates + 3 ends, each packet carrying the
        // two previous payloads as redundancy (offset 0: same event).
        let payloads = [
            ev(5, false, 160),
            ev(5, false, 320),
            ev(5, false, 480),
            ev(5, true, 640),
            ev(5, true, 640),
            ev(5, true, 640),
        ];
        for red in crate::red::red_series(101, &payloads, 2) {
            digits.extend(feed_red(&mut rx, 1000, &red));
        }
        // Then digit 6 at ts 2600, whose first packets still carry 5's end
        // packets as redundancy (offset 1600).
        let red = build_red(
            &[(101, 1600, &payloads[4][..]), (101, 1600, &payloads[5][..])],
            101,
            &ev(6, false, 160),
        );
        digits.extend(feed_red(&mut rx, 2600, &red));
        let red = build_red(
            &[
                (101, 1600, &payloads[5][..]),
                (101, 0, &ev(6, false, 160)[..]),
            ],
            101,
            &ev(6, true, 320),
        );
        digits.extend(feed_red(&mut rx, 2600, &red));
        assert_eq!(digits, vec!['5', '6']);
    }

    #[test]
    fn red_recovers_a_digit_whose_own_packets_were_lost() {
        use crate::red::build_red;
        let mut rx = DtmfReceiver::new();
        // Digit 1 at ts 1000 lost entirely except as redundancy in the
        // first packet of digit 2 (ts 2000): its end, 640 ticks = 80 ms.
        let red = build_red(
            &[(101, 1000, &ev(1, true, 640)[..])],
            101,
            &ev(2, false, 160),
        );
        let got: Vec<ReceivedDigit> = crate::red::parse_red(2000, &red)
            .unwrap()
            .into_iter()
            .flat_map(|b| rx.on_packet(b.timestamp, b.payload))
            .collect();
        assert_eq!(
            got,
            vec![ReceivedDigit {
                digit: '1',
                duration_ms: 80
            }]
        );
        // Digit 2's end, recovered from the redundant copy in the next
        // packet whose primary is digit 3's start (digit 2's own end lost).
        let red = build_red(
            &[(101, 1000, &ev(2, true, 480)[..])],
            101,
            &ev(3, false, 160),
        );
        let got: Vec<char> = feed_red(&mut rx, 3000, &red);
        assert_eq!(got, vec!['2']);
        // A late copy of digit 1 (older than what was reported) is ignored.
        assert!(rx.on_packet(1000, &ev(1, true, 640)).is_empty());
    }
}
