//! Supervisor dashboards: the call indicators of one period per time bucket
//! (hour, day, week or month), per queue and per agent, and the ticket
//! counts by nature, priority, category and SLA verdict, as tables that the
//! pages chart and that export to CSV and XLSX.
//!
//! Every call figure comes from `guichet_acd::stats` (`service_totals`,
//! `by_queue`, `by_agent`, `by_period`) over the stored call records, and
//! every ticket figure from [`Store::report`]'s ticket indicators: one
//! implementation, so a dashboard and a report of the same period agree.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use guichet_acd::stats::{
    Indicators, MeanDuration, Period, Ratio, StatsParams, by_agent, by_period, by_queue,
    period_start, service_totals,
};
use rust_xlsxwriter::{Format, Workbook};

use crate::reports::{Cell, TicketIndicators, col};
use crate::store::{Store, StoreError, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// The time step of a dashboard's series.
    pub enum Granularity {
        /// Clock hour.
        Hour => "hour",
        /// Calendar day.
        Day => "day",
        /// ISO week, Monday to Sunday.
        Week => "week",
        /// Calendar month.
        Month => "month",
    }
}

impl Granularity {
    fn period(self) -> Period {
        match self {
            Granularity::Hour => Period::Hour,
            Granularity::Day => Period::Day,
            Granularity::Week => Period::Week,
            Granularity::Month => Period::Month,
        }
    }

    /// The local start of the bucket after the one starting at `start`.
    fn next(self, start: NaiveDateTime) -> NaiveDateTime {
        match self {
            Granularity::Hour => start + Duration::hours(1),
            Granularity::Day => start + Duration::days(1),
            Granularity::Week => start + Duration::days(7),
            Granularity::Month => start
                .checked_add_months(Months::new(1))
                .unwrap_or(start + Duration::days(31)),
        }
    }

    /// A French label for the bucket starting at `start` (`14 h`, `2026-03-02`,
    /// `S10 2026`, `2026-03`).
    pub fn label(self, start: NaiveDateTime) -> String {
        match self {
            Granularity::Hour => start.format("%Y-%m-%d %H h").to_string(),
            Granularity::Day => start.format("%Y-%m-%d").to_string(),
            Granularity::Week => format!(
                "S{:02} {}",
                start.date().iso_week().week(),
                start.date().iso_week().year()
            ),
            Granularity::Month => start.format("%Y-%m").to_string(),
        }
    }
}

/// Most buckets a dashboard series may hold (a year by day, a week by hour).
pub const MAX_BUCKETS: usize = 400;

/// One bucket of a dashboard series.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Local start.
    pub start: NaiveDateTime,
    /// French label.
    pub label: String,
    /// Service totals of the calls placed in the bucket.
    pub calls: Indicators,
}

/// The figures of a supervisor dashboard over `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// Step of the series.
    pub granularity: Granularity,
    /// Service totals of the whole period (each call once).
    pub totals: Indicators,
    /// One bucket per step, empty ones included, in order.
    pub series: Vec<Bucket>,
    /// Per queue (every visit counts in its own queue; calls that never
    /// reached a queue are left out).
    pub by_queue: BTreeMap<String, Indicators>,
    /// Per agent (calls answered or last offered).
    pub by_agent: BTreeMap<String, Indicators>,
    /// Tickets of the period (opened, resolved, SLA verdicts…).
    pub tickets: TicketIndicators,
}

impl Store {
    /// The dashboard of `[from, to)` with series by `granularity` in `zone`.
    /// Refuses more than [`MAX_BUCKETS`] buckets.
    pub async fn dashboard(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
        zone: Tz,
        params: &StatsParams,
    ) -> Result<Dashboard, StoreError> {
        if to <= from {
            return Err(StoreError::Invalid {
                field: "to",
                reason: "la fin doit suivre le début".to_owned(),
            });
        }
        let mut starts = Vec::new();
        let end_local = zone.from_utc_datetime(&to.naive_utc()).naive_local();
        let mut start = period_start(from, granularity.period(), zone);
        while start < end_local {
            if starts.len() >= MAX_BUCKETS {
                return Err(StoreError::Invalid {
                    field: "granularity",
                    reason: format!(
                        "plus de {MAX_BUCKETS} intervalles : choisissez un pas plus long"
                    ),
                });
            }
            starts.push(start);
            start = granularity.next(start);
        }
        let facts = self.call_facts_between(from, to).await?;
        let mut per_bucket = by_period(&facts, params, granularity.period(), zone);
        let mut totals = service_totals(&facts, params);
        // Refusals beyond those recorded one by one are counted per minute: presented too.
        for count in self.refusal_counts_between(from, to).await? {
            totals.add_refused(count.refused);
            per_bucket
                .entry(period_start(count.minute, granularity.period(), zone))
                .or_default()
                .add_refused(count.refused);
        }
        let series = starts
            .into_iter()
            .map(|s| Bucket {
                start: s,
                label: granularity.label(s),
                calls: per_bucket.remove(&s).unwrap_or_default(),
            })
            .collect();
        let mut queues = by_queue(&facts, params);
        // Calls closed, rejected at the door or abandoned in the IVR carry no queue.
        queues.remove("");
        Ok(Dashboard {
            from,
            to,
            granularity,
            totals,
            series,
            by_queue: queues,
            by_agent: by_agent(&facts, params),
            tickets: self.ticket_indicators(to_ms(from), to_ms(to)).await?,
        })
    }
}

