//! The supervisors' dashboards (`/superviseur/tableaux`) and their API
//! (`/api/v1/dashboards`): calls per hour, day, week or month, per queue and per agent, and
//! tickets by nature, priority, category and SLA verdict, over a chosen period.
//!
//! The figures are the tickets room's ([`guichet_tickets::dashboard`], itself computed by
//! `acd::stats`): this module only picks the period, draws the charts
//! ([`crate::charts`]) and writes the tables. Each table links to its CSV and XLSX export,
//! served by the API with the same period, so an export and the page always agree.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use guichet_tickets::dashboard::{Dashboard, DashboardTable, Granularity, Table};
use guichet_tickets::reports::Cell;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{api_error, authorize_statistics};
use crate::auth::{Need, require_page};
use crate::charts::{Chart, Series, bar_chart, french_number, line_chart};
use crate::html::{escape, page};

/// The period picker's choices: (URL value, French label).
pub const PRESETS: &[(&str, &str)] = &[
    ("aujourdhui", "Aujourd'hui"),
    ("hier", "Hier"),
    ("7j", "7 derniers jours"),
    ("4s", "4 dernières semaines"),
    ("12m", "12 derniers mois"),
];

/// Longest custom period, in days.
const MAX_DAYS: i64 = 3 * 366;

/// Query of the page and the API.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DashboardQuery {
    /// A preset of [`PRESETS`], or `personnalisee` with `du` and `au`.
    periode: Option<String>,
    /// First local day (AAAA-MM-JJ), custom period.
    du: Option<String>,
    /// Last local day, included (AAAA-MM-JJ), custom period.
    au: Option<String>,
    /// `heure`, `jour`, `semaine`, `mois`; by default the one that fits the period.
    granularite: Option<String>,
    /// API only: one table (`series`, `queues`, `agents`, `tickets`).
    table: Option<String>,
    /// API only: `json` (default), `csv` or `xlsx` (the latter two need `table`).
    format: Option<String>,
}

/// A resolved period: local days `[first, last]`, the series step, and what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Period {
    /// The preset's value, or `personnalisee`.
    pub key: String,
    /// French description (`7 derniers jours (du 18/11/2026 au 24/11/2026)`).
    pub label: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub granularity: Granularity,
}

impl Period {
    /// The query string that selects this period again (for links and exports).
    fn query(&self) -> String {
        format!(
            "periode={}&du={}&au={}&granularite={}",
            self.key,
            self.first,
            self.last,
            granularity_slug(self.granularity)
        )
    }
}

fn granularity_slug(g: Granularity) -> &'static str {
    match g {
        Granularity::Hour => "heure",
        Granularity::Day => "jour",
        Granularity::Week => "semaine",
        Granularity::Month => "mois",
    }
}

fn granularity_noun(g: Granularity) -> &'static str {
    match g {
        Granularity::Hour => "heure",
        Granularity::Day => "jour",
        Granularity::Week => "semaine",
        Granularity::Month => "mois",
    }
}

/// The step that fits a span of `days` local days.
fn fitting_granularity(days: i64) -> Granularity {
    match days {
        ..=2 => Granularity::Hour,
        3..=31 => Granularity::Day,
        32..=120 => Granularity::Week,
        _ => Granularity::Month,
    }
}

fn parse_day(name: &str, value: Option<&str>) -> Result<NaiveDate, String> {
    let v = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("date « {name} » manquante pour une période personnalisée"))?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| format!("« {name} » doit être une date AAAA-MM-JJ"))
}

