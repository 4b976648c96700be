//! ACD statistics: pure functions over stored call facts.
//!
//! Every figure here is computed from [`CallFacts`] records (one per queue
//! visit, as stored in the call log), never from rolling averages kept in
//! memory: the numbers survive restarts and reconcile exactly with the call
//! log. The definitions are written out, with a hand-computed example, in
//! `docs/statistics.md`; the tests of this module check each formula on that
//! example.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How a call ended, seen from one queue visit (or from the IVR when it never
/// reached a queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An agent answered the call.
    Answered,
    /// The caller hung up while waiting in the queue (no agent ringing).
    AbandonedInQueue,
    /// The caller hung up while an agent's phone was ringing.
    AbandonedWhileRinging,
    /// An overflow rule moved the call to another queue (the destination
    /// queue gets its own record).
    OverflowedToQueue,
    /// An overflow rule transferred the call to an external number.
    OverflowedExternal,
    /// An overflow rule turned the call into a callback request.
    OverflowedCallback,
    /// Refused before reaching a queue (e.g. line saturated).
    Rejected,
    /// Refused at the helpdesk's door with 503 because the server was overloaded (too many
    /// calls in progress or arriving) or shutting down. Unlike [`Outcome::Rejected`] such a
    /// call counts as *presented*: the caller wanted the helpdesk, and the helpdesk did not
    /// take the call, so it lowers the answer rate rather than vanishing from it.
    Refused,
    /// The line was closed (opening hours, holiday, crisis closure).
    Closed,
    /// The caller hung up in the IVR, before reaching a queue.
    AbandonedInIvr,
}

impl Outcome {
    /// Whether the call counts as *presented*: it reached a queue, or it was refused for
    /// overload or shutdown ([`Outcome::Refused`]). Rejected, closed and IVR-abandoned
    /// calls are not presented.
    pub fn is_presented(self) -> bool {
        !matches!(self, Self::Rejected | Self::Closed | Self::AbandonedInIvr)
    }

    /// Whether the caller gave up while in the ACD (queue or ringing).
    pub fn is_abandoned(self) -> bool {
        matches!(self, Self::AbandonedInQueue | Self::AbandonedWhileRinging)
    }

    /// Whether an overflow rule moved the call out of the queue.
    pub fn is_overflowed(self) -> bool {
        matches!(
            self,
            Self::OverflowedToQueue | Self::OverflowedExternal | Self::OverflowedCallback
        )
    }
}

/// The stored facts of one queue visit of one call.
///
/// A call that overflows from queue A to queue B has two records: one for A
/// with outcome [`Outcome::OverflowedToQueue`], one for B with its final
/// outcome. A call that never reached a queue has one record with an empty
/// `queue` and outcome `Rejected`, `Closed` or `AbandonedInIvr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFacts {
    /// Queue name (empty when the call never reached a queue).
    pub queue: String,
    /// Login of the agent who answered (or was last offered the call).
    pub agent: Option<String>,
    /// The line (called number) the call came in on.
    pub line: String,
    /// The caller was VIP or in a P0 window.
    pub vip: bool,
    /// When the call entered the queue (start of the wait).
    pub entered_queue: Option<DateTime<Utc>>,
    /// When the call was first offered to an agent (phone started ringing).
    pub offered: Option<DateTime<Utc>>,
    /// When an agent answered.
    pub answered: Option<DateTime<Utc>>,
    /// When the visit ended: hang-up (either side), or the instant the call
    /// left the queue by overflow.
    pub ended: Option<DateTime<Utc>>,
    /// When the agent's wrap-up (after-call work) ended.
    pub wrap_up_ended: Option<DateTime<Utc>>,
    /// How the visit ended.
    pub outcome: Outcome,
}

impl CallFacts {
    /// Waiting time in the queue: until answer for answered calls, until the
    /// end of the visit otherwise. `None` when the instants are missing.
    pub fn wait(&self) -> Option<Duration> {
        let start = self.entered_queue?;
        let stop = match self.outcome {
            Outcome::Answered => self.answered?,
            _ => self.ended?,
        };
        Some((stop - start).max(Duration::zero()))
    }

