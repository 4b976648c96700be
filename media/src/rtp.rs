//! RTP and RTCP wire formats and reception statistics (RFC 3550).
//!
//! Sans-IO: parsing, serialising and the receiver-side bookkeeping of
//! RFC 3550 appendix A.1 (sequence numbers), A.3 (loss) and A.8 (jitter).

use thiserror::Error;

/// Why a datagram is not a usable RTP or RTCP packet.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than its fixed header or than the lengths it announces.
    #[error("packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The padding count is larger than the payload.
    #[error("invalid padding")]
    BadPadding,
    /// An RTCP packet type we do not understand in first position.
    #[error("not an RTCP sender or receiver report (type {0})")]
    NotAReport(u8),
}

/// A parsed RTP packet borrowing the datagram it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit (start of a talkspurt for audio).
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp (8 kHz clock for G.711 and telephone-event).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload, after CSRCs, header extension and padding are removed.
    pub payload: &'a [u8],
}

/// Size of the fixed RTP header.
pub const RTP_HEADER_LEN: usize = 12;

impl<'a> RtpPacket<'a> {
    /// Parses a datagram. RTCP packets (payload types 72-76 with the marker
    /// bit, RFC 5761) are not rejected here; callers demultiplex by port.
    pub fn parse(buf: &'a [u8]) -> Result<Self, PacketError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(PacketError::Truncated);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(PacketError::BadVersion(version));
        }
        let padding = buf[0] & 0x20 != 0;
        let extension = buf[0] & 0x10 != 0;
        let csrc_count = (buf[0] & 0x0F) as usize;
        let mut start = RTP_HEADER_LEN + 4 * csrc_count;
        if buf.len() < start {
            return Err(PacketError::Truncated);
        }
        if extension {
            if buf.len() < start + 4 {
                return Err(PacketError::Truncated);
            }
            let words = u16::from_be_bytes([buf[start + 2], buf[start + 3]]) as usize;
            start += 4 + 4 * words;
            if buf.len() < start {
                return Err(PacketError::Truncated);
            }
        }
        let mut end = buf.len();
        if padding {
            let pad = buf[end - 1] as usize;
            if pad == 0 || pad > end - start {
                return Err(PacketError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7F,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[start..end],
        })
    }

