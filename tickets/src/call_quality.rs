//! The audio quality of a call's legs, kept with its record: what the media room counted on
//! each RTP session (packets, loss, late packets, jitter, the remote's RTCP view) and a MOS
//! estimate derived from it, for the supervisor reading a call afterwards ("la ligne
//! coupait") and the operator checking a trunk.
//!
//! The MOS estimate is the ITU-T G.107 E-model reduced to what a G.711 call without packet
//! loss concealment depends on: the equipment impairment under random loss (ITU-T G.107
//! §7.6, with G.711's `Ie = 0`, `Bpl = 4.3` from ITU-T G.113 Appendix I) and the delay
//! impairment `Id` in its usual linear approximation (Cole & Rosenbluth, "Voice over IP
//! performance monitoring", ACM SIGCOMM CCR 31(2), 2001), every other parameter at its G.107
//! default (`Ro − Is = 93.2`, `A = 0`). `docs/media.md` gives the formula and thresholds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::calls::CallLogQuery;
use crate::store::{Store, StoreError, parse_col, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// Which RTP session of a call.
    pub enum MediaLeg {
        /// The caller's leg (the trunk or the caller's phone).
        Caller => "caller",
        /// The answering agent's desk-phone leg.
        Agent => "agent",
    }
}

impl MediaLeg {
    /// The leg as a supervisor reads it.
    pub fn label_fr(self) -> &'static str {
        match self {
            MediaLeg::Caller => "Appelant",
            MediaLeg::Agent => "Agent",
        }
    }
}

/// What the media room counted on one leg, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegCounters {
    /// RTP packets Guichet sent on the leg.
    pub packets_sent: u64,
    /// RTP packets received and accepted.
    pub packets_received: u64,
    /// Packets lost according to sequence numbers (RFC 3550 A.3; duplicates count as zero).
    pub packets_lost: u64,
    /// Packets that reached the bridge's jitter buffer after their playout time (not played).
    pub late_packets: u64,
    /// Highest interarrival jitter seen during the call (RFC 3550 A.8), in microseconds.
    pub jitter_max_us: u64,
    /// Interarrival jitter at the end of the call, in microseconds.
    pub jitter_final_us: u64,
    /// Fraction lost (x/256) in the last RTCP report the remote sent about Guichet's stream,
    /// if it sent one.
    pub remote_fraction_lost: Option<u8>,
}

impl LegCounters {
    /// Share (0–1) of the packets Guichet expected that were not played: lost in the
    /// network or too late for the jitter buffer. A leg on which nothing arrived counts as
    /// all lost (no audio at all).
    pub fn local_loss_ratio(&self) -> f64 {
        let expected = self.packets_received + self.packets_lost;
        if self.packets_received == 0 {
            return 1.0;
        }
        ((self.packets_lost + self.late_packets) as f64 / expected as f64).min(1.0)
    }

    /// Loss ratio the MOS is computed from: the worse direction, Guichet's reception or the
    /// remote's (its last RTCP report), when known.
    pub fn effective_loss_ratio(&self) -> f64 {
        let remote = self
            .remote_fraction_lost
            .map_or(0.0, |f| f64::from(f) / 256.0);
        self.local_loss_ratio().max(remote)
    }
}

/// One leg's stored quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegQuality {
    /// Which leg.
    pub leg: MediaLeg,
    /// What was counted.
    pub counters: LegCounters,
    /// MOS estimate (1.00–4.50) in hundredths.
    pub mos_centi: u16,
}

impl LegQuality {
    /// The quality of a leg from its counters, with the MOS estimated for a one-way delay of
    /// `one_way_delay_ms` (packetisation plus the bridge's jitter buffer: Guichet cannot
    /// measure the network's share).
    pub fn estimate(leg: MediaLeg, counters: LegCounters, one_way_delay_ms: f64) -> LegQuality {
        let mos = mos_estimate(counters.effective_loss_ratio(), one_way_delay_ms);
        LegQuality {
            leg,
            counters,
            mos_centi: (mos * 100.0).round().clamp(100.0, 450.0) as u16,
        }
    }

    /// The MOS estimate.
    pub fn mos(&self) -> f64 {
        f64::from(self.mos_centi) / 100.0
    }