    /// Talk time (answer to hang-up) of an answered call.
    pub fn talk(&self) -> Option<Duration> {
        match (self.outcome, self.answered, self.ended) {
            (Outcome::Answered, Some(a), Some(e)) => Some((e - a).max(Duration::zero())),
            _ => None,
        }
    }

    /// Wrap-up time (hang-up to end of after-call work); zero when no
    /// wrap-up end was recorded (queue without wrap-up).
    pub fn wrap_up(&self) -> Option<Duration> {
        match (self.outcome, self.ended) {
            (Outcome::Answered, Some(e)) => Some(
                self.wrap_up_ended
                    .map_or(Duration::zero(), |w| (w - e).max(Duration::zero())),
            ),
            _ => None,
        }
    }

    /// The instant used to place the record in an hour/day/week/month:
    /// entry in the queue, or the first instant known.
    pub fn reference_instant(&self) -> Option<DateTime<Utc>> {
        self.entered_queue
            .or(self.offered)
            .or(self.answered)
            .or(self.ended)
    }
}

/// Parameters of the indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// An abandon after a wait strictly shorter than this is a *short
    /// abandon* (counted apart, removed from the service-level
    /// denominator). Default 5 s.
    #[serde(default = "default_short_abandon", with = "seconds")]
    pub short_abandon: Duration,
    /// The service-level threshold T: answered within T counts as served on
    /// time. Default 20 s.
    #[serde(default = "default_sl_threshold", with = "seconds")]
    pub service_level_threshold: Duration,
}

fn default_short_abandon() -> Duration {
    Duration::seconds(5)
}

fn default_sl_threshold() -> Duration {
    Duration::seconds(20)
}

impl Default for StatsParams {
    fn default() -> Self {
        Self {
            short_abandon: default_short_abandon(),
            service_level_threshold: default_sl_threshold(),
        }
    }
}

/// Serde helper: durations written as whole seconds in the TOML config.
pub(crate) mod seconds {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = u32::deserialize(d)?;
        Ok(Duration::seconds(i64::from(s)))
    }
}

/// An exact ratio: numerator and denominator are kept so a published figure
/// can be reproduced and audited ("2165 / 2994 = 72.3 %").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Ratio {
    /// Numerator (e.g. answered calls).
    pub numerator: u64,
    /// Denominator (e.g. presented calls).
    pub denominator: u64,
}

impl Ratio {
    /// Builds a ratio.
    pub fn new(numerator: u64, denominator: u64) -> Self {
        Self {
            numerator,
            denominator,
        }
    }

    /// The ratio as a fraction in \[0, 1\]; `None` when the denominator is zero.
    pub fn value(self) -> Option<f64> {
        (self.denominator != 0).then(|| self.numerator as f64 / self.denominator as f64)
    }

    /// The ratio as a percentage; `None` when the denominator is zero.
    pub fn percent(self) -> Option<f64> {
        self.value().map(|v| v * 100.0)
    }
}

impl fmt::Display for Ratio {
    /// French display with one decimal, e.g. `72,3 %` (or `—` when undefined).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.percent() {
            Some(p) => write!(f, "{} %", format!("{p:.1}").replace('.', ",")),
            None => f.write_str("—"),
        }
    }
}

/// A mean duration kept as its exact sum and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MeanDuration {
    /// Sum of the durations, in milliseconds.
    pub total_ms: i64,
    /// Number of durations summed.
    pub count: u64,
}

impl MeanDuration {
    fn add(&mut self, d: Duration) {
        self.total_ms += d.num_milliseconds();
        self.count += 1;
    }

    /// The mean; `None` when nothing was counted.
    pub fn mean(self) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let count = i64::try_from(self.count).ok()?;
        Some(Duration::milliseconds(self.total_ms / count))
    }
}