/// Resolves the query against today's local date. The error is French.
pub(crate) fn resolve(q: &DashboardQuery, today: NaiveDate) -> Result<Period, String> {
    let key = q.periode.as_deref().unwrap_or("aujourdhui");
    let (first, last, name) = match key {
        "aujourdhui" => (today, today, "Aujourd'hui"),
        "hier" => {
            let d = today - Days::new(1);
            (d, d, "Hier")
        }
        "7j" => (today - Days::new(6), today, "7 derniers jours"),
        "4s" => (today - Days::new(27), today, "4 dernières semaines"),
        "12m" => {
            let first_of_month = today.with_day(1).unwrap_or(today);
            (first_of_month - Months::new(11), today, "12 derniers mois")
        }
        "personnalisee" => {
            let first = parse_day("du", q.du.as_deref())?;
            let last = parse_day("au", q.au.as_deref())?;
            if last < first {
                return Err("la date de fin précède la date de début".to_owned());
            }
            (first, last, "Période personnalisée")
        }
        other => return Err(format!("période inconnue « {other} »")),
    };
    let days = (last - first).num_days() + 1;
    if days > MAX_DAYS {
        return Err("période trop longue (3 ans au plus)".to_owned());
    }
    let granularity = match q.granularite.as_deref().unwrap_or("") {
        "" | "auto" => fitting_granularity(days),
        "heure" if days <= 7 => Granularity::Hour,
        "heure" => return Err("le pas horaire est limité à 7 jours".to_owned()),
        "jour" if days <= 366 => Granularity::Day,
        "jour" => return Err("le pas journalier est limité à 366 jours".to_owned()),
        "semaine" => Granularity::Week,
        "mois" => Granularity::Month,
        other => return Err(format!("pas inconnu « {other} »")),
    };
    let dates = if first == last {
        format!("le {}", first.format("%d/%m/%Y"))
    } else {
        format!(
            "du {} au {}",
            first.format("%d/%m/%Y"),
            last.format("%d/%m/%Y")
        )
    };
    Ok(Period {
        key: key.to_owned(),
        label: format!("{name} ({dates}), par {}", granularity_noun(granularity)),
        first,
        last,
        granularity,
    })
}

fn local_midnight(zone: Tz, day: NaiveDate) -> Option<chrono::DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|n| zone.from_local_datetime(&n).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// Today's date in the reports' zone, the period of the query, and its dashboard.
async fn load(state: &AppState, q: &DashboardQuery) -> Result<(Period, Dashboard), Response> {
    let settings = state.backend.settings();
    let today = state
        .backend
        .now()
        .with_timezone(&settings.zone)
        .date_naive();
    let period = resolve(q, today).map_err(|e| api_error(StatusCode::BAD_REQUEST, e))?;
    let (Some(from), Some(to)) = (
        local_midnight(settings.zone, period.first),
        local_midnight(settings.zone, period.last + Days::new(1)),
    ) else {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "dates hors du fuseau horaire",
        ));
    };
    let dashboard = state
        .backend
        .store()
        .dashboard(from, to, period.granularity, settings.zone, &settings.stats)
        .await
        .map_err(|e| crate::api::store_error(&e))?;
    Ok((period, dashboard))
}

fn cell_json(c: &Cell) -> Value {
    match c {
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Number(Some(n)) => json!(n),
        Cell::Number(None) => Value::Null,
    }
}

fn table_json(t: &Table) -> Value {
    json!({
        "columns": t.header,
        "rows": t.rows.iter().map(|r| r.iter().map(cell_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
    })
}

fn sheet_name(t: DashboardTable) -> &'static str {
    match t {
        DashboardTable::Series => "Appels par période",
        DashboardTable::Queues => "Appels par file",
        DashboardTable::Agents => "Appels par agent",
        DashboardTable::Tickets => "Tickets",
    }
}

fn file_slug(t: DashboardTable) -> &'static str {
    match t {
        DashboardTable::Series => "appels-par-periode",
        DashboardTable::Queues => "appels-par-file",
        DashboardTable::Agents => "appels-par-agent",
        DashboardTable::Tickets => "tickets",
    }
}