    /// Serialises the packet (no CSRC, no extension, no padding) into `out`,
    /// which is cleared first.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(RTP_HEADER_LEN + self.payload.len());
        out.push(0x80);
        out.push(((self.marker as u8) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

/// One reception report block of an SR or RR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// SSRC of the source this block is about.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// Sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point).
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

/// A sender report (with `sender`) or receiver report (without).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtcpReport {
    /// SSRC of the packet's sender.
    pub ssrc: u32,
    /// Present for an SR, absent for an RR.
    pub sender: Option<SenderInfo>,
    /// Reception report blocks (at most 31).
    pub blocks: Vec<ReportBlock>,
}

const RTCP_SR: u8 = 200;
const RTCP_RR: u8 = 201;

impl RtcpReport {
    /// Parses the first packet of a compound RTCP datagram, which RFC 3550
    /// requires to be an SR or RR; the rest of the compound is ignored.
    pub fn parse(buf: &[u8]) -> Result<Self, PacketError> {
        if buf.len() < 8 {
            return Err(PacketError::Truncated);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(PacketError::BadVersion(version));
        }
        let count = (buf[0] & 0x1F) as usize;
        let packet_type = buf[1];
        let length = (u16::from_be_bytes([buf[2], buf[3]]) as usize + 1) * 4;
        if buf.len() < length {
            return Err(PacketError::Truncated);
        }
        let ssrc = be32(buf, 4);
        let (sender, mut at) = match packet_type {
            RTCP_SR => {
                if length < 28 {
                    return Err(PacketError::Truncated);
                }
                let info = SenderInfo {
                    ntp_timestamp: ((be32(buf, 8) as u64) << 32) | be32(buf, 12) as u64,
                    rtp_timestamp: be32(buf, 16),
                    packet_count: be32(buf, 20),
                    octet_count: be32(buf, 24),
                };
                (Some(info), 28)
            }
            RTCP_RR => (None, 8),
            other => return Err(PacketError::NotAReport(other)),
        };
        if length < at + 24 * count {
            return Err(PacketError::Truncated);
        }
        let mut blocks = Vec::with_capacity(count);
        for _ in 0..count {
            let lost_word = be32(buf, at + 4);
            // 24-bit two's complement.
            let cumulative_lost = ((lost_word << 8) as i32) >> 8;
            blocks.push(ReportBlock {
                ssrc: be32(buf, at),
                fraction_lost: (lost_word >> 24) as u8,
                cumulative_lost,
                highest_sequence: be32(buf, at + 8),
                jitter: be32(buf, at + 12),
                last_sr: be32(buf, at + 16),
                delay_since_last_sr: be32(buf, at + 20),
            });
            at += 24;
        }
        Ok(RtcpReport {
            ssrc,
            sender,
            blocks,
        })
    }

    /// Serialises this report as a single RTCP packet into `out` (cleared
    /// first). At most 31 blocks are written.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        let blocks = &self.blocks[..self.blocks.len().min(31)];
        let words = 1 + if self.sender.is_some() { 5 } else { 0 } + 6 * blocks.len();
        out.push(0x80 | blocks.len() as u8);
        out.push(if self.sender.is_some() {
            RTCP_SR
        } else {
            RTCP_RR
        });
        out.extend_from_slice(&(words as u16).to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        if let Some(info) = &self.sender {
            out.extend_from_slice(&info.ntp_timestamp.to_be_bytes());
            out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
            out.extend_from_slice(&info.packet_count.to_be_bytes());
            out.extend_from_slice(&info.octet_count.to_be_bytes());
        }
        for b in blocks {
            out.extend_from_slice(&b.ssrc.to_be_bytes());
            let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
            out.extend_from_slice(&(((b.fraction_lost as u32) << 24) | lost).to_be_bytes());
            out.extend_from_slice(&b.highest_sequence.to_be_bytes());
            out.extend_from_slice(&b.jitter.to_be_bytes());
            out.extend_from_slice(&b.last_sr.to_be_bytes());
            out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
        }
    }
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// What [`ReceptionStats::on_packet`] concluded about a packet's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// In order or acceptable reordering; counted.
    Valid,
    /// A duplicate or a packet from far in the past; counted as late.
    Late,
    /// Source still on probation or restarting after a big jump.
    Probation,
}

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u8 = 2;
const SEQ_MOD: u32 = 1 << 16;

/// Receiver-side bookkeeping for one source (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceptionStats {
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u8,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i64>,
    /// Jitter estimate in timestamp units, scaled by 16 as in A.8.
    jitter_q4: u64,
    /// Highest `jitter_q4` reached.
    max_jitter_q4: u64,
    started: bool,
    late: u64,
}

impl ReceptionStats {
    /// A fresh state; the first packet seen initialises it.
    pub fn new() -> Self {
        Self::default()
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Accounts one packet. `arrival` is the arrival time expressed in
    /// timestamp units (8 kHz ticks from any fixed origin).
    pub fn on_packet(&mut self, seq: u16, rtp_timestamp: u32, arrival: u32) -> SequenceVerdict {
        let verdict = self.update_seq(seq);
        if verdict == SequenceVerdict::Valid {
            // A.8: transit difference, jitter += (|D| - jitter) / 16.
            let transit = arrival.wrapping_sub(rtp_timestamp) as i32 as i64;
            if let Some(prev) = self.transit {
                let d = (transit - prev).unsigned_abs();
                let j = self.jitter_q4 as i64;
                self.jitter_q4 = (j + (d as i64 * 16 - j) / 16).max(0) as u64;
                self.max_jitter_q4 = self.max_jitter_q4.max(self.jitter_q4);
            }
            self.transit = Some(transit);
        } else if verdict == SequenceVerdict::Late {
            self.late += 1;
        }
        verdict
    }

    fn update_seq(&mut self, seq: u16) -> SequenceVerdict {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SequenceVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SequenceVerdict::Probation;
        } else if udelta < MAX_DROPOUT {
            if udelta == 0 {
                return SequenceVerdict::Late;
            }
            if seq < self.max_seq {
                self.cycles += SEQ_MOD;
            }
            self.max_seq = seq;
        } else if udelta as u32 <= SEQ_MOD - MAX_MISORDER as u32 {
            // A very large jump: accept after two sequential packets.
            if seq as u32 == self.bad_seq {
                self.init_seq(seq);
            } else {
                self.bad_seq = (seq as u32 + 1) & (SEQ_MOD - 1);
                return SequenceVerdict::Probation;
            }
        } else {
            // Duplicate or reordered packet behind max_seq.
            self.received += 1;
            return SequenceVerdict::Late;
        }
        self.received += 1;
        SequenceVerdict::Valid
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles + self.max_seq as u32
    }

    /// Packets received (including reordered ones).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u32 {
        if self.received == 0 {
            0
        } else {
            self.extended_max()
                .wrapping_sub(self.base_seq)
                .wrapping_add(1)
        }
    }

    /// Cumulative packets lost (A.3); negative with duplicates.
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Packets that arrived behind the highest sequence number already
    /// seen (reordered or duplicated).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// Highest interarrival jitter reached so far, in timestamp units.
    pub fn max_jitter(&self) -> u32 {
        (self.max_jitter_q4 >> 4) as u32
    }

