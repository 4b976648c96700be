//! Staffing simulator: replays monthly call volumes through the real ACD
//! engine with explicit time and a fixed seed, and compares the simulated
//! answer rates with the published ones.
//!
//! Model (documented in `docs/acd.md`):
//! - the month's presented calls are spread uniformly over its working days
//!   (the caller says which days work: the binary passes the calendar room's
//!   holidays, tests use Monday-Friday);
//! - within a day, a share `peak_share` (68 %, CULTURE 2747) falls uniformly
//!   in the peak windows 9:00-11:30 and 14:00-16:30, the rest uniformly in
//!   the other opening hours (8:00-18:30 by default);
//! - talk time is log-normal with mean `talk_mean` (7 min, CULTURE 2748) and
//!   shape `talk_sigma`;
//! - callers' patience is exponential with mean `patience_mean` (the
//!   Erlang-A assumption): a caller still waiting when it runs out hangs up;
//! - `agents` agents log in at `shift_start` and out at `shift_end` each
//!   working day, answer `answer_delay` after their phone rings, and take the
//!   queue's wrap-up after each call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{AcdConfig, AgentConfig, Membership, QueueConfig};
use crate::engine::{Acd, Action, CallId, Event, Priority};
use crate::stats::{CallFacts, Indicators, Ratio, StatsParams};

/// One month of the published volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthVolume {
    /// First day of the month.
    pub month: NaiveDate,
    /// Published "appels présentés".
    pub calls_presented: u32,
    /// Published "appels servis".
    pub calls_served: u32,
}

/// A malformed volumes CSV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A line could not be read.
    #[error("line {line}: {problem}")]
    Csv {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Reads the CSV format of `service-desk-volumes.csv`: a header naming at
/// least `month` (`YYYY-MM`), `calls_presented` and `calls_served`, then one
/// line per month.
pub fn parse_volumes(csv: &str) -> Result<Vec<MonthVolume>, SimError> {
    let mut lines = csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let err = |line: usize, problem: String| SimError::Csv {
        line: line + 1,
        problem,
    };
    let (hl, header) = lines
        .next()
        .ok_or_else(|| err(0, "empty file".to_owned()))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| err(hl, format!("missing column `{name}`")))
    };
    let (cm, cp, cs) = (col("month")?, col("calls_presented")?, col("calls_served")?);
    let mut out = Vec::new();
    for (ln, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |i: usize, name: &str| {
            f.get(i)
                .copied()
                .ok_or_else(|| err(ln, format!("missing field `{name}`")))
        };
        let m = field(cm, "month")?;
        let month = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .map_err(|_| err(ln, format!("month `{m}` is not YYYY-MM")))?;
        let num = |i: usize, name: &str| -> Result<u32, SimError> {
            let v = field(i, name)?;
            v.parse()
                .map_err(|_| err(ln, format!("`{name}` = `{v}` is not a count")))
        };
        let calls_presented = num(cp, "calls_presented")?;
        let calls_served = num(cs, "calls_served")?;
        if calls_served > calls_presented {
            return Err(err(ln, "more calls served than presented".to_owned()));
        }
        out.push(MonthVolume {
            month,
            calls_presented,
            calls_served,
        });
    }
    Ok(out)
}