    /// The plain-French verdict.
    pub fn verdict(&self) -> AudioVerdict {
        if self.counters.packets_received == 0 {
            return AudioVerdict::Bad;
        }
        AudioVerdict::from_mos(self.mos())
    }
}

text_enum! {
    /// What a supervisor reads of a leg's MOS.
    pub enum AudioVerdict {
        /// MOS ≥ 4.0 (G.107 Annex B: users satisfied).
        Good => "good",
        /// 3.1 ≤ MOS < 4.0 (some to many users dissatisfied).
        Degraded => "degraded",
        /// MOS < 3.1 (nearly all users dissatisfied), or nothing received.
        Bad => "bad",
    }
}

/// Lowest MOS read as « bonne ».
pub const GOOD_MOS: f64 = 4.0;
/// Lowest MOS read as « dégradée » (below: « mauvaise »).
pub const DEGRADED_MOS: f64 = 3.1;

impl AudioVerdict {
    /// The verdict of a MOS estimate.
    pub fn from_mos(mos: f64) -> AudioVerdict {
        if mos >= GOOD_MOS {
            AudioVerdict::Good
        } else if mos >= DEGRADED_MOS {
            AudioVerdict::Degraded
        } else {
            AudioVerdict::Bad
        }
    }

    /// The verdict in French.
    pub fn label_fr(self) -> &'static str {
        match self {
            AudioVerdict::Good => "bonne",
            AudioVerdict::Degraded => "dégradée",
            AudioVerdict::Bad => "mauvaise",
        }
    }
}

/// G.711's packet-loss robustness factor under random loss, without loss concealment
/// (ITU-T G.113 Appendix I).
const G711_BPL: f64 = 4.3;

/// The E-model's transmission rating R for G.711 with `loss_ratio` (0–1) random packet loss
/// and `one_way_delay_ms` mouth-to-ear delay.
pub fn r_factor(loss_ratio: f64, one_way_delay_ms: f64) -> f64 {
    let loss_percent = (loss_ratio.clamp(0.0, 1.0)) * 100.0;
    // G.107 §7.6 with Ie = 0 and BurstR = 1 (random loss).
    let ie_eff = 95.0 * loss_percent / (loss_percent + G711_BPL);
    let d = one_way_delay_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    93.2 - id - ie_eff
}

/// The MOS (1–4.5) the E-model gives for G.711 with `loss_ratio` random loss and
/// `one_way_delay_ms` delay (G.107 Annex B conversion of R).
pub fn mos_estimate(loss_ratio: f64, one_way_delay_ms: f64) -> f64 {
    let r = r_factor(loss_ratio, one_way_delay_ms);
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        // The cubic dips just below 1 for R under about 6.5: bounded like R.
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
    }
}

const QUALITY_COLUMNS: &str = "call_id, leg, packets_sent, packets_received, packets_lost, \
     late_packets, jitter_max_us, jitter_final_us, remote_fraction_lost, mos_centi";

/// The head of the `INSERT` of legs' rows (`VALUES` follow, [`QUALITY_WIDTH`] a row).
pub(crate) const QUALITY_INSERT: &str = "INSERT INTO call_media_quality (call_id, leg, \
     packets_sent, packets_received, packets_lost, late_packets, jitter_max_us, \
     jitter_final_us, remote_fraction_lost, mos_centi)";
/// Parameters of one leg's row.
pub(crate) const QUALITY_WIDTH: usize = 10;