/// The ACD indicators of a set of call records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Indicators {
    /// Calls that reached a queue, plus the calls refused for overload or shutdown
    /// (answered + abandoned + overflowed + refused).
    pub presented: u64,
    /// Calls answered by an agent.
    pub answered: u64,
    /// Calls abandoned in the ACD (in queue or while ringing), short abandons
    /// included.
    pub abandoned: u64,
    /// Of which abandoned while an agent's phone was ringing.
    pub abandoned_while_ringing: u64,
    /// Of which short abandons (wait < `short_abandon`), counted apart.
    pub short_abandoned: u64,
    /// Calls moved out by an overflow rule (all kinds).
    pub overflowed: u64,
    /// Of which overflowed to another queue.
    pub overflowed_to_queue: u64,
    /// Of which overflowed to an external number.
    pub overflowed_external: u64,
    /// Of which turned into callback requests.
    pub overflowed_callback: u64,
    /// Presented calls refused at the door (503) for overload or shutdown: neither answered,
    /// abandoned nor overflowed.
    pub refused: u64,
    /// Presented calls from VIP/P0 callers.
    pub presented_vip: u64,
    /// Answered calls from VIP/P0 callers.
    pub answered_vip: u64,
    /// Answered calls whose wait was at most T.
    pub answered_within_threshold: u64,
    /// Answer rate (taux de décroché) = answered / presented.
    pub answer_rate: Ratio,
    /// Abandon rate (taux d'abandon) = abandoned / presented.
    pub abandon_rate: Ratio,
    /// Service level = answered within T / (presented − short abandons).
    pub service_level: Ratio,
    /// Average speed of answer: mean wait of answered calls.
    pub asa: MeanDuration,
    /// Average handle time: mean of talk + wrap-up of answered calls.
    pub aht: MeanDuration,
    /// Mean talk time of answered calls.
    pub talk: MeanDuration,
    /// Longest wait among presented calls, in milliseconds.
    pub longest_wait_ms: i64,
    /// Not presented, shown apart: refused at the queue's door (queue full)
    /// or by the line.
    pub rejected: u64,
    /// Not presented: the line was closed.
    pub closed: u64,
    /// Not presented: the caller hung up in the IVR.
    pub abandoned_in_ivr: u64,
}

impl Indicators {
    /// Computes the indicators of `facts`. Records that were not presented
    /// (rejected, closed, abandoned in the IVR) are ignored.
    pub fn compute<'a>(
        facts: impl IntoIterator<Item = &'a CallFacts>,
        params: &StatsParams,
    ) -> Self {
        let mut ind = Self::default();
        for f in facts {
            ind.add(f, params);
        }
        ind.finish();
        ind
    }

    fn add(&mut self, f: &CallFacts, params: &StatsParams) {
        match f.outcome {
            Outcome::Rejected => self.rejected += 1,
            Outcome::Closed => self.closed += 1,
            Outcome::AbandonedInIvr => self.abandoned_in_ivr += 1,
            _ => {}
        }
        if !f.outcome.is_presented() {
            return;
        }
        self.presented += 1;
        if f.vip {
            self.presented_vip += 1;
        }
        let wait = f.wait();
        if let Some(w) = wait {
            self.longest_wait_ms = self.longest_wait_ms.max(w.num_milliseconds());
        }
        match f.outcome {
            Outcome::Answered => {
                self.answered += 1;
                if f.vip {
                    self.answered_vip += 1;
                }
                if let Some(w) = wait {
                    self.asa.add(w);
                    if w <= params.service_level_threshold {
                        self.answered_within_threshold += 1;
                    }
                }
                if let (Some(t), Some(w)) = (f.talk(), f.wrap_up()) {
                    self.talk.add(t);
                    self.aht.add(t + w);
                }
            }
            Outcome::AbandonedInQueue | Outcome::AbandonedWhileRinging => {
                self.abandoned += 1;
                if f.outcome == Outcome::AbandonedWhileRinging {
                    self.abandoned_while_ringing += 1;
                }
                if wait.is_some_and(|w| w < params.short_abandon) {
                    self.short_abandoned += 1;
                }
            }
            Outcome::OverflowedToQueue => {
                self.overflowed += 1;
                self.overflowed_to_queue += 1;
            }
            Outcome::OverflowedExternal => {
                self.overflowed += 1;
                self.overflowed_external += 1;
            }
            Outcome::OverflowedCallback => {
                self.overflowed += 1;
                self.overflowed_callback += 1;
            }
            Outcome::Refused => self.refused += 1,
            Outcome::Rejected | Outcome::Closed | Outcome::AbandonedInIvr => {}
        }
    }

    /// Adds `n` calls refused for overload or shutdown that have no record of their own (a
    /// flood beyond what is recorded call by call): presented, refused, not answered.
    pub fn add_refused(&mut self, n: u64) {
        self.presented += n;
        self.refused += n;
        self.finish();
    }

    fn finish(&mut self) {
        self.answer_rate = Ratio::new(self.answered, self.presented);
        self.abandon_rate = Ratio::new(self.abandoned, self.presented);
        self.service_level = Ratio::new(
            self.answered_within_threshold,
            self.presented - self.short_abandoned,
        );
    }

    /// Occupancy = handle time (talk + wrap-up) / logged-in time of the same
    /// agents over the same period, in milliseconds. Logged-in time is not in
    /// the call records, so the caller supplies it (from the agent journal).
    pub fn occupancy(&self, logged_in: Duration) -> Ratio {
        Ratio::new(
            u64::try_from(self.aht.total_ms).unwrap_or(0),
            u64::try_from(logged_in.num_milliseconds()).unwrap_or(0),
        )
    }
}