/// `GET /api/v1/dashboards`: every table as JSON, or one table (`table=`) as JSON, CSV or
/// XLSX. Supervisors, admins and API tokens (statistics or supervisor).
pub(crate) async fn dashboard_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DashboardQuery>,
) -> Response {
    if let Err(r) = authorize_statistics(&state, &headers).await {
        return r;
    }
    let table = match q.table.as_deref() {
        None => None,
        Some(t) => match t.parse::<DashboardTable>() {
            Ok(t) => Some(t),
            Err(()) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    format!("« table » inconnue « {t} » : series, queues, agents ou tickets"),
                );
            }
        },
    };
    let format = q.format.clone().unwrap_or_else(|| "json".to_owned());
    if !matches!(format.as_str(), "json" | "csv" | "xlsx") {
        return api_error(
            StatusCode::BAD_REQUEST,
            format!("« format » inconnu « {format} » : json, csv ou xlsx"),
        );
    }
    let (period, dashboard) = match load(&state, &q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(which) = table else {
        if format != "json" {
            return api_error(
                StatusCode::BAD_REQUEST,
                "« table » est obligatoire pour un export CSV ou XLSX",
            );
        }
        let mut tables = serde_json::Map::new();
        for t in DashboardTable::ALL {
            tables.insert(t.as_str().to_owned(), table_json(&dashboard.table(*t)));
        }
        return axum::Json(json!({
            "period": period.key,
            "label": period.label,
            "from": period.first,
            "to": period.last,
            "granularity": period.granularity.as_str(),
            "tables": tables,
        }))
        .into_response();
    };
    let t = dashboard.table(which);
    let file = format!("{}-{}-{}", file_slug(which), period.first, period.last);
    match format.as_str() {
        "csv" => {
            let mut out = Vec::new();
            if let Err(e) = guichet_tickets::dashboard::write_table_csv(&t, &mut out) {
                return crate::api::store_error(&e);
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.csv\""),
                    ),
                ],
                out,
            )
                .into_response()
        }
        "xlsx" => match guichet_tickets::dashboard::write_table_xlsx(&t, sheet_name(which)) {
            Ok(bytes) => (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.xlsx\""),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => crate::api::store_error(&e),
        },
        _ => axum::Json(json!({
            "period": period.key,
            "label": period.label,
            "from": period.first,
            "to": period.last,
            "granularity": period.granularity.as_str(),
            "table": which.as_str(),
            "columns": t.header,
            "rows": table_json(&t)["rows"],
        }))
        .into_response(),
    }
}

fn cell_html(c: &Cell, unit: &str) -> String {
    match c {
        Cell::Text(s) => escape(s),
        Cell::Number(Some(v)) => format!("{}{unit}", french_number(*v)),
        Cell::Number(None) => "—".to_owned(),
    }
}

/// A table as HTML, with a caption and the export links of the same period.
fn table_html(
    id: &str,
    caption: &str,
    t: &Table,
    which: DashboardTable,
    period: &Period,
) -> String {
    let mut out = format!(
        "<table id=\"{id}\"><caption>{}</caption><thead><tr>",
        escape(caption)
    );
    for h in &t.header {
        out.push_str(&format!("<th scope=\"col\">{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("<th scope=\"row\">{}</th>", cell_html(c, "")));
            } else {
                let unit = t
                    .header
                    .get(i)
                    .map_or("", |h| if h.ends_with("(%)") { "\u{a0}%" } else { "" });
                out.push_str(&format!("<td>{}</td>", cell_html(c, unit)));
            }
        }
        out.push_str("</tr>");
    }
    if t.rows.is_empty() {
        out.push_str(&format!(
            "<tr><td colspan=\"{}\">Aucune donnée sur la période.</td></tr>",
            t.header.len()
        ));
    }
    let export = |format: &str| {
        format!(
            "/api/v1/dashboards?{}&amp;table={}&amp;format={format}",
            escape(&period.query()),
            which.as_str()
        )
    };
    out.push_str(&format!(
        "</tbody></table><p class=\"exports\">Exporter ce tableau : \
         <a class=\"export-csv\" href=\"{}\" download>CSV</a> · \
         <a class=\"export-xlsx\" href=\"{}\" download>XLSX</a></p>",
        export("csv"),
        export("xlsx")
    ));
    out
}

fn number(c: &Cell) -> Option<f64> {
    match c {
        Cell::Number(n) => *n,
        Cell::Text(_) => None,
    }
}

fn label(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Number(n) => n.map(french_number).unwrap_or_default(),
    }
}

