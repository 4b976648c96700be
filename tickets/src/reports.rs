//! Reports: call and ticket indicators per day, week, month or quarter, with
//! their history, and exports to CSV and XLSX.
//!
//! Call indicators are computed by `guichet_acd::stats::service_totals` on
//! the call records of each period, so the store's figures are the ACD's
//! figures (definitions in `docs/statistics.md`). Periods are local to an
//! IANA zone (Europe/Paris by default): a day starts at local midnight.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use guichet_acd::stats::{CallFacts, Indicators, Ratio, StatsParams, service_totals};
use rust_xlsxwriter::{Format, Workbook};
use sqlx::Row;

use crate::calls::{CALL_COLUMNS, call_from_row, outcome_str, parse_outcome};
use crate::store::{Store, StoreError, get_bool, get_opt_time, to_ms};
use crate::text_enum::text_enum;
use crate::ticket::{Nature, SlaOutcome};

text_enum! {
    /// Report granularity.
    pub enum ReportPeriod {
        /// Calendar day.
        Day => "day",
        /// ISO week, Monday to Sunday.
        Week => "week",
        /// Calendar month.
        Month => "month",
        /// Calendar quarter (January, April, July, October).
        Quarter => "quarter",
    }
}

impl ReportPeriod {
    /// Local start date of the period containing `date`.
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        let first_of_month = date.with_day(1).unwrap_or(date);
        match self {
            ReportPeriod::Day => date,
            ReportPeriod::Week => {
                date - Days::new(u64::from(date.weekday().num_days_from_monday()))
            }
            ReportPeriod::Month => first_of_month,
            ReportPeriod::Quarter => {
                let month = (date.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(first_of_month)
            }
        }
    }

    /// Local start date of the next period.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            ReportPeriod::Day => start + Days::new(1),
            ReportPeriod::Week => start + Days::new(7),
            ReportPeriod::Month => start + Months::new(1),
            ReportPeriod::Quarter => start + Months::new(3),
        }
    }

    /// A French label for a period starting at `start` (`2024-07`, `T3 2024`…).
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            ReportPeriod::Day => start.format("%Y-%m-%d").to_string(),
            ReportPeriod::Week => format!(
                "S{:02} {}",
                start.iso_week().week(),
                start.iso_week().year()
            ),
            ReportPeriod::Month => start.format("%Y-%m").to_string(),
            ReportPeriod::Quarter => format!("T{} {}", start.month0() / 3 + 1, start.year()),
        }
    }
}

/// Counts of tickets, split by nature (assistance counted as incident),
/// priority, category and support group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketCounts {
    /// Total.
    pub total: u64,
    /// Per nature (`incident`, `request`).
    pub by_nature: BTreeMap<String, u64>,
    /// Per priority (`P0`…`P3`).
    pub by_priority: BTreeMap<String, u64>,
    /// Per category name (`(sans catégorie)` when none).
    pub by_category: BTreeMap<String, u64>,
    /// Per support group name (`(sans groupe)` when none).
    pub by_group: BTreeMap<String, u64>,
}

impl TicketCounts {
    fn add(&mut self, nature: Nature, priority: &str, category: &str, group: &str, n: u64) {
        self.total += n;
        *self
            .by_nature
            .entry(nature.counted_as().as_str().to_owned())
            .or_default() += n;
        *self.by_priority.entry(priority.to_owned()).or_default() += n;
        *self.by_category.entry(category.to_owned()).or_default() += n;
        *self.by_group.entry(group.to_owned()).or_default() += n;
    }
}