/// Service-wide indicators, counting each call once: a visit that overflowed
/// to another queue is left out, since the destination queue's record carries
/// the call's final outcome.
pub fn service_totals<'a>(
    facts: impl IntoIterator<Item = &'a CallFacts>,
    params: &StatsParams,
) -> Indicators {
    Indicators::compute(
        facts
            .into_iter()
            .filter(|f| f.outcome != Outcome::OverflowedToQueue),
        params,
    )
}

/// Indicators per queue name.
pub fn by_queue<'a>(
    facts: impl IntoIterator<Item = &'a CallFacts>,
    params: &StatsParams,
) -> BTreeMap<String, Indicators> {
    group(facts, params, |f| Some(f.queue.clone()))
}

/// Indicators per agent login, over the calls each agent answered or was
/// last offered. Records without an agent are left out.
pub fn by_agent<'a>(
    facts: impl IntoIterator<Item = &'a CallFacts>,
    params: &StatsParams,
) -> BTreeMap<String, Indicators> {
    group(facts, params, |f| f.agent.clone())
}

/// A calendar period for grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One clock hour.
    Hour,
    /// One calendar day.
    Day,
    /// One ISO week (Monday to Sunday).
    Week,
    /// One calendar month.
    Month,
}

/// The local start (in the zone given) of the period containing `instant`.
pub fn period_start(instant: DateTime<Utc>, period: Period, zone: Tz) -> NaiveDateTime {
    let local = zone.from_utc_datetime(&instant.naive_utc()).naive_local();
    let date = local.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(local);
    match period {
        Period::Hour => date.and_hms_opt(local.hour(), 0, 0).unwrap_or(local),
        Period::Day => midnight(date),
        Period::Week => {
            midnight(date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday())))
        }
        Period::Month => midnight(date.with_day(1).unwrap_or(date)),
    }
}

/// Indicators per period (keyed by the period's local start in `zone`),
/// placing each record by its [`CallFacts::reference_instant`]. Records
/// without any instant are left out.
pub fn by_period<'a>(
    facts: impl IntoIterator<Item = &'a CallFacts>,
    params: &StatsParams,
    period: Period,
    zone: Tz,
) -> BTreeMap<NaiveDateTime, Indicators> {
    group(facts, params, |f| {
        f.reference_instant().map(|i| period_start(i, period, zone))
    })
}