    /// Builds a report block for `ssrc` and starts a new reporting
    /// interval (the fraction lost is relative to the previous call).
    pub fn report_block(
        &mut self,
        ssrc: u32,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_sequence: self.extended_max(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_round_trip() {
        let p = RtpPacket {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0102_0304,
            payload: &[1, 2, 3],
        };
        let mut buf = Vec::new();
        p.write(&mut buf);
        assert_eq!(buf.len(), 15);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0x88);
        assert_eq!(RtpPacket::parse(&buf).unwrap(), p);
    }

    #[test]
    fn rtp_with_csrc_extension_and_padding() {
        let mut buf = vec![0xB1, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        buf.extend_from_slice(&[0xAA; 4]); // one CSRC
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension, 1 word
        buf.extend_from_slice(&[7, 7, 7]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.payload, &[7, 7, 7]);
        assert_eq!(p.timestamp, 160);
        assert_eq!(p.ssrc, 9);
    }

    #[test]
    fn rtp_rejects_garbage() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(PacketError::Truncated));
        assert_eq!(
            RtpPacket::parse(&[0x40; 12]),
            Err(PacketError::BadVersion(1))
        );
        let mut bad_pad = vec![0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 50];
        assert_eq!(RtpPacket::parse(&bad_pad), Err(PacketError::BadPadding));
        bad_pad[0] = 0x8F; // 15 CSRCs announced
        assert_eq!(RtpPacket::parse(&bad_pad), Err(PacketError::Truncated));
    }

    #[test]
    fn rtcp_sr_round_trip_with_negative_loss() {
        let r = RtcpReport {
            ssrc: 42,
            sender: Some(SenderInfo {
                ntp_timestamp: 0x1122_3344_5566_7788,
                rtp_timestamp: 1600,
                packet_count: 10,
                octet_count: 1600,
            }),
            blocks: vec![ReportBlock {
                ssrc: 7,
                fraction_lost: 64,
                cumulative_lost: -3,
                highest_sequence: 70000,
                jitter: 12,
                last_sr: 5,
                delay_since_last_sr: 6,
            }],
        };
        let mut buf = Vec::new();
        r.write(&mut buf);
        assert_eq!(buf.len(), 52);
        assert_eq!(RtcpReport::parse(&buf).unwrap(), r);
        let rr = RtcpReport {
            ssrc: 1,
            sender: None,
            blocks: vec![],
        };
        rr.write(&mut buf);
        assert_eq!(buf.len(), 8);
        assert_eq!(RtcpReport::parse(&buf).unwrap(), rr);
        assert_eq!(
            RtcpReport::parse(&[0x80, 202, 0, 1, 0, 0, 0, 0]),
            Err(PacketError::NotAReport(202))
        );
    }

    #[test]
    fn loss_and_fraction_per_interval() {
        let mut s = ReceptionStats::new();
        // 100 packets across the 16-bit wrap, every 10th missing.
        let mut seq: u16 = 65500;
        for i in 0..100u32 {
            if i % 10 != 5 {
                s.on_packet(seq, i * 160, i * 160);
            }
            seq = seq.wrapping_add(1);
        }
        // Probation swallows the first packet (A.1): it is not counted.
        assert_eq!(s.expected(), 99);
        assert_eq!(s.received(), 89);
        assert_eq!(s.cumulative_lost(), 10);
        assert_eq!(s.extended_max(), 65536 + 63);
        let block = s.report_block(9, 0, 0);
        assert_eq!(block.fraction_lost, (10 * 256 / 99) as u8);
        assert_eq!(block.cumulative_lost, 10);
        // Next interval without loss.
        for i in 100..110u32 {
            s.on_packet(seq, i * 160, i * 160);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.report_block(9, 0, 0).fraction_lost, 0);
    }

    #[test]
    fn jitter_follows_a8() {
        let mut s = ReceptionStats::new();
        // Perfect pacing: no jitter.
        for i in 0..50u32 {
            s.on_packet(i as u16, i * 160, 1000 + i * 160);
        }
        assert_eq!(s.jitter(), 0);
        // Alternate arrival offsets of +40 and 0 ticks: |D| = 40 each time,
        // so the estimate converges towards 40.
        for i in 50..400u32 {
            let offset = if i % 2 == 0 { 40 } else { 0 };
            s.on_packet(i as u16, i * 160, 1000 + i * 160 + offset);
        }
        assert!((38..=40).contains(&s.jitter()), "jitter {}", s.jitter());
        // Back to perfect pacing: the estimate decays, the maximum stays.
        let peak = s.max_jitter();
        assert!(
            peak >= s.jitter() && (38..=40).contains(&peak),
            "max {peak}"
        );
        for i in 400..600u32 {
            s.on_packet(i as u16, i * 160, 1000 + i * 160);
        }
        assert!(s.jitter() < 5, "jitter {}", s.jitter());
        assert_eq!(s.max_jitter(), peak);
    }

    #[test]
    fn duplicates_are_late() {
        let mut s = ReceptionStats::new();
        for i in 0..10u16 {
            s.on_packet(i, i as u32 * 160, i as u32 * 160);
        }
        assert_eq!(s.on_packet(9, 9 * 160, 2000), SequenceVerdict::Late);
        assert_eq!(s.on_packet(3, 3 * 160, 2000), SequenceVerdict::Late);
        assert_eq!(s.late(), 2);
    }
}