/// Parameters of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimParams {
    /// Agents on the phones.
    pub agents: u32,
    /// Agents log in (local time).
    pub shift_start: NaiveTime,
    /// Agents log out (local time).
    pub shift_end: NaiveTime,
    /// Line opens (local time); calls arrive between `open` and `close`.
    pub open: NaiveTime,
    /// Line closes (local time).
    pub close: NaiveTime,
    /// Peak windows (local time).
    pub peak_windows: Vec<(NaiveTime, NaiveTime)>,
    /// Share of calls in the peak windows.
    pub peak_share: f64,
    /// Mean talk time.
    pub talk_mean: Duration,
    /// Shape (σ of the underlying normal) of the log-normal talk time.
    pub talk_sigma: f64,
    /// Mean of the exponential patience.
    pub patience_mean: Duration,
    /// Delay between the phone ringing and the agent answering.
    pub answer_delay: Duration,
    /// The queue (strategy, wrap-up, ring timeout...). Announcements are
    /// turned off by the simulator.
    pub queue: QueueConfig,
    /// Thresholds of the statistics.
    pub stats: StatsParams,
    /// Zone of the opening hours.
    pub zone: Tz,
    /// Seed of the random draws (each month derives its own from it).
    pub seed: u64,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl Default for SimParams {
    /// The calibrated defaults recorded in `docs/acd.md`.
    fn default() -> Self {
        let mut queue = QueueConfig::named("accueil");
        queue.wrap_up = 30;
        queue.max_missed_offers = 1_000;
        Self {
            agents: 3,
            shift_start: hm(8, 0),
            shift_end: hm(18, 30),
            open: hm(8, 0),
            close: hm(18, 30),
            peak_windows: vec![(hm(9, 0), hm(11, 30)), (hm(14, 0), hm(16, 30))],
            peak_share: 0.68,
            talk_mean: Duration::minutes(7),
            talk_sigma: 0.6,
            patience_mean: Duration::seconds(120),
            answer_delay: Duration::seconds(4),
            queue,
            stats: StatsParams::default(),
            zone: chrono_tz::Europe::Paris,
            seed: 2024,
        }
    }
}

/// The result of one simulated month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthReport {
    /// First day of the month.
    pub month: NaiveDate,
    /// Working days used.
    pub working_days: u32,
    /// Simulated indicators (presented, answered, abandoned, SL, ASA...).
    pub simulated: Indicators,
    /// The published answer rate (served / presented).
    pub published_answer_rate: Ratio,
}

impl MonthReport {
    /// Simulated minus published answer rate, in percentage points.
    pub fn gap_points(&self) -> Option<f64> {
        Some(self.simulated.answer_rate.percent()? - self.published_answer_rate.percent()?)
    }
}

/// Replays every month of a volumes CSV.
pub fn simulate_csv(
    csv: &str,
    params: &SimParams,
    is_working_day: impl Fn(NaiveDate) -> bool,
) -> Result<Vec<MonthReport>, SimError> {
    Ok(simulate_months(
        &parse_volumes(csv)?,
        params,
        is_working_day,
    ))
}

/// Replays each month through the engine.
pub fn simulate_months(
    volumes: &[MonthVolume],
    params: &SimParams,
    is_working_day: impl Fn(NaiveDate) -> bool,
) -> Vec<MonthReport> {
    volumes
        .iter()
        .map(|v| simulate_month(v, params, &is_working_day))
        .collect()
}

/// The staffing (number of agents in `range`) whose simulated answer rate
/// lands nearest the month's published rate, with its report.
pub fn nearest_staffing(
    volume: &MonthVolume,
    params: &SimParams,
    range: std::ops::RangeInclusive<u32>,
    is_working_day: &dyn Fn(NaiveDate) -> bool,
) -> Option<(u32, MonthReport)> {
    range
        .filter_map(|agents| {
            let p = SimParams {
                agents,
                ..params.clone()
            };
            let r = simulate_month(volume, &p, is_working_day);
            r.gap_points().map(|g| (g.abs(), agents, r))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n, r)| (n, r))
}

/// The fewest agents (up to `max_agents`) whose simulated answer rate
/// reaches `target` (a fraction, e.g. 0.9) for this month's volume.
pub fn agents_for_target(
    volume: &MonthVolume,
    params: &SimParams,
    target: f64,
    max_agents: u32,
    is_working_day: &dyn Fn(NaiveDate) -> bool,
) -> Option<(u32, MonthReport)> {
    (1..=max_agents).find_map(|agents| {
        let p = SimParams {
            agents,
            ..params.clone()
        };
        let r = simulate_month(volume, &p, is_working_day);
        (r.simulated.answer_rate.value()? >= target).then_some((agents, r))
    })
}