/// A chart of some columns of a call table (rows without the total).
fn call_chart(
    id: &str,
    title: &str,
    unit: &str,
    rows: &[Vec<Cell>],
    t: &Table,
    columns: &[usize],
    line: bool,
) -> String {
    let labels: Vec<String> = rows.iter().map(|r| label(&r[0])).collect();
    let series: Vec<Series> = columns
        .iter()
        .map(|c| {
            let name = t
                .header
                .get(*c)
                .map(|h| {
                    h.trim_end_matches(" (%)")
                        .trim_end_matches(" (s)")
                        .to_owned()
                })
                .unwrap_or_default();
            Series::new(
                &name,
                rows.iter().map(|r| r.get(*c).and_then(number)).collect(),
            )
        })
        .collect();
    let chart = Chart {
        id,
        title,
        unit,
        labels: &labels,
        series: &series,
    };
    let svg = if line {
        line_chart(&chart)
    } else {
        bar_chart(&chart)
    };
    format!("<figure>{svg}</figure>")
}

/// The summary of the period: the total row's figures.
fn summary(d: &Dashboard) -> String {
    let t = &d.totals;
    let pct = |r: guichet_acd::stats::Ratio| {
        r.percent().map_or_else(
            || "—".to_owned(),
            |v| format!("{}\u{a0}%", french_number(v)),
        )
    };
    let secs = |m: guichet_acd::stats::MeanDuration| {
        m.mean().map_or_else(
            || "—".to_owned(),
            |d| {
                format!(
                    "{}\u{a0}s",
                    french_number(d.num_milliseconds() as f64 / 1000.0)
                )
            },
        )
    };
    let items = [
        (
            "total-presentes",
            "Présentés",
            french_number(t.presented as f64),
        ),
        (
            "total-repondus",
            "Répondus",
            french_number(t.answered as f64),
        ),
        (
            "total-abandonnes",
            "Abandonnés",
            french_number(t.abandoned as f64),
        ),
        (
            "total-refuses",
            "Refusés (saturation)",
            french_number(t.refused as f64),
        ),
        ("total-decroche", "Taux de décroché", pct(t.answer_rate)),
        ("total-abandon", "Taux d'abandon", pct(t.abandon_rate)),
        ("total-ns", "Niveau de service", pct(t.service_level)),
        ("total-asa", "ASA", secs(t.asa)),
        ("total-dmt", "DMT", secs(t.aht)),
        (
            "total-sla-respectes",
            "SLA respectés",
            french_number(d.tickets.sla_met as f64),
        ),
        (
            "total-sla-depasses",
            "SLA dépassés",
            french_number(d.tickets.sla_breached as f64),
        ),
    ];
    let mut out = String::from("<dl class=\"synthese\">");
    for (id, name, value) in items {
        out.push_str(&format!(
            "<div><dt>{name}</dt><dd id=\"{id}\">{}</dd></div>",
            escape(&value)
        ));
    }
    out.push_str("</dl>");
    out
}

fn picker(period: &Period, asked_step: &str) -> String {
    let mut links = String::from("<nav class=\"periodes\" aria-label=\"Période\">");
    for (key, name) in PRESETS {
        let current = if period.key == *key {
            " aria-current=\"page\""
        } else {
            ""
        };
        links.push_str(&format!(
            "<a id=\"periode-{key}\" href=\"/superviseur/tableaux?periode={key}\"{current}>{name}</a>"
        ));
    }
    links.push_str("</nav>");
    let options: String = [
        ("auto", "adapté à la période"),
        ("heure", "par heure"),
        ("jour", "par jour"),
        ("semaine", "par semaine"),
        ("mois", "par mois"),
    ]
    .iter()
    .map(|(v, n)| {
        // The step the supervisor asked for stays selected; otherwise « adapté à la
        // période », so choosing other dates does not keep a step that no longer fits.
        let asked = if asked_step.is_empty() {
            "auto"
        } else {
            asked_step
        };
        let selected = if *v == asked { " selected" } else { "" };
        format!("<option value=\"{v}\"{selected}>{n}</option>")
    })
    .collect();
    format!(
        "{links}<form method=\"get\" action=\"/superviseur/tableaux\" class=\"personnalisee\">\
         <input type=\"hidden\" name=\"periode\" value=\"personnalisee\">\
         <label for=\"du\">Du</label> <input id=\"du\" name=\"du\" type=\"date\" value=\"{first}\" required> \
         <label for=\"au\">au</label> <input id=\"au\" name=\"au\" type=\"date\" value=\"{last}\" required> \
         <label for=\"granularite\">Pas</label> <select id=\"granularite\" name=\"granularite\">{options}</select> \
         <button type=\"submit\" id=\"afficher\">Afficher</button></form>",
        first = period.first,
        last = period.last,
    )
}