/// Ticket indicators of one period. Children of a mass incident are not
/// counted: only the parent is (CULTURE 781-782).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketIndicators {
    /// Created in the period.
    pub opened: TicketCounts,
    /// Last resolved in the period.
    pub resolved: TicketCounts,
    /// Closed in the period.
    pub closed: TicketCounts,
    /// Open (neither resolved nor closed) at the end of the period.
    pub in_progress: TicketCounts,
    /// Resolved in the period with the SLA met.
    pub sla_met: u64,
    /// Resolved in the period with the SLA breached.
    pub sla_breached: u64,
    /// Resolved in the period and excluded from SLA indicators.
    pub sla_excluded: u64,
    /// Reopen rate: resolved in the period after at least one reopening /
    /// resolved in the period.
    pub reopen_rate: Ratio,
    /// Opened in the period for a VIP or a caller in a P0 window, or at P0.
    pub vip_or_p0_opened: u64,
}

/// One period of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodReport {
    /// Label (`2024-07`, `T3 2024`…).
    pub label: String,
    /// Local start date.
    pub start: NaiveDate,
    /// Call indicators (ACD definitions).
    pub calls: Indicators,
    /// Ticket indicators.
    pub tickets: TicketIndicators,
}

fn local_midnight(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&naive)
        .earliest()
        // Midnight skipped by a DST jump (not in Europe, but some zones do):
        // take the first instant after it.
        .or_else(|| {
            zone.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// The periods covering `[from, to)`: (label, local start, UTC start, UTC end).
fn buckets(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    period: ReportPeriod,
    zone: Tz,
) -> Vec<(String, NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut start = period.start_of(from.with_timezone(&zone).date_naive());
    loop {
        let begin = local_midnight(zone, start);
        if begin >= to {
            break;
        }
        let next = period.next(start);
        out.push((
            period.label(start),
            start,
            begin,
            local_midnight(zone, next),
        ));
        start = next;
    }
    out
}

/// A call record as the ACD statistics see it.
fn facts_from_row(r: &sqlx::any::AnyRow) -> Result<CallFacts, StoreError> {
    let outcome: String = r.try_get(10)?;
    Ok(CallFacts {
        queue: r.try_get::<Option<String>, _>(0)?.unwrap_or_default(),
        agent: r.try_get(1)?,
        line: r.try_get(2)?,
        vip: get_bool(r, 3)? || get_bool(r, 4)?,
        entered_queue: get_opt_time(r, 5)?,
        offered: get_opt_time(r, 6)?,
        answered: get_opt_time(r, 7)?,
        ended: get_opt_time(r, 8)?,
        wrap_up_ended: get_opt_time(r, 9)?,
        outcome: parse_outcome(&outcome).ok_or(StoreError::Corrupt {
            column: "calls.outcome",
            value: outcome,
        })?,
    })
}

/// Longest plausible time between arrival and queue entry: call records are
/// fetched by arrival (indexed) this much before the period, then placed by
/// queue entry exactly as `acd::stats` does.
const MAX_IVR_TIME_MS: i64 = 3_600_000;

impl Store {
    /// The ended call records placed (by queue entry, as `acd::stats`
    /// does) in `[from, to)`, as ACD call facts.
    pub async fn call_facts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallFacts>, StoreError> {
        let rows = sqlx::query(
            "SELECT queue, agent_login, line, vip, p0, queued_at, offered_at, answered_at, ended_at, \
             wrap_up_ended_at, outcome FROM calls \
             WHERE arrived_at >= $1 AND arrived_at < $2 AND outcome IS NOT NULL",
        )
        .bind(to_ms(from) - MAX_IVR_TIME_MS)
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        let mut facts = Vec::with_capacity(rows.len());
        for r in &rows {
            let f = facts_from_row(r)?;
            if f.reference_instant().is_some_and(|t| t >= from && t < to) {
                facts.push(f);
            }
        }
        Ok(facts)
    }

    /// Ticket counts split by nature, priority, category and group, over
    /// the parent tickets matching `condition` (aggregated by the database:
    /// a report never loads the tickets themselves).
    async fn ticket_counts(
        &self,
        condition: &str,
        bounds: &[i64],
    ) -> Result<TicketCounts, StoreError> {
        let sql = format!(
            "SELECT t.nature, t.priority, c.name, g.name, COUNT(*) FROM tickets t \
             LEFT JOIN categories c ON c.id = t.category_id \
             LEFT JOIN support_groups g ON g.id = t.group_id \
             WHERE t.parent_id IS NULL AND {condition} \
             GROUP BY t.nature, t.priority, c.name, g.name"
        );
        let mut query = sqlx::query(&sql);
        for b in bounds {
            query = query.bind(*b);
        }
        let rows = query.fetch_all(&self.reader).await?;
        let mut counts = TicketCounts::default();
        for r in &rows {
            let nature: Nature = crate::store::parse_col("tickets.nature", r.try_get(0)?)?;
            let priority: String = r.try_get(1)?;
            let category = r
                .try_get::<Option<String>, _>(2)?
                .unwrap_or_else(|| "(sans catégorie)".to_owned());
            let group = r
                .try_get::<Option<String>, _>(3)?
                .unwrap_or_else(|| "(sans groupe)".to_owned());
            let n = u64::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0);
            counts.add(nature, &priority, &category, &group, n);
        }
        Ok(counts)
    }

    pub(crate) async fn ticket_indicators(
        &self,
        b: i64,
        e: i64,
    ) -> Result<TicketIndicators, StoreError> {
        let mut ti = TicketIndicators {
            opened: self
                .ticket_counts("t.created_at >= $1 AND t.created_at < $2", &[b, e])
                .await?,
            resolved: self
                .ticket_counts("t.resolved_at >= $1 AND t.resolved_at < $2", &[b, e])
                .await?,
            closed: self
                .ticket_counts("t.closed_at >= $1 AND t.closed_at < $2", &[b, e])
                .await?,
            in_progress: self
                .ticket_counts(
                    "t.created_at < $1 AND (t.closed_at IS NULL OR t.closed_at >= $1) \
                     AND (t.resolved_at IS NULL OR t.resolved_at >= $1)",
                    &[e],
                )
                .await?,
            ..TicketIndicators::default()
        };
        let vip: i64 = sqlx::query(
            "SELECT COUNT(*) FROM tickets WHERE parent_id IS NULL AND created_at >= $1 \
             AND created_at < $2 AND (vip = $3 OR p0 = $3 OR priority = 'P0')",
        )
        .bind(b)
        .bind(e)
        .bind(true)
        .fetch_one(&self.reader)
        .await?
        .try_get(0)?;
        ti.vip_or_p0_opened = u64::try_from(vip).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT sla_outcome, CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END, COUNT(*) FROM tickets \
             WHERE parent_id IS NULL AND resolved_at >= $1 AND resolved_at < $2 \
             GROUP BY sla_outcome, CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END",
        )
        .bind(b)
        .bind(e)
        .fetch_all(&self.reader)
        .await?;
        let mut reopened = 0;
        for r in &rows {
            let n = u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0);
            if r.try_get::<i64, _>(1)? != 0 {
                reopened += n;
            }
            let sla: Option<String> = r.try_get(0)?;
            match sla
                .map(|v| crate::store::parse_col::<SlaOutcome>("tickets.sla_outcome", v))
                .transpose()?
            {
                Some(SlaOutcome::Met) => ti.sla_met += n,
                Some(SlaOutcome::Breached) => ti.sla_breached += n,
                Some(SlaOutcome::Excluded) => ti.sla_excluded += n,
                None => {}
            }
        }
        ti.reopen_rate = Ratio::new(reopened, ti.resolved.total);
        Ok(ti)
    }

    /// Call and ticket indicators for each `period` of `[from, to)` (whole
    /// periods: the first starts at the period containing `from`).
    pub async fn report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        period: ReportPeriod,
        zone: Tz,
        params: &StatsParams,
    ) -> Result<Vec<PeriodReport>, StoreError> {
        let buckets = buckets(from, to, period, zone);
        let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
            return Ok(Vec::new());
        };
        let (start, end) = (first.2, last.3);
        let facts = self.call_facts_between(start, end).await?;
        let counted_refusals = self.refusal_counts_between(start, end).await?;
        let mut out = Vec::with_capacity(buckets.len());
        for (label, local_start, b, e) in buckets {
            let in_bucket = |t: DateTime<Utc>| t >= b && t < e;
            let mut calls = service_totals(
                facts
                    .iter()
                    .filter(|f| f.reference_instant().is_some_and(in_bucket)),
                params,
            );
            // Refusals beyond those recorded one by one, counted per minute: presented too.
            let counted: u64 = counted_refusals
                .iter()
                .filter(|c| in_bucket(c.minute))
                .map(|c| c.refused)
                .sum();
            if counted > 0 {
                calls.add_refused(counted);
            }
            let tickets = self.ticket_indicators(to_ms(b), to_ms(e)).await?;
            out.push(PeriodReport {
                label,
                start: local_start,
                calls,
                tickets,
            });
        }
        Ok(out)
    }

    /// Streams the call records of `[from, to)` (by arrival) as CSV into
    /// `out`, row by row, without loading the period in memory.
    pub async fn export_calls_csv<W: Write>(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        out: W,
    ) -> Result<u64, StoreError> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(CALL_EXPORT_HEADER)?;
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE arrived_at >= $1 AND arrived_at < $2 ORDER BY arrived_at, id"
        );
        let mut rows = sqlx::query(&sql)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch(&self.reader);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            w.write_record(call_export_fields(&call_from_row(&row)?))?;
            n += 1;
        }
        w.flush()?;
        Ok(n)
    }

    /// Streams the call records of `[from, to)` into an XLSX file at `path`
    /// (constant-memory worksheet: rows go to disk as they are written).
    pub async fn export_calls_xlsx(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        path: &std::path::Path,
    ) -> Result<u64, StoreError> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet_with_constant_memory();
        sheet.set_name("Appels")?;
        for (c, h) in CALL_EXPORT_HEADER.iter().enumerate() {
            sheet.write_string(0, col(c), *h)?;
        }
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE arrived_at >= $1 AND arrived_at < $2 ORDER BY arrived_at, id"
        );
        let mut rows = sqlx::query(&sql)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch(&self.reader);
        let mut n: u32 = 0;
        while let Some(row) = rows.try_next().await? {
            n += 1;
            for (c, v) in call_export_fields(&call_from_row(&row)?).iter().enumerate() {
                sheet.write_string(n, col(c), v)?;
            }
        }
        workbook.save(path)?;
        Ok(u64::from(n))
    }
}