/// A French text table of the reports, as `guichet simulate` prints it.
pub fn format_reports(reports: &[MonthReport]) -> String {
    let mut s = String::from(
        "mois     jours présentés décrochés abandons taux sim. taux publié  écart  NS (20 s)\n",
    );
    for r in reports {
        let gap = r
            .gap_points()
            .map_or("—".to_owned(), |g| format!("{g:+.1}").replace('.', ","));
        let _ = writeln!(
            s,
            "{}  {:>5} {:>10} {:>9} {:>8} {:>9} {:>11} {:>6} {:>10}",
            r.month.format("%Y-%m"),
            r.working_days,
            r.simulated.presented,
            r.simulated.answered,
            r.simulated.abandoned,
            r.simulated.answer_rate.to_string(),
            r.published_answer_rate.to_string(),
            gap,
            r.simulated.service_level.to_string(),
        );
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    Login(usize),
    Logout(usize),
    Arrival(u64),
    Answer(usize, u64),
    HangUp(u64),
    GiveUp(u64),
}

struct Caller {
    talk: Duration,
    answered: bool,
}

/// Local time to UTC (the earliest instant if ambiguous; skipped if the
/// local time does not exist).
fn utc(zone: Tz, day: NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
    zone.from_local_datetime(&day.and_time(t))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// Draws a local time uniformly in the union of `windows`.
fn time_in(rng: &mut StdRng, windows: &[(NaiveTime, NaiveTime)]) -> Option<NaiveTime> {
    let total: i64 = windows
        .iter()
        .map(|(a, b)| (*b - *a).num_seconds().max(0))
        .sum();
    if total <= 0 {
        return None;
    }
    let mut x = rng.random_range(0..total);
    for (a, b) in windows {
        let len = (*b - *a).num_seconds().max(0);
        if x < len {
            return Some(*a + Duration::seconds(x));
        }
        x -= len;
    }
    None
}

/// The opening hours outside the peak windows.
fn off_peak(
    open: NaiveTime,
    close: NaiveTime,
    peaks: &[(NaiveTime, NaiveTime)],
) -> Vec<(NaiveTime, NaiveTime)> {
    let mut sorted = peaks.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut from = open;
    for (a, b) in sorted {
        if a > from {
            out.push((from, a.min(close)));
        }
        from = from.max(b);
    }
    if close > from {
        out.push((from, close));
    }
    out
}

/// Exponential draw with the given mean.
fn exponential(rng: &mut StdRng, mean_ms: f64) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Duration::milliseconds((-mean_ms * u.ln()) as i64)
}

/// Log-normal draw with the given mean and shape.
fn log_normal(rng: &mut StdRng, mean_ms: f64, sigma: f64) -> Duration {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let mu = mean_ms.ln() - sigma * sigma / 2.0;
    Duration::milliseconds((mu + sigma * z).exp() as i64)
}

/// Replays one month.
pub fn simulate_month(
    volume: &MonthVolume,
    params: &SimParams,
    is_working_day: &dyn Fn(NaiveDate) -> bool,
) -> MonthReport {
    let month = volume.month;
    let days: Vec<NaiveDate> = month
        .iter_days()
        .take_while(|d| d.month() == month.month())
        .filter(|d| is_working_day(*d))
        .collect();
    let published_answer_rate = Ratio::new(
        u64::from(volume.calls_served),
        u64::from(volume.calls_presented),
    );
    let seed = params.seed ^ (u64::from(month.year_ce().1) * 100 + u64::from(month.month()));
    let mut rng = StdRng::seed_from_u64(seed);
    let facts = if days.is_empty() {
        Vec::new()
    } else {
        run(volume.calls_presented, &days, params, &mut rng)
    };
    MonthReport {
        month,
        working_days: days.len() as u32,
        simulated: Indicators::compute(&facts, &params.stats),
        published_answer_rate,
    }
}

fn run(calls: u32, days: &[NaiveDate], p: &SimParams, rng: &mut StdRng) -> Vec<CallFacts> {
    let mut queue = p.queue.clone();
    queue.announce_on_entry = false;
    queue.announce_every = None;
    let logins: Vec<String> = (0..p.agents).map(|i| format!("agent{i:02}")).collect();
    let config = AcdConfig {
        queues: vec![queue.clone()],
        agents: logins
            .iter()
            .map(|l| AgentConfig {
                login: l.clone(),
                queues: vec![Membership {
                    queue: queue.name.clone(),
                    level: 1,
                }],
            })
            .collect(),
        time_zone: p.zone,
        stats: p.stats,
        ..AcdConfig::default()
    };
    let Ok(mut acd) = Acd::new(&config) else {
        return Vec::new();
    };
    acd.set_event_stream(false);

    let mut heap: BinaryHeap<Reverse<(DateTime<Utc>, SimEvent)>> = BinaryHeap::new();
    for day in days {
        for a in 0..logins.len() {
            if let (Some(s), Some(e)) = (
                utc(p.zone, *day, p.shift_start),
                utc(p.zone, *day, p.shift_end),
            ) {
                heap.push(Reverse((s, SimEvent::Login(a))));
                heap.push(Reverse((e, SimEvent::Logout(a))));
            }
        }
    }
    let quiet = off_peak(p.open, p.close, &p.peak_windows);
    let mut callers: HashMap<u64, Caller> = HashMap::with_capacity(calls as usize);
    let talk_ms = p.talk_mean.num_milliseconds() as f64;
    let patience_ms = p.patience_mean.num_milliseconds() as f64;
    for i in 0..u64::from(calls) {
        let day = days[rng.random_range(0..days.len())];
        let windows = if rng.random::<f64>() < p.peak_share {
            &p.peak_windows
        } else {
            &quiet
        };
        let Some(at) = time_in(rng, windows).and_then(|t| utc(p.zone, day, t)) else {
            continue;
        };
        let talk = log_normal(rng, talk_ms, p.talk_sigma);
        let patience = exponential(rng, patience_ms);
        callers.insert(
            i,
            Caller {
                talk,
                answered: false,
            },
        );
        heap.push(Reverse((at, SimEvent::Arrival(i))));
        heap.push(Reverse((at + patience, SimEvent::GiveUp(i))));
    }

    let mut facts = Vec::with_capacity(calls as usize);
    loop {
        let next_event = heap.peek().map(|Reverse((t, _))| *t);
        let next_timer = acd.poll_timeout();
        let now = match (next_event, next_timer) {
            (None, None) => break,
            (Some(e), Some(t)) if t <= e => {
                acd.handle_timeout(t);
                t
            }
            (None, Some(t)) => {
                acd.handle_timeout(t);
                t
            }
            (Some(_), _) => {
                let Some(Reverse((t, ev))) = heap.pop() else {
                    break;
                };
                // Errors are the expected races (late answer, give-up of a
                // call already answered): the engine ignores them.
                let _ = match ev {
                    SimEvent::Login(a) => acd.login(t, &logins[a]),
                    SimEvent::Logout(a) => acd.logout(t, &logins[a]),
                    SimEvent::Arrival(i) => {
                        acd.enqueue(t, CallId(i), &queue.name, Priority::Normal, "sim")
                    }
                    SimEvent::Answer(a, i) => {
                        let r = acd.agent_answered(t, &logins[a], CallId(i));
                        if r.is_ok()
                            && let Some(c) = callers.get_mut(&i)
                        {
                            c.answered = true;
                            heap.push(Reverse((t + c.talk, SimEvent::HangUp(i))));
                        }
                        r
                    }
                    SimEvent::HangUp(i) => acd.call_ended(t, CallId(i)),
                    SimEvent::GiveUp(i) => {
                        if callers.get(&i).is_some_and(|c| !c.answered) {
                            acd.call_ended(t, CallId(i))
                        } else {
                            Ok(())
                        }
                    }
                };
                t
            }
        };
        while let Some(action) = acd.poll_action() {
            if let Action::Ring { call, agent, .. } = action
                && let Some(a) = logins.iter().position(|l| *l == agent.0)
            {
                heap.push(Reverse((now + p.answer_delay, SimEvent::Answer(a, call.0))));
            }
        }
        while let Some(event) = acd.poll_event() {
            if let Event::CallFinished { facts: f, .. } = event {
                facts.push(*f);
            }
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn weekdays(d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    const CSV: &str = "month,calls_presented,calls_served,tickets_opened\n2024-06,3252,2527,2653\n2024-07,2994,2165,2502\n";

    #[test]
    fn parses_the_published_format() {
        let v = parse_volumes(CSV).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].month, NaiveDate::from_ymd_opt(2024, 7, 1).unwrap());
        assert_eq!((v[1].calls_presented, v[1].calls_served), (2994, 2165));
        let e = parse_volumes("month,calls_presented,calls_served\n2024-13,1,1\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: month `2024-13` is not YYYY-MM");
        let e = parse_volumes("month,calls_served\n").unwrap_err();
        assert!(e.to_string().contains("calls_presented"));
        assert!(parse_volumes("month,calls_presented,calls_served\n2024-01,5,6\n").is_err());
    }

    #[test]
    fn the_report_is_a_french_table() {
        let v = parse_volumes(CSV).unwrap();
        let r = simulate_months(&v, &SimParams::default(), weekdays);
        let text = format_reports(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("mois") && lines[0].contains("taux publié"));
        assert!(
            lines[2].starts_with("2024-07") && lines[2].contains("72,3 %"),
            "{}",
            lines[2]
        );
        assert!(lines[1].contains(&r[0].simulated.answered.to_string()));
    }

    #[test]
    fn off_peak_is_the_rest_of_the_opening_hours() {
        let p = SimParams::default();
        let q = off_peak(p.open, p.close, &p.peak_windows);
        assert_eq!(
            q,
            vec![
                (hm(8, 0), hm(9, 0)),
                (hm(11, 30), hm(14, 0)),
                (hm(16, 30), hm(18, 30))
            ]
        );
    }

    #[test]
    fn draws_have_the_documented_means() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 20_000;
        let talk: i64 = (0..n)
            .map(|_| log_normal(&mut rng, 420_000.0, 0.6).num_milliseconds())
            .sum();
        let mean_talk = talk as f64 / f64::from(n) / 1000.0;
        assert!((mean_talk - 420.0).abs() < 10.0, "{mean_talk}");
        let pat: i64 = (0..n)
            .map(|_| exponential(&mut rng, 150_000.0).num_milliseconds())
            .sum();
        let mean_pat = pat as f64 / f64::from(n) / 1000.0;
        assert!((mean_pat - 150.0).abs() < 5.0, "{mean_pat}");
    }

    #[test]
    fn a_month_is_replayed_deterministically_and_every_call_is_accounted_for() {
        let v = parse_volumes(CSV).unwrap();
        let p = SimParams::default();
        let a = simulate_month(&v[0], &p, &weekdays);
        let b = simulate_month(&v[0], &p, &weekdays);
        assert_eq!(a, b);
        assert_eq!(a.working_days, 20);
        let s = a.simulated;
        assert_eq!(s.presented, 3252);
        assert_eq!(s.answered + s.abandoned + s.overflowed, 3252);
        assert!(s.answered > 1000 && s.abandoned > 0, "{s:?}");
        // Talk time ~7 min: the mean talk of answered calls is near 420 s.
        let talk = s.talk.mean().unwrap().num_seconds();
        assert!((380..=460).contains(&talk), "{talk}");
        // A different seed gives different draws.
        let c = simulate_month(
            &v[0],
            &SimParams {
                seed: 99,
                ..p.clone()
            },
            &weekdays,
        );
        assert_ne!(a.simulated, c.simulated);
    }

    #[test]
    fn more_agents_answer_more() {
        let v = parse_volumes(CSV).unwrap();
        let rate = |agents| {
            let p = SimParams {
                agents,
                ..SimParams::default()
            };
            simulate_month(&v[0], &p, &weekdays)
                .simulated
                .answer_rate
                .value()
                .unwrap()
        };
        let (r2, r3, r5) = (rate(2), rate(3), rate(5));
        assert!(r2 < r3 && r3 < r5, "{r2} {r3} {r5}");
        assert!(r5 > 0.9, "{r5}");
        let (n, r) = agents_for_target(&v[0], &SimParams::default(), 0.9, 10, &weekdays).unwrap();
        assert!(r.simulated.answer_rate.value().unwrap() >= 0.9);
        assert_eq!(n, 5);
        let (n, r) = nearest_staffing(&v[1], &SimParams::default(), 1..=6, &weekdays).unwrap();
        assert_eq!(n, 2);
        assert!(r.gap_points().unwrap().abs() < 5.0);
    }
}