/// The definitions, in French, one click away from every figure (`docs/statistics.md`).
const DEFINITIONS: &str = "<section id=\"definitions\"><h2>Définitions</h2><dl>\
    <dt>Présentés</dt><dd>Appels arrivés dans une file (répondus + abandonnés + débordés), plus les \
    appels refusés par saturation ou arrêt du serveur. Les appels refusés à l'entrée d'une file \
    pleine, reçus hors des horaires d'ouverture ou abandonnés dans le serveur vocal ne sont pas \
    présentés.</dd>\
    <dt>Refusés (saturation)</dt><dd>Appels refusés dès leur arrivée (réponse SIP 503) parce que le \
    serveur avait atteint sa limite d'appels simultanés ou d'appels par seconde, ou s'arrêtait. Ils \
    comptent parmi les présentés et non parmi les répondus : ils font baisser le taux de \
    décroché.</dd>\
    <dt>Répondus</dt><dd>Appels décrochés par un agent.</dd>\
    <dt>Abandonnés</dt><dd>Appelants qui ont raccroché en file ou pendant la sonnerie du poste, \
    abandons courts compris.</dd>\
    <dt>Taux de décroché</dt><dd>Répondus ÷ présentés.</dd>\
    <dt>Taux d'abandon</dt><dd>Abandonnés ÷ présentés.</dd>\
    <dt>Niveau de service</dt><dd>Appels répondus en 20 secondes au plus ÷ (présentés − abandons \
    courts, c'est-à-dire en moins de 5 secondes). Les seuils sont ceux de la configuration \
    (<code>[stats]</code>).</dd>\
    <dt>ASA</dt><dd>Délai moyen de réponse : attente moyenne des appels répondus, en secondes.</dd>\
    <dt>DMT</dt><dd>Durée moyenne de traitement (AHT) : conversation + post-appel, en moyenne sur les \
    appels répondus, en secondes.</dd>\
    <dt>Par file, par agent</dt><dd>Un appel compte dans la dernière file où il est arrivé ; par \
    agent, les appels que l'agent a décrochés ou qui sonnaient en dernier à son poste. Le total \
    compte chaque appel une fois.</dd>\
    <dt>Tickets</dt><dd>Tickets ouverts sur la période par nature (l'assistance compte comme \
    incident), priorité et catégorie ; SLA respectés, dépassés ou exclus parmi les tickets résolus \
    sur la période. Les tickets enfants d'un incident de masse ne comptent pas.</dd>\
    </dl><p>Formules complètes et exemple calculé à la main : <code>docs/statistics.md</code> et \
    <code>docs/reports.md</code> de la documentation de Guichet.</p></section>";