/// Counters are stored as signed 64-bit integers (both databases); beyond that they saturate.
fn stored(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn counter(r: &AnyRow, idx: usize) -> Result<u64, StoreError> {
    Ok(r.try_get::<i64, _>(idx)?.max(0) as u64)
}

/// Binds one leg's row ([`QUALITY_WIDTH`] parameters, in [`QUALITY_INSERT`]'s order).
pub(crate) fn bind_quality(query: CallLogQuery, call: i64, q: &LegQuality) -> CallLogQuery {
    let c = &q.counters;
    query
        .bind(call)
        .bind(q.leg.as_str())
        .bind(stored(c.packets_sent))
        .bind(stored(c.packets_received))
        .bind(stored(c.packets_lost))
        .bind(stored(c.late_packets))
        .bind(stored(c.jitter_max_us))
        .bind(stored(c.jitter_final_us))
        .bind(c.remote_fraction_lost.map(i64::from))
        .bind(i64::from(q.mos_centi))
}

fn quality_from_row(r: &AnyRow) -> Result<(i64, LegQuality), StoreError> {
    let remote: Option<i64> = r.try_get(8)?;
    let mos: i64 = r.try_get(9)?;
    Ok((
        r.try_get(0)?,
        LegQuality {
            leg: parse_col("call_media_quality.leg", r.try_get(1)?)?,
            counters: LegCounters {
                packets_sent: counter(r, 2)?,
                packets_received: counter(r, 3)?,
                packets_lost: counter(r, 4)?,
                late_packets: counter(r, 5)?,
                jitter_max_us: counter(r, 6)?,
                jitter_final_us: counter(r, 7)?,
                remote_fraction_lost: remote.map(|v| v.clamp(0, 255) as u8),
            },
            mos_centi: mos.clamp(100, 450) as u16,
        },
    ))
}

/// Caller leg first, then the agent's.
fn sort_legs(legs: &mut [LegQuality]) {
    legs.sort_by_key(|q| q.leg != MediaLeg::Caller);
}

impl Store {
    /// Stores the quality of call `call`'s legs in one transaction (the switchboard goes
    /// through the call-log writer instead: [`crate::call_log::CallLogWrite::MediaQuality`]).
    pub async fn record_call_quality(
        &self,
        call: i64,
        legs: &[LegQuality],
    ) -> Result<(), StoreError> {
        let rows: Vec<(i64, &LegQuality)> = legs.iter().map(|q| (call, q)).collect();
        let mut tx = self.writer.begin().await?;
        crate::call_log::insert_legs(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored quality of call `call`'s legs, caller first; empty when none was stored
    /// (no media, or a call from before this was kept).
    pub async fn call_quality(&self, call: i64) -> Result<Vec<LegQuality>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {QUALITY_COLUMNS} FROM call_media_quality WHERE call_id = $1"
        ))
        .bind(call)
        .fetch_all(&self.reader)
        .await?;
        let mut legs = rows
            .iter()
            .map(|r| quality_from_row(r).map(|(_, q)| q))
            .collect::<Result<Vec<_>, _>>()?;
        sort_legs(&mut legs);
        Ok(legs)
    }

    /// The stored quality of the calls that arrived in `[from, to)`, by call id.
    pub async fn call_quality_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, Vec<LegQuality>>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT q.{} FROM call_media_quality q JOIN calls c ON c.id = q.call_id \
             WHERE c.arrived_at >= $1 AND c.arrived_at < $2",
            QUALITY_COLUMNS.replace(", ", ", q.")
        ))
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        let mut by_call: HashMap<i64, Vec<LegQuality>> = HashMap::new();
        for r in &rows {
            let (call, q) = quality_from_row(r)?;
            by_call.entry(call).or_default().push(q);
        }
        for legs in by_call.values_mut() {
            sort_legs(legs);
        }
        Ok(by_call)
    }
}

/// How many calls of a period had their audio measured, and how many of those were not
/// « bonne » (a leg under [`GOOD_MOS`] or silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioTotals {
    /// Calls with at least one measured leg.
    pub measured: u64,
    /// Of those, calls whose verdict is « dégradée » or « mauvaise ».
    pub degraded: u64,
}

impl Store {
    /// [`AudioTotals`] of the calls that arrived in `[from, to)`, counted by the database.
    pub async fn audio_totals_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<AudioTotals, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN worst < $3 OR silent > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM (SELECT q.call_id, MIN(q.mos_centi) AS worst, \
                   SUM(CASE WHEN q.packets_received = 0 THEN 1 ELSE 0 END) AS silent \
                   FROM call_media_quality q JOIN calls c ON c.id = q.call_id \
                   WHERE c.arrived_at >= $1 AND c.arrived_at < $2 GROUP BY q.call_id) per_call",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .bind((GOOD_MOS * 100.0).round() as i64)
        .fetch_one(&self.reader)
        .await?;
        Ok(AudioTotals {
            measured: counter(&row, 0)?,
            degraded: counter(&row, 1)?,
        })
    }
}