pub(crate) fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

const CALL_EXPORT_HEADER: &[&str] = &[
    "id",
    "call_id_sip",
    "ligne",
    "etat",
    "issue",
    "file",
    "agent",
    "numero_appelant",
    "nom_appelant",
    "vip",
    "p0",
    "arrivee",
    "sortie_svi",
    "mise_en_file",
    "presentation",
    "decroche",
    "fin",
    "fin_post_appel",
    "debordement",
    "noeud_svi",
    "interrompu",
];

fn call_export_fields(c: &crate::calls::CallRecord) -> Vec<String> {
    let t = |v: Option<DateTime<Utc>>| v.map(|t| t.to_rfc3339()).unwrap_or_default();
    let b = |v: bool| if v { "oui" } else { "non" }.to_owned();
    vec![
        c.id.to_string(),
        c.sip_call_id.clone(),
        c.line.clone(),
        c.state.as_str().to_owned(),
        c.outcome.map(outcome_str).unwrap_or_default().to_owned(),
        c.queue.clone().unwrap_or_default(),
        c.agent.clone().unwrap_or_default(),
        c.caller_number.clone(),
        c.caller_name.clone().unwrap_or_default(),
        b(c.vip),
        b(c.p0),
        c.arrived_at.to_rfc3339(),
        t(c.ivr_exited_at),
        t(c.queued_at),
        t(c.offered_at),
        t(c.answered_at),
        t(c.ended_at),
        t(c.wrap_up_ended_at),
        c.overflow_target.clone().unwrap_or_default(),
        c.ivr_exit_node.clone().unwrap_or_default(),
        b(c.interrupted),
    ]
}