/// `GET /superviseur/tableaux`: the dashboards of the chosen period.
pub(crate) async fn dashboard_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let server = &state.backend.settings().server_name;
    let (period, d) = match load(&state, &q).await {
        Ok(v) => v,
        Err(_) => {
            // Show the picker again with the reason, on today's figures.
            let today = state
                .backend
                .now()
                .with_timezone(&state.backend.settings().zone)
                .date_naive();
            let reason = resolve(&q, today)
                .err()
                .unwrap_or_else(|| "les indicateurs n'ont pas pu être calculés".to_owned());
            let fallback = resolve(&DashboardQuery::default(), today);
            let picker_html = fallback.as_ref().map(|p| picker(p, "")).unwrap_or_default();
            return (
                StatusCode::BAD_REQUEST,
                page(
                    server,
                    "Tableaux de bord",
                    Some(&session),
                    &format!(
                        "{picker_html}<p role=\"alert\" class=\"erreur\">Période refusée : {}.</p>",
                        escape(&reason)
                    ),
                ),
            )
                .into_response();
        }
    };
    let series = d.table(DashboardTable::Series);
    let bucket_rows = &series.rows[..series.rows.len().saturating_sub(1)];
    let queues = d.table(DashboardTable::Queues);
    let agents = d.table(DashboardTable::Agents);
    let tickets = d.table(DashboardTable::Tickets);
    let per = granularity_noun(period.granularity);

    let mut body = format!(
        "<style>{STYLE}</style>{}<p id=\"periode-choisie\" role=\"status\">{}</p>\
         <p><a href=\"#definitions\">Définitions des indicateurs</a></p>{}",
        picker(&period, q.granularite.as_deref().unwrap_or("")),
        escape(&period.label),
        summary(&d)
    );
    body.push_str(&crate::incidents::period_line(&state, period.first, period.last).await);
    body.push_str(&crate::call_log::period_line(&state, period.first, period.last).await);
    body.push_str(&format!(
        "<section id=\"section-periodes\"><h2>Appels par {per}</h2>{}{}{}</section>",
        call_chart(
            "graphique-appels",
            &format!("Appels présentés, répondus et abandonnés par {per}"),
            "appels",
            bucket_rows,
            &series,
            &[1, 2, 3],
            false
        ),
        call_chart(
            "graphique-taux",
            &format!("Taux de décroché, taux d'abandon et niveau de service par {per}"),
            "%",
            bucket_rows,
            &series,
            &[4, 5, 6],
            true
        ),
        table_html(
            "tableau-periodes",
            &format!("Appels par {per} (dernière ligne : total de la période)"),
            &series,
            DashboardTable::Series,
            &period
        )
    ));
    body.push_str(&format!(
        "<section id=\"section-files\"><h2>Par file</h2>{}{}</section>",
        call_chart(
            "graphique-files",
            "Appels présentés, répondus et abandonnés par file",
            "appels",
            &queues.rows,
            &queues,
            &[1, 2, 3],
            false
        ),
        table_html(
            "tableau-files",
            "Appels par file",
            &queues,
            DashboardTable::Queues,
            &period
        )
    ));
    body.push_str(&format!(
        "<section id=\"section-agents\"><h2>Par agent</h2>{}{}{}</section>",
        call_chart(
            "graphique-agents",
            "Appels présentés et répondus par agent",
            "appels",
            &agents.rows,
            &agents,
            &[1, 2],
            false
        ),
        call_chart(
            "graphique-agents-durees",
            "ASA et DMT par agent",
            "s",
            &agents.rows,
            &agents,
            &[7, 8],
            false
        ),
        table_html(
            "tableau-agents",
            "Appels par agent",
            &agents,
            DashboardTable::Agents,
            &period
        )
    ));
    body.push_str(&format!(
        "<section id=\"section-tickets\"><h2>Tickets</h2><div class=\"graphiques\">{}</div>{}</section>",
        ["Nature", "Priorité", "Catégorie", "SLA"]
            .iter()
            .enumerate()
            .map(|(i, group)| {
                let rows: Vec<&Vec<Cell>> = tickets
                    .rows
                    .iter()
                    .filter(|r| r[0] == Cell::Text((*group).to_owned()))
                    .collect();
                let labels: Vec<String> = rows.iter().map(|r| label(&r[1])).collect();
                let series = [Series::new(
                    "Tickets",
                    rows.iter().map(|r| number(&r[2])).collect(),
                )];
                let title = match *group {
                    "SLA" => "Tickets résolus : SLA respectés, dépassés, exclus".to_owned(),
                    g => format!("Tickets ouverts par {}", g.to_lowercase()),
                };
                format!(
                    "<figure>{}</figure>",
                    bar_chart(&Chart {
                        id: &format!("graphique-tickets-{i}"),
                        title: &title,
                        unit: "tickets",
                        labels: &labels,
                        series: &series,
                    })
                )
            })
            .collect::<String>(),
        table_html(
            "tableau-tickets",
            "Tickets par nature, priorité, catégorie (ouverts) et SLA (résolus)",
            &tickets,
            DashboardTable::Tickets,
            &period
        )
    ));
    body.push_str(DEFINITIONS);
    page(server, "Tableaux de bord", Some(&session), &body).into_response()
}

