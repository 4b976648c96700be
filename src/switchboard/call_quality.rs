//! The audio quality of a call's legs, read from the media room when their sessions are
//! released and handed to the call-log writer with the call's other writes (no store round
//! trip here).

use guichet_media::{MediaHandle, SessionId, SessionStats};
use guichet_tickets::call_log::CallLogWrite;
use guichet_tickets::call_quality::{LegCounters, LegQuality, MediaLeg};
use tracing::info;

use super::{Call, Switchboard};

/// The one-way delay the MOS estimate assumes: one 20 ms packet plus the bridge's jitter
/// buffer. The network's share is not measured (no round trip from RTCP yet); on a helpdesk
/// LAN or a national trunk it is small next to these.
fn assumed_one_way_delay_ms() -> f64 {
    20.0 + f64::from(guichet_media::MediaConfig::default().jitter_buffer_ms)
}

fn micros(ms: f64) -> u64 {
    (ms.max(0.0) * 1000.0).round() as u64
}

/// A leg's stored quality from its session's counters.
pub(super) fn leg_quality(leg: MediaLeg, stats: &SessionStats) -> LegQuality {
    let counters = LegCounters {
        packets_sent: stats.packets_sent,
        packets_received: stats.packets_received,
        packets_lost: stats.packets_lost.max(0) as u64,
        late_packets: stats.late_packets,
        jitter_max_us: micros(stats.max_jitter_ms),
        jitter_final_us: micros(stats.jitter_ms),
        remote_fraction_lost: stats
            .remote_fraction_lost
            .map(|f| (f * 256.0).round().clamp(0.0, 255.0) as u8),
    };
    LegQuality::estimate(leg, counters, assumed_one_way_delay_ms())
}

/// The answering agent's leg quality, read before its session is released while the call
/// goes on (the agent hung up first); written with the caller's at the end.
pub(super) fn agent_quality(media: &MediaHandle, session: SessionId) -> Option<LegQuality> {
    media
        .stats(session)
        .ok()
        .map(|s| leg_quality(MediaLeg::Agent, &s))
}

impl Switchboard {
    /// The quality of a leg whose session is still open (`None` once released).
    pub(super) fn session_quality(&self, leg: MediaLeg, media: SessionId) -> Option<LegQuality> {
        self.media.stats(media).ok().map(|s| leg_quality(leg, &s))
    }

    /// Hands the quality of a finishing call's legs to the call log: the caller's, and the
    /// answering agent's (desk phone or browser softphone) if there was one. Call before the
    /// sessions are released.
    pub(super) fn write_call_quality(&self, call: &Call) {
        let answering_media = call
            .agent
            .as_ref()
            .filter(|a| a.answered)
            .map(|a| a.media)
            .or_else(|| {
                call.browser
                    .as_ref()
                    .filter(|b| b.answered)
                    .and_then(|b| b.media)
            });
        let agent = answering_media
            .and_then(|m| self.session_quality(MediaLeg::Agent, m))
            .or(call.agent_quality);
        self.write_legs_quality(call.record, &call.sip, call.media, agent);
    }

    /// The same for an outbound callback that reached the caller: the called-back caller's
    /// leg and the agent's.
    pub(super) fn write_callback_quality(
        &self,
        record: i64,
        sip: &guichet_sip::CallId,
        customer: SessionId,
        agent: SessionId,
    ) {
        let agent = self.session_quality(MediaLeg::Agent, agent);
        self.write_legs_quality(record, sip, customer, agent);
    }

    fn write_legs_quality(
        &self,
        record: i64,
        sip: &guichet_sip::CallId,
        caller_media: SessionId,
        agent: Option<LegQuality>,
    ) {
        let mut legs = Vec::with_capacity(2);
        if let Some(caller) = self.session_quality(MediaLeg::Caller, caller_media) {
            // Once per call, without the phone number.
            info!(
                call_id = %sip,
                packets_received = caller.counters.packets_received,
                packets_lost = caller.counters.packets_lost,
                late_packets = caller.counters.late_packets,
                jitter_max_us = caller.counters.jitter_max_us,
                packets_sent = caller.counters.packets_sent,
                mos = caller.mos(),
                "caller media"
            );
            legs.push(caller);
        }
        legs.extend(agent);
        if !legs.is_empty() {
            self.call_log
                .write(CallLogWrite::MediaQuality { call: record, legs });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_counters_become_stored_counters() {
        let stats = SessionStats {
            packets_sent: 502,
            packets_received: 498,
            packets_lost: -2,
            late_packets: 3,
            jitter_ms: 1.125,
            max_jitter_ms: 4.5,
            remote_fraction_lost: Some(0.1),
            ..SessionStats::default()
        };
        let q = leg_quality(MediaLeg::Caller, &stats);
        assert_eq!(q.counters.packets_lost, 0, "duplicates are not a gain");
        assert_eq!(q.counters.jitter_final_us, 1125);
        assert_eq!(q.counters.jitter_max_us, 4500);
        assert_eq!(q.counters.remote_fraction_lost, Some(26));
        assert_eq!(q.counters.packets_sent, 502);
        // The remote's 26/256 ≈ 10 % dominates the 3/498 late: a bad line.
        assert!(q.mos() < 2.0, "mos {}", q.mos());
    }
}