text_enum! {
    /// A table of a dashboard.
    pub enum DashboardTable {
        /// Calls per time bucket, plus a total row.
        Series => "series",
        /// Calls per queue.
        Queues => "queues",
        /// Calls per agent.
        Agents => "agents",
        /// Tickets by nature, priority, category and SLA verdict.
        Tickets => "tickets",
    }
}

/// Columns of the call tables (first column: the bucket, queue or agent).
pub const CALL_COLUMNS: &[&str] = &[
    "Présentés",
    "Répondus",
    "Abandonnés",
    "Taux de décroché (%)",
    "Taux d'abandon (%)",
    "Niveau de service (%)",
    "ASA (s)",
    "DMT (s)",
];

/// Columns of the ticket table.
pub const TICKET_COLUMNS: &[&str] = &["Regroupement", "Valeur", "Tickets"];

/// The label of a table's total row.
pub const TOTAL_LABEL: &str = "Total";

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn pct(r: Ratio) -> Cell {
    Cell::Number(r.percent().map(round1))
}

fn secs(m: MeanDuration) -> Cell {
    Cell::Number(
        m.mean()
            .map(|d| round1(d.num_milliseconds() as f64 / 1000.0)),
    )
}

fn count(n: u64) -> Cell {
    Cell::Number(Some(n as f64))
}

/// The cells of one call row, in [`CALL_COLUMNS`] order after the label.
pub fn call_cells(label: &str, i: &Indicators) -> Vec<Cell> {
    vec![
        Cell::Text(label.to_owned()),
        count(i.presented),
        count(i.answered),
        count(i.abandoned),
        pct(i.answer_rate),
        pct(i.abandon_rate),
        pct(i.service_level),
        secs(i.asa),
        secs(i.aht),
    ]
}

/// A table: French headers and rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers.
    pub header: Vec<String>,
    /// Rows, cells in header order.
    pub rows: Vec<Vec<Cell>>,
}

impl Dashboard {
    /// One of the dashboard's tables, exactly as pages show it and exports
    /// write it.
    pub fn table(&self, which: DashboardTable) -> Table {
        let call_header = |first: &str| {
            std::iter::once(first.to_owned())
                .chain(CALL_COLUMNS.iter().map(|c| (*c).to_owned()))
                .collect()
        };
        match which {
            DashboardTable::Series => Table {
                header: call_header("Période"),
                rows: self
                    .series
                    .iter()
                    .map(|b| call_cells(&b.label, &b.calls))
                    .chain(std::iter::once(call_cells(TOTAL_LABEL, &self.totals)))
                    .collect(),
            },
            DashboardTable::Queues => Table {
                header: call_header("File"),
                rows: self
                    .by_queue
                    .iter()
                    .map(|(q, i)| call_cells(q, i))
                    .collect(),
            },
            DashboardTable::Agents => Table {
                header: call_header("Agent"),
                rows: self
                    .by_agent
                    .iter()
                    .map(|(a, i)| call_cells(a, i))
                    .collect(),
            },
            DashboardTable::Tickets => {
                let t = &self.tickets;
                let mut rows = Vec::new();
                let mut group = |name: &str, counts: &BTreeMap<String, u64>| {
                    for (k, n) in counts {
                        rows.push(vec![
                            Cell::Text(name.to_owned()),
                            Cell::Text(french_value(k).to_owned()),
                            count(*n),
                        ]);
                    }
                };
                group("Nature", &t.opened.by_nature);
                group("Priorité", &t.opened.by_priority);
                group("Catégorie", &t.opened.by_category);
                for (value, n) in [
                    ("respecté", t.sla_met),
                    ("dépassé", t.sla_breached),
                    ("exclu", t.sla_excluded),
                ] {
                    rows.push(vec![
                        Cell::Text("SLA".to_owned()),
                        Cell::Text(value.to_owned()),
                        count(n),
                    ]);
                }
                Table {
                    header: TICKET_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
                    rows,
                }
            }
        }
    }
}

/// French names of stored ticket natures; other values are shown as stored.
fn french_value(v: &str) -> &str {
    match v {
        "incident" => "incident",
        "request" => "demande",
        other => other,
    }
}

/// Writes a table as CSV (`,` separated, `.` decimals, UTF-8), as the
/// report exports do.
pub fn write_table_csv<W: Write>(table: &Table, out: W) -> Result<(), StoreError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&table.header)?;
    for row in &table.rows {
        w.write_record(row.iter().map(|c| match c {
            Cell::Text(s) => s.clone(),
            Cell::Number(Some(v)) => format!("{v}"),
            Cell::Number(None) => String::new(),
        }))?;
    }
    w.flush()?;
    Ok(())
}

/// Writes a table as an XLSX workbook (numbers as numbers, header frozen)
/// and returns its bytes.
pub fn write_table_xlsx(table: &Table, sheet_name: &str) -> Result<Vec<u8>, StoreError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name)?;
    for (c, h) in table.header.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), h, &bold)?;
    }
    for (i, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(i + 1).unwrap_or(u32::MAX);
        for (c, cell) in row.iter().enumerate() {
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(r, col(c), s)?;
                }
                Cell::Number(Some(v)) => {
                    sheet.write_number(r, col(c), *v)?;
                }
                Cell::Number(None) => {}
            }
        }
    }
    sheet.set_freeze_panes(1, 1)?;
    Ok(workbook.save_to_buffer()?)
}