/// Styles of the dashboards (the page layout's style sheet is shared; these only add).
const STYLE: &str = ".periodes a{display:inline-block;margin:0 .8rem .5rem 0;padding:.2rem .5rem;border:1px solid #1f4e9c;border-radius:3px;color:#1f4e9c;text-decoration:none}\
.periodes a[aria-current]{background:#1f4e9c;color:#fff}\
.synthese{display:flex;flex-wrap:wrap;gap:.6rem}.synthese div{background:#fff;border:1px solid #bbb;padding:.4rem .8rem;min-width:8rem}\
.synthese dt{font-size:.85rem;color:#333}.synthese dd{margin:0;font-size:1.4rem;font-weight:bold}\
figure{margin:1rem 0 .5rem}svg.graphique{max-width:100%;height:auto;border:1px solid #ddd}\
.graphiques{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:.5rem}\
caption{text-align:left;font-weight:bold;padding:.3rem 0}td{text-align:right}.exports{margin-top:-.5rem}\
#definitions dt{font-weight:bold;margin-top:.5rem}";

#[cfg(test)]
mod tests {
    use super::*;

    fn q(periode: &str, du: &str, au: &str, granularite: &str) -> DashboardQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        DashboardQuery {
            periode: some(periode),
            du: some(du),
            au: some(au),
            granularite: some(granularite),
            table: None,
            format: None,
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_resolve_against_today_with_a_fitting_step() {
        let today = day("2026-11-24");
        let p = resolve(&q("", "", "", ""), today).unwrap();
        assert_eq!(
            (p.first, p.last, p.granularity),
            (today, today, Granularity::Hour)
        );
        assert_eq!(p.label, "Aujourd'hui (le 24/11/2026), par heure");
        let p = resolve(&q("hier", "", "", ""), today).unwrap();
        assert_eq!(p.first, day("2026-11-23"));
        let p = resolve(&q("7j", "", "", ""), today).unwrap();
        assert_eq!(
            (p.first, p.granularity),
            (day("2026-11-18"), Granularity::Day)
        );
        let p = resolve(&q("4s", "", "", ""), today).unwrap();
        assert_eq!(
            (p.first, p.granularity),
            (day("2026-10-28"), Granularity::Day)
        );
        let p = resolve(&q("12m", "", "", ""), today).unwrap();
        assert_eq!(
            (p.first, p.granularity),
            (day("2025-12-01"), Granularity::Month)
        );
        let p = resolve(&q("personnalisee", "2026-01-01", "2026-03-31", ""), today).unwrap();
        assert_eq!(p.granularity, Granularity::Week);
        assert_eq!(
            p.query(),
            "periode=personnalisee&du=2026-01-01&au=2026-03-31&granularite=semaine"
        );
        let p = resolve(
            &q("personnalisee", "2026-01-01", "2026-01-02", "mois"),
            today,
        )
        .unwrap();
        assert_eq!(p.granularity, Granularity::Month);
    }

    #[test]
    fn bad_periods_are_refused_in_french() {
        let today = day("2026-11-24");
        for (query, error) in [
            (q("demain", "", "", ""), "période inconnue « demain »"),
            (
                q("personnalisee", "", "2026-01-01", ""),
                "date « du » manquante pour une période personnalisée",
            ),
            (
                q("personnalisee", "2026-02-01", "2026-01-01", ""),
                "la date de fin précède la date de début",
            ),
            (
                q("personnalisee", "2020-01-01", "2026-01-01", ""),
                "période trop longue (3 ans au plus)",
            ),
            (
                q("4s", "", "", "heure"),
                "le pas horaire est limité à 7 jours",
            ),
            (q("7j", "", "", "minute"), "pas inconnu « minute »"),
            (
                q("personnalisee", "2024-01-01", "2026-01-01", "jour"),
                "le pas journalier est limité à 366 jours",
            ),
        ] {
            assert_eq!(resolve(&query, today).unwrap_err(), error);
        }
    }
}