/// Column headers of a report export (French, shown to the committees).
pub const REPORT_HEADER: &[&str] = &[
    "Période",
    "Début",
    "Appels présentés",
    "Appels servis",
    "Appels abandonnés",
    "Abandons courts",
    "Appels débordés",
    "Appels refusés (saturation)",
    "Taux de décroché (%)",
    "Taux d'abandon (%)",
    "Niveau de service (%)",
    "ASA (s)",
    "DMT (s)",
    "Tickets ouverts",
    "Incidents ouverts",
    "Demandes ouvertes",
    "Tickets résolus",
    "Tickets clos",
    "Tickets en cours",
    "SLA respectés",
    "SLA dépassés",
    "SLA exclus",
    "Taux de réouverture (%)",
    "Tickets VIP/P0",
];

/// A cell of a report row: text or number.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// Number (counts, percentages rounded to one decimal, seconds rounded
    /// to one decimal); `None` when undefined (empty denominator).
    Number(Option<f64>),
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The cells of one report row, in [`REPORT_HEADER`] order. CSV and XLSX
/// exports both write exactly these values.
pub fn report_cells(r: &PeriodReport) -> Vec<Cell> {
    let n = |v: u64| Cell::Number(Some(v as f64));
    let pct = |r: Ratio| Cell::Number(r.percent().map(round1));
    let secs = |m: guichet_acd::stats::MeanDuration| {
        Cell::Number(
            m.mean()
                .map(|d| round1(d.num_milliseconds() as f64 / 1000.0)),
        )
    };
    let by = |c: &TicketCounts, k: &str| n(c.by_nature.get(k).copied().unwrap_or(0));
    vec![
        Cell::Text(r.label.clone()),
        Cell::Text(r.start.format("%Y-%m-%d").to_string()),
        n(r.calls.presented),
        n(r.calls.answered),
        n(r.calls.abandoned),
        n(r.calls.short_abandoned),
        n(r.calls.overflowed),
        n(r.calls.refused),
        pct(r.calls.answer_rate),
        pct(r.calls.abandon_rate),
        pct(r.calls.service_level),
        secs(r.calls.asa),
        secs(r.calls.aht),
        n(r.tickets.opened.total),
        by(&r.tickets.opened, "incident"),
        by(&r.tickets.opened, "request"),
        n(r.tickets.resolved.total),
        n(r.tickets.closed.total),
        n(r.tickets.in_progress.total),
        n(r.tickets.sla_met),
        n(r.tickets.sla_breached),
        n(r.tickets.sla_excluded),
        pct(r.tickets.reopen_rate),
        n(r.tickets.vip_or_p0_opened),
    ]
}