fn group<'a, K: Ord>(
    facts: impl IntoIterator<Item = &'a CallFacts>,
    params: &StatsParams,
    key: impl Fn(&CallFacts) -> Option<K>,
) -> BTreeMap<K, Indicators> {
    let mut out: BTreeMap<K, Indicators> = BTreeMap::new();
    for f in facts {
        if let Some(k) = key(f) {
            out.entry(k).or_default().add(f, params);
        }
    }
    for ind in out.values_mut() {
        ind.finish();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-02 (a Monday) 09:00:00 UTC plus `s` seconds.
    fn t(s: i64) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::seconds(s))
    }

    fn rec(queue: &str, agent: Option<&str>, vip: bool, outcome: Outcome) -> CallFacts {
        CallFacts {
            queue: queue.into(),
            agent: agent.map(Into::into),
            line: "8585".into(),
            vip,
            entered_queue: None,
            offered: None,
            answered: None,
            ended: None,
            wrap_up_ended: None,
            outcome,
        }
    }

    #[test]
    fn refused_calls_are_presented_and_lower_the_answer_rate_recorded_or_counted() {
        let params = StatsParams::default();
        let mut answered = rec("support", Some("alice"), false, Outcome::Answered);
        (answered.entered_queue, answered.answered, answered.ended) = (t(0), t(10), t(100));
        let mut refused = rec("", None, false, Outcome::Refused);
        refused.ended = t(20);
        let mut rejected = rec("", None, false, Outcome::Rejected);
        rejected.ended = t(30);
        let mut ind = Indicators::compute([&answered, &refused, &rejected], &params);
        assert_eq!(
            (ind.presented, ind.answered, ind.refused, ind.rejected),
            (2, 1, 1, 1)
        );
        assert_eq!((ind.abandoned, ind.overflowed), (0, 0));
        assert_eq!(ind.answer_rate, Ratio::new(1, 2));
        assert_eq!(ind.service_level, Ratio::new(1, 2));
        // Counted refusals (no record of their own) weigh the same.
        ind.add_refused(2);
        assert_eq!((ind.presented, ind.refused), (4, 3));
        assert_eq!(ind.answer_rate, Ratio::new(1, 4));
        assert_eq!(ind.abandon_rate, Ratio::new(0, 4));
    }

    /// The hand-computed example of docs/statistics.md (calls A..J).
    pub(crate) fn example() -> Vec<CallFacts> {
        use Outcome::*;
        let mut v = Vec::new();
        // A: answered after 10 s, talk 300 s, wrap-up 60 s.
        let mut a = rec("support", Some("alice"), false, Answered);
        (
            a.entered_queue,
            a.offered,
            a.answered,
            a.ended,
            a.wrap_up_ended,
        ) = (t(0), t(5), t(10), t(310), t(370));
        v.push(a);
        // B: VIP, answered after 15 s, talk 420 s, no wrap-up recorded.
        let mut b = rec("support", Some("bob"), true, Answered);
        (b.entered_queue, b.offered, b.answered, b.ended) = (t(60), t(70), t(75), t(495));
        v.push(b);
        // C: answered after 45 s, talk 240 s, wrap-up 30 s.
        let mut c = rec("support", Some("alice"), false, Answered);
        (
            c.entered_queue,
            c.offered,
            c.answered,
            c.ended,
            c.wrap_up_ended,
        ) = (t(400), t(430), t(445), t(685), t(715));
        v.push(c);
        // D: abandoned in queue after 3 s (short abandon).
        let mut d = rec("support", None, false, AbandonedInQueue);
        (d.entered_queue, d.ended) = (t(500), t(503));
        v.push(d);
        // E: abandoned while ringing after 90 s.
        let mut e = rec("support", Some("bob"), false, AbandonedWhileRinging);
        (e.entered_queue, e.offered, e.ended) = (t(600), t(680), t(690));
        v.push(e);
        // F: overflowed to external number after 120 s.
        let mut f = rec("support", None, false, OverflowedExternal);
        (f.entered_queue, f.ended) = (t(700), t(820));
        v.push(f);
        // G: line closed, never presented.
        let mut g = rec("", None, false, Closed);
        g.ended = t(800);
        v.push(g);
        // H: overflowed from "support" to "backup" after 60 s...
        let mut h1 = rec("support", None, false, OverflowedToQueue);
        (h1.entered_queue, h1.ended) = (t(900), t(960));
        v.push(h1);
        // ... then answered in "backup" after 20 s (exactly T), talk 100 s.
        let mut h2 = rec("backup", Some("carol"), false, Answered);
        (
            h2.entered_queue,
            h2.offered,
            h2.answered,
            h2.ended,
            h2.wrap_up_ended,
        ) = (t(960), t(970), t(980), t(1080), t(1100));
        v.push(h2);
        // J: abandoned in IVR, never presented.
        v.push(rec("", None, false, AbandonedInIvr));
        v
    }

    #[test]
    fn per_record_durations() {
        let ex = example();
        assert_eq!(ex[0].wait(), Some(Duration::seconds(10)));
        assert_eq!(ex[0].talk(), Some(Duration::seconds(300)));
        assert_eq!(ex[0].wrap_up(), Some(Duration::seconds(60)));
        assert_eq!(ex[1].wrap_up(), Some(Duration::zero()));
        assert_eq!(ex[4].wait(), Some(Duration::seconds(90)));
        assert_eq!(ex[4].talk(), None);
    }

    #[test]
    fn hand_computed_example_per_queue() {
        let p = StatsParams::default();
        let ex = example();
        let q = by_queue(&ex, &p);
        let s = &q["support"];
        assert_eq!(s.presented, 7);
        assert_eq!(s.answered, 3);
        assert_eq!(s.abandoned, 2);
        assert_eq!(s.abandoned_while_ringing, 1);
        assert_eq!(s.short_abandoned, 1);
        assert_eq!(s.overflowed, 2);
        assert_eq!(s.overflowed_to_queue, 1);
        assert_eq!(s.overflowed_external, 1);
        assert_eq!(s.presented_vip, 1);
        assert_eq!(s.answered_vip, 1);
        assert_eq!(s.answer_rate, Ratio::new(3, 7));
        assert_eq!(s.abandon_rate, Ratio::new(2, 7));
        assert_eq!(s.answered_within_threshold, 2);
        assert_eq!(s.service_level, Ratio::new(2, 6));
        // ASA = (10 + 15 + 45) / 3 = 23.333 s
        assert_eq!(s.asa.total_ms, 70_000);
        assert_eq!(s.asa.mean(), Some(Duration::milliseconds(23_333)));
        // AHT = (360 + 420 + 270) / 3 = 350 s
        assert_eq!(s.aht.mean(), Some(Duration::seconds(350)));
        assert_eq!(s.talk.mean(), Some(Duration::seconds(320)));
        assert_eq!(s.longest_wait_ms, 120_000);
        let b = &q["backup"];
        assert_eq!(
            (b.presented, b.answered, b.answered_within_threshold),
            (1, 1, 1)
        );
        assert_eq!(b.service_level, Ratio::new(1, 1));
        // Records of calls that never reached a queue are grouped under ""
        // and only counted apart.
        assert_eq!(q[""].presented, 0);
        assert_eq!(
            (q[""].closed, q[""].abandoned_in_ivr, q[""].rejected),
            (1, 1, 0)
        );
        assert_eq!(s.closed, 0);
    }

    #[test]
    fn hand_computed_example_service_totals() {
        let p = StatsParams::default();
        let s = service_totals(&example(), &p);
        assert_eq!(s.presented, 7);
        assert_eq!(s.answered, 4);
        assert_eq!(s.abandoned, 2);
        assert_eq!(s.overflowed, 1);
        assert_eq!(s.answer_rate, Ratio::new(4, 7));
        assert_eq!(s.service_level, Ratio::new(3, 6));
        // AHT = (360 + 420 + 270 + 120) / 4 = 292.5 s
        assert_eq!(s.aht.mean(), Some(Duration::milliseconds(292_500)));
    }

    #[test]
    fn per_agent() {
        let p = StatsParams::default();
        let a = by_agent(&example(), &p);
        assert_eq!(a.len(), 3);
        assert_eq!(a["alice"].answered, 2);
        assert_eq!(a["alice"].aht.mean(), Some(Duration::seconds(315)));
        assert_eq!(a["bob"].presented, 2);
        assert_eq!(a["bob"].answered, 1);
        assert_eq!(a["bob"].abandoned_while_ringing, 1);
        // Occupancy of alice over a one-hour shift: 630 s / 3600 s.
        let occ = a["alice"].occupancy(Duration::hours(1));
        assert_eq!(occ, Ratio::new(630_000, 3_600_000));
        assert_eq!(occ.to_string(), "17,5 %");
    }

    #[test]
    fn thresholds_are_parameters() {
        let p = StatsParams {
            short_abandon: Duration::seconds(2),
            service_level_threshold: Duration::seconds(10),
        };
        let s = by_queue(&example(), &p)["support"];
        assert_eq!(s.short_abandoned, 0);
        assert_eq!(s.service_level, Ratio::new(1, 7));
    }

    #[test]
    fn published_july_2024_reproduces() {
        let r = Ratio::new(2165, 2994);
        assert_eq!(r.to_string(), "72,3 %");
        assert_eq!(Ratio::new(2994 - 2165, 2994).to_string(), "27,7 %");
        assert_eq!(Ratio::new(1929, 2047).to_string(), "94,2 %");
        assert_eq!(Ratio::new(0, 0).to_string(), "—");
        assert_eq!(Ratio::new(0, 0).value(), None);
    }

    #[test]
    fn periods_in_paris_time() {
        let p = StatsParams::default();
        let mut ex = example();
        // Move A to Sunday 2026-03-01 23:30 UTC = Monday 00:30 Paris.
        ex[0].entered_queue = Some(Utc.with_ymd_and_hms(2026, 3, 1, 23, 30, 0).unwrap());
        let zone = chrono_tz::Europe::Paris;
        let d = |y, m, dd, h| {
            NaiveDate::from_ymd_opt(y, m, dd)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let by_day = by_period(&ex, &p, Period::Day, zone);
        assert_eq!(by_day.len(), 1);
        assert_eq!(by_day[&d(2026, 3, 2, 0)].presented, 8);
        let by_utc_day = by_period(&ex, &p, Period::Day, chrono_tz::UTC);
        assert_eq!(by_utc_day[&d(2026, 3, 1, 0)].presented, 1);
        let by_hour = by_period(&ex, &p, Period::Hour, zone);
        assert_eq!(by_hour[&d(2026, 3, 2, 0)].presented, 1);
        assert_eq!(by_hour[&d(2026, 3, 2, 10)].presented, 7);
        assert_eq!(by_hour[&d(2026, 3, 2, 10)].answered, 3);
        let by_week = by_period(&ex, &p, Period::Week, zone);
        assert_eq!(by_week.keys().collect::<Vec<_>>(), vec![&d(2026, 3, 2, 0)]);
        // Tuesday 2026-03-31 still belongs to March; its week starts Monday 30.
        let i = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        assert_eq!(period_start(i, Period::Month, zone), d(2026, 3, 1, 0));
        assert_eq!(period_start(i, Period::Week, zone), d(2026, 3, 30, 0));
    }

    #[test]
    fn params_deserialize_with_defaults() {
        let p: StatsParams = toml::from_str("short_abandon = 3").unwrap();
        assert_eq!(p.short_abandon, Duration::seconds(3));
        assert_eq!(p.service_level_threshold, Duration::seconds(20));
        assert!(toml::from_str::<StatsParams>("short_abandn = 3").is_err());
    }
}