/// The worst verdict of a call's legs (`None` without stored quality).
pub fn call_verdict(legs: &[LegQuality]) -> Option<AudioVerdict> {
    legs.iter()
        .map(LegQuality::verdict)
        .max_by_key(|v| match v {
            AudioVerdict::Good => 0,
            AudioVerdict::Degraded => 1,
            AudioVerdict::Bad => 2,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mos_without_loss_is_g711_best() {
        // R = 93.2 − 0.024 × 60 = 91.76; MOS = 1 + 0.035 R + R (R − 60)(100 − R) 7e-6
        // = 1 + 3.2116 + 91.76 × 31.76 × 8.24 × 7e-6 = 4.3797.
        let mos = mos_estimate(0.0, 60.0);
        assert!((mos - 4.3797).abs() < 0.001, "mos {mos}");
        // No delay at all: R = 93.2, MOS = 4.41.
        assert!((mos_estimate(0.0, 0.0) - 4.4094).abs() < 0.001);
    }

    #[test]
    fn five_percent_random_loss_costs_what_the_formula_says() {
        // Ie_eff = 95 × 5 / (5 + 4.3) = 51.075; R = 91.76 − 51.075 = 40.685;
        // MOS = 1 + 1.42397 + 40.685 × (−19.315) × 59.315 × 7e-6 = 2.0977.
        let mos = mos_estimate(0.05, 60.0);
        assert!((mos - 2.0977).abs() < 0.001, "mos {mos}");
        assert!((r_factor(0.05, 60.0) - 40.685).abs() < 0.001);
        // 1 %: Ie_eff = 95 / 5.3 = 17.925, R = 73.835, MOS = 3.7713.
        assert!((mos_estimate(0.01, 60.0) - 3.7713).abs() < 0.001);
    }

    #[test]
    fn long_delay_adds_its_impairment() {
        // d = 300 ms: Id = 7.2 + 0.11 × 122.7 = 20.697; R = 72.503.
        assert!((r_factor(0.0, 300.0) - 72.503).abs() < 0.001);
    }

    #[test]
    fn mos_is_bounded() {
        assert_eq!(mos_estimate(1.0, 1000.0), 1.0);
        assert!(mos_estimate(1.0, 0.0) >= 1.0);
    }

    fn leg(received: u64, lost: u64, late: u64, remote: Option<u8>) -> LegQuality {
        LegQuality::estimate(
            MediaLeg::Caller,
            LegCounters {
                packets_received: received,
                packets_lost: lost,
                late_packets: late,
                remote_fraction_lost: remote,
                ..LegCounters::default()
            },
            60.0,
        )
    }

    #[test]
    fn verdicts_follow_the_thresholds() {
        let clean = leg(1000, 0, 0, None);
        assert_eq!(clean.mos_centi, 438);
        assert_eq!(clean.verdict(), AudioVerdict::Good);
        // 10 lost + 0 late of 1000 expected: 1 % → 3.77, degraded.
        let one_percent = leg(990, 10, 0, None);
        assert_eq!(one_percent.mos_centi, 377);
        assert_eq!(one_percent.verdict(), AudioVerdict::Degraded);
        // Late packets count as lost: 50 late of 1000 expected → 5 %.
        let late = leg(1000, 0, 50, None);
        assert_eq!(late.mos_centi, 210);
        assert_eq!(late.verdict(), AudioVerdict::Bad);
        // The remote's report counts when worse: 13/256 ≈ 5.1 %.
        let remote = leg(1000, 0, 0, Some(13));
        assert_eq!(remote.verdict(), AudioVerdict::Bad);
        // Nothing received: no audio at all.
        let silent = leg(0, 0, 0, None);
        assert_eq!(silent.mos_centi, 100);
        assert_eq!(silent.verdict(), AudioVerdict::Bad);
        assert_eq!(
            call_verdict(&[clean, one_percent]),
            Some(AudioVerdict::Degraded)
        );
        assert_eq!(call_verdict(&[]), None);
    }
}