/// Writes a report as CSV (`,` separated, `.` decimals, UTF-8).
pub fn write_report_csv<W: Write>(rows: &[PeriodReport], out: W) -> Result<(), StoreError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(REPORT_HEADER)?;
    for r in rows {
        let fields: Vec<String> = report_cells(r)
            .into_iter()
            .map(|c| match c {
                Cell::Text(s) => s,
                Cell::Number(Some(v)) => format!("{v}"),
                Cell::Number(None) => String::new(),
            })
            .collect();
        w.write_record(&fields)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes a report as an XLSX workbook (one sheet, numbers as numbers)
/// and returns its bytes.
pub fn write_report_xlsx(rows: &[PeriodReport]) -> Result<Vec<u8>, StoreError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Indicateurs")?;
    for (c, h) in REPORT_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = u32::try_from(i + 1).unwrap_or(u32::MAX);
        for (c, cell) in report_cells(r).into_iter().enumerate() {
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(row, col(c), s)?;
                }
                Cell::Number(Some(v)) => {
                    sheet.write_number(row, col(c), v)?;
                }
                Cell::Number(None) => {}
            }
        }
    }
    sheet.set_freeze_panes(1, 1)?;
    Ok(workbook.save_to_buffer()?)
}

/// The default zone of reports.
pub fn default_zone() -> Tz {
    chrono_tz::Europe::Paris
}
